//! Runs every registered check concurrently under one deadline and assembles a [`Snapshot`];
//! scrapes that arrive while a collection runs share it instead of starting another.
//!
//! A collection ("round") is a spawned task that publishes each section as soon as it is ready
//! (see [`SingleFlight`]). Every scrape waits until the round is done or its own deadline
//! passes, whichever is first; sections not finished by then are reported as timed out. So 100
//! simultaneous scrapes cost Lotus one round of calls, and none of them waits longer than its
//! own deadline. The collector never names a check: it loops over the registry's list.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::time::{timeout_at, Instant};

use super::single_flight::{Flight, SingleFlight};
use super::snapshot::Snapshot;
use super::transitions::Transitions;
use crate::contract::{Check, CheckStatus, JoinFn, Registry, Round, Section};
use crate::host::process;

/// Prometheus's scrape timeout is reduced by this much to leave room for the network (as blackbox_exporter does).
pub const SCRAPE_TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// Checks stop this much before the scrape deadline (at most), so their results make it into the answer.
const CHECK_MARGIN: Duration = Duration::from_millis(50);

/// The time a scrape may take: `min(--collector.timeout, X-Prometheus-Scrape-Timeout-Seconds - 0.5s)`.
pub fn scrape_budget(
    collector_timeout: Duration,
    header: Option<&str>,
) -> Result<Duration, String> {
    let Some(header) = header else {
        return Ok(collector_timeout);
    };
    let seconds: f64 = header
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s > 0.0)
        .ok_or_else(|| format!("X-Prometheus-Scrape-Timeout-Seconds {header:?} is not a positive number of seconds"))?;
    let offered = Duration::from_secs_f64(seconds.min(1e6));
    match offered.checked_sub(SCRAPE_TIMEOUT_OFFSET) {
        Some(left) if !left.is_zero() => Ok(left.min(collector_timeout)),
        // A scrape timeout of 0.5s or less: use half of it rather than nothing.
        _ => Ok((offered / 2).min(collector_timeout)),
    }
}

/// The registered checks and the round currently running.
pub struct Collector {
    inner: Arc<Inner>,
}

struct Inner {
    checks: Vec<Arc<dyn Check>>,
    join: JoinFn,
    /// Read the process table once per round and hand it to every check (off for `/probe`).
    scan_processes: bool,
    /// Rounds are a client's own work (`/probe`): they log at debug.
    client_work: bool,
    /// Command lines of the processes seen by earlier rounds, reused while each process is the same.
    processes: Arc<Mutex<process::ProcessCache>>,
    flight: SingleFlight<(), Partial>,
    /// The newest finished section of each check, for the joins when a later one is late.
    latest: Mutex<Vec<Option<Arc<dyn Section>>>>,
    /// Log when a watched daemon goes down or comes back (the served exporter; not `/probe`,
    /// not `check`).
    transitions: Option<Transitions>,
}

/// What a round has published so far: one slot per check.
#[derive(Clone, Default)]
struct Partial {
    sections: Vec<Option<Arc<dyn Section>>>,
}

impl Collector {
    /// A collector of the registry's checks, whose sections its join completes with each
    /// other's facts.
    pub fn new(registry: Registry) -> Collector {
        let latest = vec![None; registry.checks.len()];
        Collector {
            inner: Arc::new(Inner {
                checks: registry.checks,
                join: registry.join,
                scan_processes: true,
                client_work: false,
                processes: Arc::default(),
                flight: SingleFlight::default(),
                latest: Mutex::new(latest),
                transitions: None,
            }),
        }
    }

    /// The same collector, logging each state change of what its checks watch once (see
    /// [`Transitions`]).
    pub fn logging_changes(mut self) -> Collector {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.transitions = Some(Transitions::default());
        }
        self
    }

    /// What each check watches, in words, for the start-up log: the process table is read as
    /// a round reads it, and no daemon is asked.
    pub async fn watching(&self, budget: Duration) -> Vec<String> {
        let deadline = Instant::now() + budget;
        let processes = if self.inner.scan_processes {
            process::scan_cached(deadline, self.inner.processes.clone())
                .await
                .map(Arc::new)
                .map_err(|e| e.to_string())
        } else {
            Err("not looked at for a remote target".to_string())
        };
        let round = Round {
            deadline,
            processes,
            taken_at: SystemTime::now(),
        };
        let lines =
            futures_util::future::join_all(self.inner.checks.iter().map(|c| c.watching(&round)))
                .await;
        lines.into_iter().flatten().collect()
    }

    /// A collector that does not read the process table (a remote target: `/probe`).
    pub fn without_processes(registry: Registry) -> Collector {
        let mut collector = Collector::new(registry);
        if let Some(inner) = Arc::get_mut(&mut collector.inner) {
            inner.scan_processes = false;
        }
        collector
    }

    /// A collector of a target a client named (`/probe`): no process table, and its rounds log
    /// at debug ([`crate::host::log::client_triggered`]).
    pub fn for_client(registry: Registry) -> Collector {
        let mut collector = Collector::without_processes(registry);
        if let Some(inner) = Arc::get_mut(&mut collector.inner) {
            inner.client_work = true;
        }
        collector
    }

    /// Collect (or join the running collection) and answer by `budget` from now.
    ///
    /// A round runs under the deadline of the scrape that started it, so that scrape gets every
    /// section that finished in time. A scrape joins only a round whose deadline serves it
    /// (see [`SingleFlight`]); one that still met a round which cut calls short runs a round of
    /// its own with the time it has left: a scrape with a short deadline never makes a patient
    /// one report a healthy backend as timed out. A round every scrape has left is cancelled.
    pub async fn collect(&self, budget: Duration) -> Snapshot {
        let begun = Instant::now();
        let taken_at = SystemTime::now();
        let deadline = begun + budget;
        loop {
            let inner = self.inner.clone();
            let mut flight = self.inner.flight.join_or_start(
                (),
                deadline,
                patience_margin(budget),
                move |publish, d| {
                    let budget = d.saturating_duration_since(Instant::now());
                    let check_deadline = d - CHECK_MARGIN.min(budget / 10);
                    let client_work = inner.client_work;
                    let round = run_round(inner, publish, check_deadline, taken_at);
                    async move {
                        match client_work {
                            true => crate::host::log::client_triggered(round).await,
                            false => round.await,
                        }
                    }
                },
            );
            let finished = flight.wait(deadline).await;
            let partial = flight.current();
            let cut_short_for_us = finished
                && flight.deadline() + patience_margin(budget) < deadline
                && partial.timed_out(self.inner.checks.len());
            if !cut_short_for_us || Instant::now() >= deadline {
                return self.assemble(partial, taken_at, begun);
            }
        }
    }

    fn assemble(&self, partial: Partial, taken_at: SystemTime, begun: Instant) -> Snapshot {
        let elapsed = begun.elapsed();
        let round = Round {
            deadline: begun,
            processes: Err("not read".into()),
            taken_at,
        };
        let mut latest = crate::host::lock(&self.inner.latest).clone();
        let mut sections = Vec::with_capacity(self.inner.checks.len());
        for (i, check) in self.inner.checks.iter().enumerate() {
            match partial.sections.get(i).cloned().flatten() {
                Some(section) => {
                    sections.push(section.clone_section());
                    latest[i] = Some(section);
                }
                None => sections.push(check.timed_out(&round, elapsed)),
            }
        }
        (self.inner.join)(&mut sections, &latest);
        if let Some(transitions) = &self.inner.transitions {
            transitions.observe(&sections);
        }
        Snapshot::new(taken_at, sections, begun.elapsed())
    }
}

/// How much later a scrape's deadline must be than a round's for a rerun to be worth it.
fn patience_margin(budget: Duration) -> Duration {
    (budget / 10).max(Duration::from_millis(100))
}

impl Partial {
    /// True when a section is missing or any of its checks timed out.
    fn timed_out(&self, checks: usize) -> bool {
        (0..checks).any(|i| match self.sections.get(i).and_then(Option::as_ref) {
            None => true,
            Some(section) => section
                .results()
                .iter()
                .any(|c| c.status == CheckStatus::TimedOut),
        })
    }
}

/// One collection: the process table once, then every check concurrently, each publishing when done.
async fn run_round(
    inner: Arc<Inner>,
    publish: Flight<Partial>,
    deadline: Instant,
    taken_at: SystemTime,
) {
    let round = async {
        let processes = if inner.scan_processes {
            process::scan_cached(deadline, inner.processes.clone())
                .await
                .map(Arc::new)
                .map_err(|e| e.to_string())
        } else {
            Err("not looked at for a remote target".to_string())
        };
        let round = Round {
            deadline,
            processes,
            taken_at,
        };
        let count = inner.checks.len();
        let runs = inner.checks.iter().enumerate().map(|(i, check)| {
            let round = &round;
            let publish = &publish;
            let inner = &inner;
            async move {
                let section: Arc<dyn Section> = Arc::from(check.run(round).await);
                crate::host::lock(&inner.latest)[i] = Some(section.clone());
                publish.update(|p| {
                    p.sections.resize(count, None);
                    p.sections[i] = Some(section);
                });
            }
        });
        futures_util::future::join_all(runs).await;
    };
    // The checks honour the deadline themselves; this bound only guards against a bug there.
    let _ = timeout_at(deadline + Duration::from_secs(1), round).await;
    publish.done();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_follows_blackbox_rules() {
        let five = Duration::from_secs(5);
        assert_eq!(scrape_budget(five, None).unwrap(), five);
        assert_eq!(scrape_budget(five, Some("10")).unwrap(), five);
        assert_eq!(
            scrape_budget(five, Some("3")).unwrap(),
            Duration::from_millis(2500)
        );
        assert_eq!(
            scrape_budget(five, Some("0.4")).unwrap(),
            Duration::from_millis(200)
        );
        assert!(scrape_budget(five, Some("abc")).is_err());
        assert!(scrape_budget(five, Some("-1")).is_err());
        assert!(scrape_budget(five, Some("NaN")).is_err());
    }
}
