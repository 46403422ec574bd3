//! Connection slots for `--web.max-connections`: when every slot is taken, the connection that
//! has waited longest for its client (idle keep-alive, or a request head not yet sent) is closed
//! to admit the new one, so a client holding idle connections cannot lock scrapes out.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{timeout_at, Instant};

use crate::counters::{CONNECTIONS_EVICTED as EVICTED, CONNECTIONS_REFUSED as REFUSED};

/// A saturation episode ends when no connection was evicted or refused for this long.
const EPISODE_GAP: Duration = Duration::from_secs(10);

/// The open connections and what each is doing.
pub struct Slots {
    max: usize,
    state: Mutex<State>,
    /// Signalled whenever a slot is released.
    freed: Notify,
}

#[derive(Default)]
struct State {
    next_id: u64,
    open: HashMap<u64, Entry>,
    episode: Option<Episode>,
}

struct Entry {
    /// Requests being handled on it; 0 means it waits for its client.
    busy: usize,
    /// Since when it waits for its client.
    idle_since: Instant,
    /// Asks the connection to close; set once.
    close: Arc<Notify>,
    closing: bool,
}

/// One stretch of time during which every slot was taken.
struct Episode {
    started: Instant,
    last_event: Instant,
    evicted: u64,
    refused: u64,
}

/// One admitted connection's slot; dropping it frees the slot.
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    /// Notified when the connection should close to make room.
    pub close: Arc<Notify>,
}

/// Marks a connection busy with a request while alive.
pub struct Busy {
    slots: Arc<Slots>,
    id: u64,
}

impl Slots {
    /// Slots for at most `max` connections (at least 1).
    pub fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max: max.max(1),
            state: Mutex::new(State::default()),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::host::lock(&self.state)
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().open.len()
    }

    /// Admit a connection: a free slot, else close the longest-idle connection and take its
    /// slot, waiting for it (or any slot) until `wait` has passed; `None` is a refusal.
    pub async fn admit(self: &Arc<Self>, wait: Duration) -> Option<Slot> {
        let deadline = Instant::now() + wait;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut state = self.lock();
                if state.open.len() < self.max {
                    return Some(self.insert(&mut state));
                }
                let now = Instant::now();
                let idle = state
                    .open
                    .values_mut()
                    .filter(|e| e.busy == 0 && !e.closing)
                    .min_by_key(|e| e.idle_since);
                let evicted = match idle {
                    Some(entry) => {
                        entry.closing = true;
                        entry.close.notify_one();
                        EVICTED.fetch_add(1, Ordering::Relaxed);
                        true
                    }
                    None => false,
                };
                self.saturation_event(&mut state, now, evicted, false);
            }
            if timeout_at(deadline, freed).await.is_err() {
                let mut state = self.lock();
                REFUSED.fetch_add(1, Ordering::Relaxed);
                self.saturation_event(&mut state, Instant::now(), false, true);
                return None;
            }
        }
    }

    fn insert(self: &Arc<Self>, state: &mut State) -> Slot {
        let now = Instant::now();
        end_quiet_episode(state, now);
        let id = state.next_id;
        state.next_id += 1;
        let close = Arc::new(Notify::new());
        state.open.insert(
            id,
            Entry {
                busy: 0,
                idle_since: now,
                close: close.clone(),
                closing: false,
            },
        );
        Slot {
            slots: self.clone(),
            id,
            close,
        }
    }

    /// Count an eviction or refusal in the current episode, logging when an episode begins.
    fn saturation_event(&self, state: &mut State, now: Instant, evicted: bool, refused: bool) {
        end_quiet_episode(state, now);
        let episode = state.episode.get_or_insert_with(|| {
            log::warn!(
                "all {} connection slots are taken (--web.max-connections): closing the longest-idle \
                 connection for each new one, refusing new ones when none is idle",
                self.max
            );
            Episode {
                started: now,
                last_event: now,
                evicted: 0,
                refused: 0,
            }
        });
        episode.last_event = now;
        episode.evicted += u64::from(evicted);
        episode.refused += u64::from(refused);
    }

    /// Wait until every connection has closed, or `deadline`; true when all closed.
    pub async fn wait_empty(&self, deadline: Instant) -> bool {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.open() == 0 {
                return true;
            }
            if timeout_at(deadline, freed).await.is_err() {
                return self.open() == 0;
            }
        }
    }
}

/// End (and log) the saturation episode when nothing was evicted or refused for [`EPISODE_GAP`].
fn end_quiet_episode(state: &mut State, now: Instant) {
    if let Some(episode) = &state.episode {
        if now.duration_since(episode.last_event) >= EPISODE_GAP {
            log_episode_end(episode, now);
            state.episode = None;
        }
    }
}

fn log_episode_end(episode: &Episode, now: Instant) {
    log::info!(
        "connection slots free again after {:.0?}: {} idle connections closed, {} refused",
        now.duration_since(episode.started),
        episode.evicted,
        episode.refused
    );
}

impl Slot {
    /// Mark the connection busy with a request until the guard is dropped.
    pub fn busy(&self) -> Busy {
        if let Some(entry) = self.slots.lock().open.get_mut(&self.id) {
            entry.busy += 1;
        }
        Busy {
            slots: self.slots.clone(),
            id: self.id,
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(entry) = self.slots.lock().open.get_mut(&self.id) {
            entry.busy = entry.busy.saturating_sub(1);
            entry.idle_since = Instant::now();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().open.remove(&self.id);
        self.slots.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closes_the_longest_idle_connection_to_admit_a_new_one() {
        let slots = Slots::new(2);
        let first = slots.admit(Duration::from_secs(1)).await.unwrap();
        let second = slots.admit(Duration::from_secs(1)).await.unwrap();
        let _busy = second.busy();
        let evicted_before = EVICTED.load(Ordering::Relaxed);
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.admit(Duration::from_secs(30)).await.is_some() }
        });
        // The idle one is asked to close; it closes by dropping its slot.
        first.close.notified().await;
        assert!(EVICTED.load(Ordering::Relaxed) > evicted_before);
        drop(first);
        assert!(
            waiting.await.unwrap(),
            "the new connection takes the freed slot"
        );
    }

    #[tokio::test]
    async fn refuses_when_every_connection_is_busy() {
        let slots = Slots::new(1);
        let only = slots.admit(Duration::from_secs(1)).await.unwrap();
        let _busy = only.busy();
        let refused_before = REFUSED.load(Ordering::Relaxed);
        assert!(slots.admit(Duration::from_millis(10)).await.is_none());
        assert!(REFUSED.load(Ordering::Relaxed) > refused_before);
        drop(_busy);
        drop(only);
        assert!(slots.wait_empty(Instant::now()).await);
    }
}
