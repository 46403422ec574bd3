//! Single flight: callers that ask for the same work while it runs share one run, and each
//! waits only until its own deadline. The collector's rounds and `/probe`'s runs both use it.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;

use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};

/// What a run has published so far, and whether it is over.
#[derive(Clone, Default)]
struct State<V> {
    value: V,
    done: bool,
}

/// A run in flight: what it published so far, and the deadline it runs under.
type Running<V> = (watch::Receiver<State<V>>, Instant);

/// Runs in flight, by key.
pub struct SingleFlight<K, V> {
    running: Mutex<HashMap<K, Running<V>>>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight {
            running: Mutex::new(HashMap::new()),
        }
    }
}

/// The publishing end a run gets: it updates what it found so far, then says it is done.
pub struct Flight<V> {
    tx: watch::Sender<State<V>>,
}

impl<V> Flight<V> {
    /// Change the published value (every waiter sees it).
    pub fn update(&self, change: impl FnOnce(&mut V)) {
        self.tx.send_modify(|state| change(&mut state.value));
    }

    /// The run is over: waiters stop waiting.
    pub fn done(&self) {
        self.tx.send_modify(|state| state.done = true);
    }
}

/// A waiter's view of a run it started or joined.
pub struct Joined<V> {
    rx: watch::Receiver<State<V>>,
    deadline: Instant,
}

impl<V: Clone> Joined<V> {
    /// Wait until the run is done or `deadline` passes; true when it finished.
    pub async fn wait(&mut self, deadline: Instant) -> bool {
        loop {
            if self.rx.borrow_and_update().done {
                return true;
            }
            match timeout_at(deadline, self.rx.changed()).await {
                Ok(Ok(())) => continue,
                // The deadline passed, or the run ended without saying done (a panic): a
                // waiter must never hang on it.
                _ => return self.rx.borrow().done,
            }
        }
    }

    /// What the run has published so far.
    pub fn current(&self) -> V {
        self.rx.borrow().value.clone()
    }

    /// The deadline the run runs under (the starter's).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl<K: Eq + Hash + Clone, V: Clone + Default + Send + Sync + 'static> SingleFlight<K, V> {
    /// Join the run of `key` in flight, or start one by `deadline` with `start` (spawned on the
    /// runtime; it must call [`Flight::done`] when over). Finished runs are forgotten here.
    pub fn join_or_start<F, Fut>(&self, key: K, deadline: Instant, start: F) -> Joined<V>
    where
        F: FnOnce(Flight<V>, Instant) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut running = crate::host::lock(&self.running);
        running.retain(|_, (rx, _)| !rx.borrow().done);
        if let Some((rx, round_deadline)) = running.get(&key) {
            return Joined {
                rx: rx.clone(),
                deadline: *round_deadline,
            };
        }
        let (tx, rx) = watch::channel(State::default());
        running.insert(key, (rx.clone(), deadline));
        tokio::spawn(start(Flight { tx }, deadline));
        Joined { rx, deadline }
    }

    /// How many runs are in flight (for tests and limits).
    pub fn in_flight(&self) -> usize {
        crate::host::lock(&self.running)
            .values()
            .filter(|(rx, _)| !rx.borrow().done)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn callers_of_one_key_share_one_run_and_a_finished_run_is_not_joined() {
        let flights: SingleFlight<&str, u32> = SingleFlight::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (go, gate) = tokio::sync::oneshot::channel::<()>();
        let deadline = Instant::now() + Duration::from_secs(30);
        let counted = runs.clone();
        let mut first = flights.join_or_start("a", deadline, move |flight, _| async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = gate.await;
            flight.update(|v| *v = 7);
            flight.done();
        });
        let mut second = flights.join_or_start("a", deadline, |_, _| async {});
        assert_eq!(flights.in_flight(), 1);
        let _ = go.send(());
        assert!(first.wait(deadline).await && second.wait(deadline).await);
        assert_eq!((first.current(), second.current()), (7, 7));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let counted = runs.clone();
        let mut third = flights.join_or_start("a", deadline, move |flight, _| async move {
            counted.fetch_add(1, Ordering::SeqCst);
            flight.done();
        });
        assert!(third.wait(deadline).await);
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "a finished run is not joined"
        );
    }

    #[tokio::test]
    async fn a_waiter_leaves_at_its_own_deadline() {
        let flights: SingleFlight<(), u32> = SingleFlight::default();
        let later = Instant::now() + Duration::from_secs(30);
        let mut joined = flights.join_or_start((), later, |flight, _| async move {
            std::future::pending::<()>().await;
            flight.done();
        });
        assert!(!joined.wait(Instant::now()).await);
        assert_eq!(joined.deadline(), later);
    }
}
