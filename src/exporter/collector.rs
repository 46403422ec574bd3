//! Runs every check concurrently under one deadline and assembles a [`Snapshot`]; scrapes that
//! arrive while a collection runs share it instead of starting another.
//!
//! A collection ("round") is a spawned task that publishes each section's report on a `watch`
//! channel as soon as it is ready. Every scrape waits on that channel until the round is done or
//! its own deadline passes, whichever is first; sections not finished by then are reported as
//! timed out. So 100 simultaneous scrapes cost Lotus one round of calls, and none of them waits
//! longer than its own deadline.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};

use crate::checks::follow::{FollowChecks, FollowConfig, FollowHost, FollowReport};
use crate::checks::lotus::{LotusCheck, LotusConfig, LotusReport};
use crate::checks::ports::{self, FollowerClaims, PortsCheck, PortsConfig, PortsObservation};
use crate::contract::{CheckResult, CheckStatus};
use crate::exporter::snapshot::Snapshot;
use crate::host::process::{self, ProcessTable};

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

/// Set once the port-plan cap has been logged (a scrape every 15 s must not flood the log).
static PORT_CAP_LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The checks and the round currently running.
pub struct Collector {
    inner: Arc<Inner>,
}

struct Inner {
    lotus: LotusCheck,
    /// Removes the Lotus token from whatever the Lotus check reports.
    scrubber: crate::secret::Scrubber,
    follow: FollowChecks,
    ports: PortsCheck,
    /// Command lines of the processes seen by earlier rounds, reused while each process is the same.
    processes: Arc<Mutex<process::ProcessCache>>,
    /// The running round and the deadline it runs under.
    current: Mutex<Option<(watch::Receiver<Partial>, Instant)>>,
    /// The last finished follow section, whose followers' claims keep the port plan whole when
    /// a later follow section does not finish in time.
    last_follow: Mutex<Option<FollowSection>>,
}

/// The follow reports and the host-level follow figures of one round.
type FollowSection = Arc<(Vec<FollowReport>, FollowHost)>;

/// What a round has published so far.
#[derive(Clone, Default)]
struct Partial {
    lotus: Option<Arc<LotusReport>>,
    follow: Option<FollowSection>,
    ports: Option<Arc<PortsObservation>>,
    done: bool,
}

impl Collector {
    /// A collector for the three checks, each with its own settings (built by `config`).
    pub fn new(lotus: LotusConfig, follow: FollowConfig, ports: PortsConfig) -> Collector {
        Collector {
            inner: Arc::new(Inner {
                scrubber: lotus
                    .token
                    .as_ref()
                    .map(|t| crate::secret::Scrubber::for_token(t.expose()))
                    .unwrap_or_default(),
                lotus: LotusCheck::new(lotus),
                follow: FollowChecks::new(follow),
                ports: PortsCheck::new(ports),
                processes: Arc::default(),
                current: Mutex::new(None),
                last_follow: Mutex::new(None),
            }),
        }
    }

    /// Collect (or join the running collection) and answer by `budget` from now.
    ///
    /// A round runs under the deadline of the scrape that started it, so that scrape gets every
    /// section that finished in time. A more patient scrape that joined a round which then cut
    /// calls short runs a round of its own with the time it has left: a scrape with a short
    /// deadline never makes a patient one report a healthy backend as timed out.
    pub async fn collect(&self, budget: Duration) -> Snapshot {
        let begun = Instant::now();
        let taken_at = SystemTime::now();
        let deadline = begun + budget;
        loop {
            let (mut round, round_deadline) = self.join_or_start(deadline);
            let finished = wait_for_round(&mut round, deadline).await;
            let partial = round.borrow().clone();
            let cut_short_for_us = finished
                && round_deadline + patience_margin(budget) < deadline
                && partial.timed_out();
            if !cut_short_for_us || Instant::now() >= deadline {
                return self.assemble(partial, taken_at, begun);
            }
        }
    }

    /// Join the running round, or start one that ends by `deadline`; returns it with its deadline.
    fn join_or_start(&self, deadline: Instant) -> (watch::Receiver<Partial>, Instant) {
        let mut current = match self.inner.current.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((running, round_deadline)) = current.as_ref().filter(|(r, _)| !r.borrow().done)
        {
            return (running.clone(), *round_deadline);
        }
        let (tx, rx) = watch::channel(Partial::default());
        *current = Some((rx.clone(), deadline));
        let budget = deadline.saturating_duration_since(Instant::now());
        let check_deadline = deadline - CHECK_MARGIN.min(budget / 10);
        tokio::spawn(run_round(self.inner.clone(), tx, check_deadline));
        (rx, deadline)
    }

    /// Who listens on the Lotus API's port, when the API is on this host and the port check
    /// read the listeners (the port check's facts handed to the Lotus report).
    fn lotus_api_listener(&self, observation: &PortsObservation) -> Option<Vec<String>> {
        let (host, port) = self.inner.lotus.local_tcp_api()?;
        let listeners = observation.listeners.as_deref()?;
        let host = host.parse::<std::net::IpAddr>().ok();
        // Program names come from the host: bounded like every other string of a report.
        let mut names = ports::tcp_listeners_for(listeners, host, port);
        crate::bound::labels(&mut names);
        Some(names)
    }

    fn assemble(&self, partial: Partial, taken_at: SystemTime, begun: Instant) -> Snapshot {
        let elapsed = begun.elapsed();
        let lotus = match partial.lotus {
            Some(report) => (*report).clone(),
            None => LotusReport::timed_out(
                self.inner.lotus.api_address().to_string(),
                taken_at,
                elapsed,
            ),
        };
        let last_follow = || {
            self.inner
                .last_follow
                .lock()
                .ok()
                .and_then(|last| last.clone())
        };
        let claims_from = partial.follow.clone().or_else(last_follow);
        let (follow, follow_host) = match partial.follow {
            Some(section) => (*section).clone(),
            None => (Vec::new(), FollowHost::timed_out(elapsed)),
        };
        let observation = match partial.ports {
            Some(observation) => (*observation).clone(),
            None => PortsObservation::timed_out(elapsed),
        };
        let mut lotus = lotus;
        lotus.api_listener = self.lotus_api_listener(&observation);
        let followers_claiming = claims_from
            .as_deref()
            .map(|(reports, _)| reports.as_slice())
            .unwrap_or(&[]);
        let claims: Vec<FollowerClaims> = followers_claiming.iter().map(follower_claims).collect();
        let mut ports = ports::assemble_with(observation, &claims);
        let dropped = crate::bound::cap_port_entries(&mut ports.entries);
        if dropped > 0 && !PORT_CAP_LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            log::warn!(
                "port plan: {dropped} entries beyond {} left out (conflicts kept first)",
                crate::bound::MAX_PORT_ENTRIES
            );
        }
        Snapshot {
            taken_at,
            lotus,
            follow,
            follow_host,
            ports,
            scrape_duration: begun.elapsed(),
        }
    }
}

/// Wait until the round is done or `deadline` passes; true when it finished.
async fn wait_for_round(round: &mut watch::Receiver<Partial>, deadline: Instant) -> bool {
    loop {
        if round.borrow_and_update().done {
            return true;
        }
        match timeout_at(deadline, round.changed()).await {
            Ok(Ok(())) => continue,
            // The deadline passed, or the round task ended without saying done (it cannot, but a
            // waiter must never hang on it).
            _ => return round.borrow().done,
        }
    }
}

/// How much later a scrape's deadline must be than a round's for a rerun to be worth it.
fn patience_margin(budget: Duration) -> Duration {
    (budget / 10).max(Duration::from_millis(100))
}

impl Partial {
    /// True when a section is missing or any of its checks timed out.
    fn timed_out(&self) -> bool {
        let timed_out =
            |checks: &[CheckResult]| checks.iter().any(|c| c.status == CheckStatus::TimedOut);
        let lotus = self.lotus.as_ref().is_none_or(|l| timed_out(&l.checks));
        let follow = self.follow.as_ref().is_none_or(|section| {
            let (reports, host) = section.as_ref();
            timed_out(&host.checks) || reports.iter().any(|r| timed_out(&r.checks))
        });
        let ports = self.ports.as_ref().is_none_or(|p| timed_out(&p.checks));
        lotus || follow || ports
    }
}

/// One collection: the process table once, then every check concurrently, each publishing when done.
async fn run_round(inner: Arc<Inner>, tx: watch::Sender<Partial>, deadline: Instant) {
    let round = async {
        let procs: Result<Arc<ProcessTable>, String> =
            process::scan_cached(deadline, inner.processes.clone())
                .await
                .map(Arc::new)
                .map_err(|e| e.to_string());
        let table = procs.clone().unwrap_or_default();
        let lotus = async {
            let mut report = inner.lotus.run(deadline, procs.clone()).await;
            crate::bound::bound_lotus(&mut report, &inner.scrubber);
            tx.send_modify(|p| p.lotus = Some(Arc::new(report)));
        };
        let follow = async {
            let (mut reports, mut host) = inner.follow.run(deadline, procs.clone()).await;
            crate::bound::bound_follow(&mut reports, &mut host);
            let section = Arc::new((reports, host));
            if let Ok(mut last) = inner.last_follow.lock() {
                *last = Some(section.clone());
            }
            tx.send_modify(|p| p.follow = Some(section));
        };
        let ports = async {
            let mut observation = inner.ports.run(deadline, table.clone()).await;
            crate::bound::bound_ports(&mut observation);
            tx.send_modify(|p| p.ports = Some(Arc::new(observation)));
        };
        tokio::join!(lotus, follow, ports);
    };
    // The checks honour the deadline themselves; this bound only guards against a bug there.
    let _ = timeout_at(deadline + Duration::from_secs(1), round).await;
    tx.send_modify(|p| p.done = true);
}

/// What a follower claims in the port plan: its API when it is TCP, and the swarm addresses it
/// reported in `/id`. The follow check found these facts; the ports check judges them.
fn follower_claims(report: &FollowReport) -> FollowerClaims {
    FollowerClaims {
        cluster_name: report.cluster_name.clone(),
        // A TCP API is shown as `host:port`; the claim parser reads it as a URL.
        api: report.api_port.map(|_| format!("http://{}", report.api)),
        swarm_addresses: report.swarm_addresses.clone(),
        pid: report.pid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_followers_claims_carry_its_pid_and_its_tcp_api() {
        use crate::net::http_client::Endpoint;
        let tcp = Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 19094,
        };
        let mut report = FollowReport::for_tests("c", tcp);
        report.pid = Some(42);
        report.api_port = Some(19094);
        report.swarm_addresses = vec!["/ip4/0.0.0.0/tcp/9096".into()];
        let claims = follower_claims(&report);
        assert_eq!(claims.cluster_name, "c");
        assert_eq!(
            claims.pid,
            Some(42),
            "the port plan owns its sockets by this pid"
        );
        assert_eq!(claims.api, Some(format!("http://{}", report.api)));
        assert_eq!(claims.swarm_addresses, report.swarm_addresses);
        let unix = FollowReport::for_tests("d", Endpoint::Unix("/f/api-socket".into()));
        assert_eq!(
            follower_claims(&unix).api,
            None,
            "a unix socket claims no port"
        );
    }

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
