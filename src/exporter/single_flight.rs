//! Single flight: callers that ask for the same work while it runs share one run, and each
//! waits only until its own deadline. The collector's rounds and `/probe`'s runs both use it.
//!
//! A run is shared only with callers it can serve: one whose deadline is not earlier than
//! theirs by more than their margin (a run that will be cut short before a caller's deadline
//! would make a patient caller report a healthy backend as timed out). Others start a run of
//! their own, up to [`MAX_RUNS_PER_KEY`] per key; beyond that they join the most patient one.
//! A run nobody waits for any more (every caller left: its deadline passed, its client hung up)
//! is cancelled at once, so its connections and memory go with it.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::{timeout_at, Instant};

/// Most runs of one key at once (callers with deadlines far apart each need one).
pub const MAX_RUNS_PER_KEY: usize = 4;

/// What a run has published so far, and whether it is over.
#[derive(Clone, Default)]
struct State<V> {
    value: V,
    done: bool,
}

/// A run in flight: what it published so far, the deadline it runs under, who waits for it.
struct Running<V> {
    id: u64,
    rx: watch::Receiver<State<V>>,
    deadline: Instant,
    waiters: usize,
    abort: AbortHandle,
}

type Table<K, V> = Arc<Mutex<HashMap<K, Vec<Running<V>>>>>;

/// Runs in flight, by key.
pub struct SingleFlight<K, V> {
    running: Table<K, V>,
    next_id: std::sync::atomic::AtomicU64,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight {
            running: Arc::new(Mutex::new(HashMap::new())),
            next_id: std::sync::atomic::AtomicU64::new(0),
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

/// A waiter's view of a run it started or joined; dropping the last one cancels the run if it
/// is not over.
pub struct Joined<K: Eq + Hash, V> {
    rx: watch::Receiver<State<V>>,
    deadline: Instant,
    key: K,
    id: u64,
    table: Table<K, V>,
}

impl<K: Eq + Hash, V: Clone> Joined<K, V> {
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

impl<K: Eq + Hash, V> Drop for Joined<K, V> {
    fn drop(&mut self) {
        let mut table = crate::host::lock(&self.table);
        let Some(runs) = table.get_mut(&self.key) else {
            return;
        };
        if let Some(at) = runs.iter().position(|r| r.id == self.id) {
            let run = &mut runs[at];
            run.waiters = run.waiters.saturating_sub(1);
            if run.waiters == 0 {
                // Nobody waits for what it will find: stop it (a finished run stops anyway).
                run.abort.abort();
                runs.swap_remove(at);
            }
        }
        if runs.is_empty() {
            table.remove(&self.key);
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone + Default + Send + Sync + 'static> SingleFlight<K, V> {
    /// Join a run of `key` that can serve a caller with this `deadline` (one whose own deadline
    /// is at most `margin` earlier), or start one by `deadline` with `start` (spawned on the
    /// runtime; it must call [`Flight::done`] when over). Finished runs are forgotten here.
    pub fn join_or_start<F, Fut>(
        &self,
        key: K,
        deadline: Instant,
        margin: Duration,
        start: F,
    ) -> Joined<K, V>
    where
        F: FnOnce(Flight<V>, Instant) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut table = crate::host::lock(&self.running);
        let runs = table.entry(key.clone()).or_default();
        runs.retain(|r| !r.rx.borrow().done);
        let serving = runs
            .iter()
            .filter(|r| r.deadline + margin >= deadline)
            .min_by_key(|r| r.deadline)
            .map(|r| r.id);
        let join = serving.or_else(|| {
            // Too many runs already: the most patient one serves best.
            (runs.len() >= MAX_RUNS_PER_KEY)
                .then(|| runs.iter().max_by_key(|r| r.deadline).map(|r| r.id))
                .flatten()
        });
        if let Some(run) = join.and_then(|id| runs.iter_mut().find(|r| r.id == id)) {
            run.waiters += 1;
            return Joined {
                rx: run.rx.clone(),
                deadline: run.deadline,
                key,
                id: run.id,
                table: self.running.clone(),
            };
        }
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = watch::channel(State::default());
        let abort = tokio::spawn(start(Flight { tx }, deadline)).abort_handle();
        runs.push(Running {
            id,
            rx: rx.clone(),
            deadline,
            waiters: 1,
            abort,
        });
        Joined {
            rx,
            deadline,
            key,
            id,
            table: self.running.clone(),
        }
    }

    /// How many runs are in flight (for tests and limits).
    pub fn in_flight(&self) -> usize {
        crate::host::lock(&self.running)
            .values()
            .flatten()
            .filter(|r| !r.rx.borrow().done)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn callers_of_one_key_share_one_run_and_a_finished_run_is_not_joined() {
        let flights: SingleFlight<&str, u32> = SingleFlight::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (go, gate) = tokio::sync::oneshot::channel::<()>();
        let deadline = Instant::now() + Duration::from_secs(30);
        let counted = runs.clone();
        let margin = Duration::from_millis(100);
        let mut first = flights.join_or_start("a", deadline, margin, move |flight, _| async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = gate.await;
            flight.update(|v| *v = 7);
            flight.done();
        });
        let mut second = flights.join_or_start("a", deadline, margin, |_, _| async {});
        assert_eq!(flights.in_flight(), 1);
        let _ = go.send(());
        assert!(first.wait(deadline).await && second.wait(deadline).await);
        assert_eq!((first.current(), second.current()), (7, 7));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let counted = runs.clone();
        let mut third = flights.join_or_start("a", deadline, margin, move |flight, _| async move {
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
        let mut joined = flights.join_or_start((), later, Duration::ZERO, |flight, _| async move {
            std::future::pending::<()>().await;
            flight.done();
        });
        assert!(!joined.wait(Instant::now()).await);
        assert_eq!(joined.deadline(), later);
    }

    #[tokio::test]
    async fn a_run_nobody_waits_for_is_cancelled() {
        let flights: SingleFlight<&str, u32> = SingleFlight::default();
        let deadline = Instant::now() + Duration::from_secs(30);
        let (dropped_tx, dropped) = tokio::sync::oneshot::channel::<()>();
        let first =
            flights.join_or_start("a", deadline, Duration::ZERO, move |flight, _| async move {
                let _held = dropped_tx;
                std::future::pending::<()>().await;
                flight.done();
            });
        let second = flights.join_or_start("a", deadline, Duration::ZERO, |_, _| async {});
        drop(first);
        assert_eq!(flights.in_flight(), 1, "one caller still waits");
        drop(second);
        // The sender goes (sent or not) only when the run's future is dropped: cancelled.
        let cancelled = tokio::time::timeout(Duration::from_secs(30), dropped).await;
        assert!(
            cancelled.is_ok(),
            "the run was not cancelled once nobody waited"
        );
        assert_eq!(flights.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_run_is_shared_only_with_callers_whose_deadline_it_serves() {
        let flights: SingleFlight<&str, u32> = SingleFlight::default();
        let now = Instant::now();
        let margin = Duration::from_millis(100);
        let hang = |flight: Flight<u32>, _| async move {
            std::future::pending::<()>().await;
            flight.done();
        };
        let hurried = flights.join_or_start("a", now + Duration::from_millis(250), margin, hang);
        let patient = flights.join_or_start("a", now + Duration::from_secs(9), margin, hang);
        assert_eq!(
            flights.in_flight(),
            2,
            "a hurried run cannot serve a patient caller"
        );
        assert_eq!(patient.deadline(), now + Duration::from_secs(9));
        let later_hurried =
            flights.join_or_start("a", now + Duration::from_millis(300), margin, hang);
        assert_eq!(
            flights.in_flight(),
            2,
            "a hurried caller joins a run that serves it"
        );
        assert_eq!(later_hurried.deadline(), now + Duration::from_millis(250));
        // Beyond the cap, the most patient run is joined.
        let extra: Vec<_> = (1..=MAX_RUNS_PER_KEY as u64)
            .map(|i| flights.join_or_start("a", now + Duration::from_secs(9 + i), margin, hang))
            .collect();
        assert_eq!(flights.in_flight(), MAX_RUNS_PER_KEY);
        assert_eq!(
            extra.last().unwrap().deadline(),
            now + Duration::from_secs(11)
        );
        drop((hurried, patient, later_hurried, extra));
        assert_eq!(flights.in_flight(), 0, "every run nobody waits for is gone");
    }
}
