//! Connection slots for `--web.max-connections`, fair to a scraper that asks one thing at a
//! time: one client holding every slot busy (pipelined requests to a target that never answers,
//! or to `/metrics` while a hung backend makes each collection last its deadline) cannot keep a
//! fresh connection's scrape out.
//!
//! A new connection is admitted at once, or refused at once (never queued behind others). When
//! every slot is taken, one connection beyond its bounds is closed for it, the first found of:
//! 1. an idle one (waiting for its client), the longest idle first: closed gracefully;
//! 2. a busy one with requests queued behind the current one (pipelining), the one busy the
//!    longest first: closed now, its answer abandoned;
//! 3. a busy one busy longer than any request may take (the busy limit): closed now;
//! 4. a busy one that has been busy nearly all its life over several requests (a client that
//!    sends the next request the moment an answer arrives): closed now.
//!
//! A connection that waits for one answer at a time within its deadline (Prometheus's) is none
//! of these; nor is a connection's first request. Per connection, pipelining is bounded too:
//! past [`MAX_PIPELINED`] requests in a row each sent before the previous was answered, or a
//! stretch of such requests longer than the busy limit, the next one is refused at once (503,
//! and the connection is closed). A limit per client address would not do: the scraper and the
//! client holding the slots may share one (127.0.0.1).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{timeout_at, Instant};

use super::traffic::Traffic;
use crate::counters::{CONNECTIONS_EVICTED as EVICTED, CONNECTIONS_REFUSED as REFUSED};

/// A saturation episode ends when no connection was evicted or refused for this long.
const EPISODE_GAP: Duration = Duration::from_secs(10);

/// Most requests in a row on one connection each sent before the previous one was answered.
pub const MAX_PIPELINED: u32 = 8;

/// A connection busy for at least this share of its life, over [`HOG_REQUESTS`] requests or
/// more, is closed for a new one when nothing else can be.
const HOG_SHARE: f64 = 0.9;
const HOG_REQUESTS: u64 = 2;

/// A new connection that has not sent its first request yet is not closed for another one
/// before this (a scraper's connection between accept and its request head).
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// The open connections and what each is doing.
pub struct Slots {
    max: usize,
    /// Longer than any request may take: a connection busy longer is beyond its bounds.
    busy_limit: Duration,
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
    admitted: Instant,
    /// Since when it waits for its client.
    idle_since: Instant,
    /// Since when it has been busy without a pause (pipelined requests run on).
    stretch_since: Instant,
    /// When the request being answered began.
    request_began: Instant,
    /// Requests in a row that each had another queued behind it.
    pipelined: u32,
    /// The last request ended with another queued behind it.
    queued_at_end: bool,
    served: u64,
    /// Time spent busy, requests finished.
    busy_time: Duration,
    traffic: Arc<Traffic>,
    /// Asks the connection to close; set once.
    close: Arc<Notify>,
    /// Close without finishing the answer in progress.
    now: Arc<AtomicBool>,
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
    now: Arc<AtomicBool>,
    /// What its client has sent (the connection's stream counts into it).
    pub traffic: Arc<Traffic>,
}

/// Marks a connection busy with a request while alive.
pub struct Busy {
    slots: Arc<Slots>,
    id: u64,
    began: Instant,
}

/// Why a request is refused at once on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beyond {
    /// More than [`MAX_PIPELINED`] requests in a row sent before their turn.
    Pipelining,
    /// A stretch of back-to-back requests longer than the busy limit.
    BusyTime,
}

impl Slots {
    /// Slots for at most `max` connections (at least 1); no request may take `busy_limit`.
    pub fn new(max: usize, busy_limit: Duration) -> Arc<Slots> {
        Arc::new(Slots {
            max: max.max(1),
            busy_limit,
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

    /// Admit a connection: a free slot, else the slot of a connection beyond its bounds (asked
    /// to close; it goes within moments); `None`, at once, when every connection is within
    /// its bounds (counted as refused).
    pub fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut state = self.lock();
        let now = Instant::now();
        let closing = state.open.values().filter(|e| e.closing).count();
        if state.open.len() - closing < self.max {
            return Some(self.insert(&mut state, now));
        }
        let victim = state
            .open
            .iter()
            .filter(|(_, e)| !e.closing)
            .filter_map(|(id, e)| self.beyond_bounds(e, now).map(|rank| (rank, *id)))
            .min()
            .map(|(_, id)| id);
        let Some(id) = victim else {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            self.saturation_event(&mut state, now, false, true);
            return None;
        };
        if let Some(entry) = state.open.get_mut(&id) {
            entry.closing = true;
            entry.now.store(entry.busy > 0, Ordering::SeqCst);
            entry.close.notify_one();
        }
        EVICTED.fetch_add(1, Ordering::Relaxed);
        self.saturation_event(&mut state, now, true, false);
        Some(self.insert(&mut state, now))
    }

    /// How far beyond its bounds a connection is (lower goes first), `None` when within them.
    fn beyond_bounds(&self, e: &Entry, now: Instant) -> Option<(u8, Instant)> {
        if e.busy == 0 {
            let waited = now.duration_since(e.idle_since);
            return (e.served > 0 || waited >= FIRST_REQUEST_GRACE).then_some((0, e.idle_since));
        }
        if e.traffic.queued() {
            return Some((1, e.stretch_since));
        }
        if now.duration_since(e.stretch_since) >= self.busy_limit {
            return Some((2, e.stretch_since));
        }
        let life = now.duration_since(e.admitted).as_secs_f64();
        let busy = (e.busy_time + now.duration_since(e.request_began)).as_secs_f64();
        if e.served >= HOG_REQUESTS && life > 0.0 && busy / life >= HOG_SHARE {
            return Some((3, e.admitted));
        }
        None
    }

    fn insert(self: &Arc<Self>, state: &mut State, now: Instant) -> Slot {
        end_quiet_episode(state, now);
        let id = state.next_id;
        state.next_id += 1;
        let close = Arc::new(Notify::new());
        let traffic = Arc::new(Traffic::default());
        let hard = Arc::new(AtomicBool::new(false));
        state.open.insert(
            id,
            Entry {
                busy: 0,
                admitted: now,
                idle_since: now,
                stretch_since: now,
                request_began: now,
                pipelined: 0,
                queued_at_end: false,
                served: 0,
                busy_time: Duration::ZERO,
                traffic: traffic.clone(),
                close: close.clone(),
                now: hard.clone(),
                closing: false,
            },
        );
        Slot {
            slots: self.clone(),
            id,
            close,
            now: hard,
            traffic,
        }
    }

    /// Count an eviction or refusal in the current episode, logging when an episode begins.
    fn saturation_event(&self, state: &mut State, now: Instant, evicted: bool, refused: bool) {
        end_quiet_episode(state, now);
        let episode = state.episode.get_or_insert_with(|| {
            log::warn!(
                "all {} connection slots are taken (--web.max-connections): closing a connection \
                 beyond its bounds (idle, pipelining, or busy too long) for each new one, refusing \
                 new ones when none is",
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
        "connection slots free again after {:.0?}: {} connections closed for new ones, {} refused",
        now.duration_since(episode.started),
        episode.evicted,
        episode.refused
    );
}

impl Slot {
    /// A request whose head took `head` bytes begins: mark the connection busy until the guard
    /// is dropped, or say why it is beyond the connection's bounds (then it is not served).
    pub fn begin(&self, head: u64) -> Result<Busy, Beyond> {
        self.traffic.consume(head);
        let now = Instant::now();
        let mut state = self.slots.lock();
        if let Some(entry) = state.open.get_mut(&self.id) {
            if !entry.queued_at_end {
                entry.stretch_since = now;
            }
            entry.pipelined = match entry.traffic.queued() {
                true => entry.pipelined + 1,
                false => 0,
            };
            if entry.pipelined > MAX_PIPELINED {
                return Err(Beyond::Pipelining);
            }
            if now.duration_since(entry.stretch_since) > self.slots.busy_limit {
                return Err(Beyond::BusyTime);
            }
            entry.busy += 1;
            entry.request_began = now;
        }
        Ok(Busy {
            slots: self.slots.clone(),
            id: self.id,
            began: now,
        })
    }

    /// True when the connection must close without finishing its answer.
    pub fn close_now(&self) -> bool {
        self.now.load(Ordering::SeqCst)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(entry) = self.slots.lock().open.get_mut(&self.id) {
            entry.busy = entry.busy.saturating_sub(1);
            entry.served += 1;
            entry.busy_time += self.began.elapsed();
            entry.idle_since = Instant::now();
            entry.queued_at_end = entry.traffic.queued();
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
#[path = "slots_tests.rs"]
mod tests;
