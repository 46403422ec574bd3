//! The ipfs-cluster-follow check: find the followers on this host, ask each one's REST API
//! (unix socket or TCP) who it is, whom it sees and how its pins fare, and look at the host.
//!
//! # Checks
//! Every [`CheckResult`](crate::contract::CheckResult) this module produces has one of these
//! names ([`CHECKS`]):
//!
//! | check | scope | what it does |
//! |---|---|---|
//! | `follow_discovery` | host | lists the config folder and the process table to find followers |
//! | `follow_binary` | host | `ipfs-cluster-follow --version` of the binary on `PATH` (rerun when the file changes) |
//! | `follow_api` | follower | `GET /id`, every scrape, with `GET /health` beside it (which never asks IPFS); reachable only for a real cluster ID object |
//! | `follow_pins` | follower | `GET /pins?local=true&filter=<operation states>`, every scrape: counts, the oldest wait per state, the most attempts |
//! | `follow_pins_listing` | follower | full `GET /pins?local=true`, at most every refresh interval (cached): counts, the newest pin's creation time |
//! | `follow_trust` | follower | `GET /health/graph` trusted peers, at most every refresh interval (cached) |
//! | `follow_process` | follower | does it run: its API answered, or an `ipfs-cluster-follow <name> run` process is alive |
//!
//! Host checks travel in the [`FollowHost`] that [`FollowCheck::reports`] returns beside the reports.
//!
//! # Verdicts
//! `running`: the API answered as a cluster API (whatever the process search finds), or an
//! `ipfs-cluster-follow <name> run` process of it is alive here; not running only when neither
//! (see `verdict.rs`).
//! `status`: running (the API answers as a cluster API) | stopped (nothing answers and the
//! process table holds no follower process) | error (the API fails or is an impostor, while a
//! process or a listener is there or none could be ruled out).
//! `health`: unhealthy (API not reachable) | degraded (reachable but no cluster peer besides
//! itself, no trusted peer, IPFS unreachable (also when only its IPFS-bound `/id` stalls while
//! `/health` answers: then the API reads not measured, not unreachable), pins in an error state,
//! a pin queued or pinning for longer than `--follow.max-pin-wait`, pins unexpectedly unpinned,
//! or the live pin count failed) | healthy. A stopped follower whose
//! socket file is left behind (a crash) is named so: the stale socket must be removed. An empty
//! full listing right after one with pins is a restarted follower catching up: the last full
//! count stays (see `refresh.rs`). Each cause is what an alert rule checks (a `cluster-follow` rule, or for
//! the failed pin count `LotusFollowExporterCheckFailing`), so the follower is healthy exactly
//! when none of them would fire (`docs/verdict.md`).
//!
//! # Caveats
//! The cached checks (listing, trust) run under the scrape deadline like the others: a follower
//! whose full listing takes longer than the scrape timeout never gets one (the check times out
//! and is retried after `FAILED_RETRY` (a minute)).
//!
//! # Where things are
//! `settings.rs` the flags ([`FollowConfig`]); `report.rs` what one follower looked like
//! ([`FollowReport`]); `host.rs` the host-level checks ([`FollowHost`]); `follower.rs` asking one
//! follower's API; `refresh.rs` the cached listing and trust graph; `verdict.rs` the process,
//! status and health verdicts; `auth.rs` the basic-auth file; [`discovery`] finding the
//! followers; [`api`] the REST client; [`pins`] the `/pins` stream (its lines read by
//! `pin_line.rs`, their times by [`times`]); [`binary`] the binary.

pub mod api;
mod auth;
pub mod binary;
mod bound;
mod check;
pub mod discovery;
mod flags;
mod follower;
mod host;
mod pin_line;
pub mod pins;
mod refresh;
mod render;
mod report;
mod settings;
pub mod times;
mod verdict;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use tokio::time::Instant;

use crate::contract::CheckStatus;
use crate::host::files::ReadSlot;
use crate::host::process::ProcessTable;
use discovery::Follower;
use refresh::SlowCache;

pub use binary::FollowBinary;
pub use check::{FollowSection, NAME};
pub use discovery::{parse_api_spec, ApiSpec, FollowError, Source};
pub use flags::{resolve, FollowArgs};
pub use host::FollowHost;
pub use report::{FollowReport, HealthReason};
pub use settings::FollowConfig;

pub const CHECK_DISCOVERY: &str = "follow_discovery";
pub const CHECK_BINARY: &str = "follow_binary";
pub const CHECK_API: &str = "follow_api";
pub const CHECK_PINS: &str = "follow_pins";
pub const CHECK_PINS_LISTING: &str = "follow_pins_listing";
pub const CHECK_TRUST: &str = "follow_trust";
pub const CHECK_PROCESS: &str = "follow_process";

/// Every check name of this module.
pub const CHECKS: [&str; 7] = [
    CHECK_DISCOVERY,
    CHECK_BINARY,
    CHECK_API,
    CHECK_PINS,
    CHECK_PINS_LISTING,
    CHECK_TRUST,
    CHECK_PROCESS,
];

/// The follow check with its caches (slow-interval figures, binary version).
#[derive(Debug)]
pub struct FollowCheck {
    config: FollowConfig,
    state: Mutex<State>,
    /// One blocking discovery (config folder, process environments) in flight at a time.
    discovery_slot: ReadSlot,
    /// One read of `--follow.basic-auth-file` in flight at a time.
    auth_slot: ReadSlot,
    binary_probe: binary::BinaryProbe,
}

#[derive(Debug, Default)]
struct State {
    slow: HashMap<String, SlowCache>,
    /// The peer id each follower gave in its last `/id`, so the live pin count can run
    /// alongside the next `/id` instead of after it.
    peer_ids: HashMap<String, String>,
    /// The swarm addresses each follower gave in its last good `/id`: its claims stay in the
    /// port plan while it does not answer.
    swarm_addresses: HashMap<String, Vec<String>>,
    cap_logged: bool,
    /// Shadowed-follower warnings already logged.
    shadowed_logged: BTreeSet<String>,
}

impl FollowCheck {
    pub fn new(config: FollowConfig) -> FollowCheck {
        FollowCheck {
            config,
            state: Mutex::new(State::default()),
            discovery_slot: ReadSlot::default(),
            auth_slot: ReadSlot::default(),
            binary_probe: binary::BinaryProbe::default(),
        }
    }

    /// The binary as seen by the latest [`reports`](Self::reports) (for a host-level figure when no
    /// follower is found).
    pub fn binary(&self) -> FollowBinary {
        self.binary_probe.last()
    }

    /// Check every follower, concurrently, before `deadline`: one report per follower, plus the
    /// host-level checks (`follow_discovery`, `follow_binary`). When the process table could not
    /// be read (`procs` is `Err`), whether each follower runs is unknown, not "no".
    pub async fn reports(
        &self,
        deadline: Instant,
        procs: Result<Arc<ProcessTable>, String>,
    ) -> (Vec<FollowReport>, FollowHost) {
        let last_check = SystemTime::now();
        let table = procs.clone().unwrap_or_default();
        // The binary check runs beside the followers' checks: a slow `--version` delays no follower.
        let followers_part = async {
            let ((discovery, discovery_check), auth) = tokio::join!(
                self.discover(
                    deadline,
                    if self.config.discover_processes {
                        table
                    } else {
                        Arc::new(ProcessTable::default())
                    }
                ),
                self.read_basic_auth(deadline),
            );
            let reports =
                futures_util::future::join_all(discovery.followers.iter().map(|follower| {
                    self.check_follower(follower, &auth, &procs, deadline, last_check)
                }))
                .await;
            (discovery, discovery_check, reports)
        };
        let ((discovery, discovery_check, reports), (binary_check, binary_available)) =
            tokio::join!(followers_part, self.check_binary(deadline));
        // A failed discovery may have missed followers: their caches stay until one succeeds.
        if discovery_check.status == CheckStatus::Ok {
            self.forget_gone(&discovery.followers);
        }
        let finished =
            discovery_check.status != CheckStatus::TimedOut && !discovery.found_by.is_empty();
        let host = FollowHost {
            binary_available,
            found_by: finished.then(|| discovery.found_by.clone()),
            over_cap: finished.then_some(discovery.dropped),
            checks: vec![discovery_check, binary_check],
        };
        (reports, host)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::host::lock(&self.state)
    }

    fn forget_gone(&self, followers: &[Follower]) {
        let known = |name: &String| followers.iter().any(|f| &f.name == name);
        let mut state = self.lock();
        state.slow.retain(|name, _| known(name));
        state.peer_ids.retain(|name, _| known(name));
        state.swarm_addresses.retain(|name, _| known(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_failed_discovery_keeps_the_followers_caches() {
        let dir = tempfile::tempdir().unwrap();
        let checks = FollowCheck::new(FollowConfig {
            config_dir: dir.path().join("follow"),
            binary_search_path: Some(dir.path().as_os_str().to_owned()),
            ..FollowConfig::default()
        });
        checks
            .lock()
            .peer_ids
            .insert("c".into(), "12D3KooWP".into());
        let deadline = Instant::now() + Duration::from_secs(5);
        let held = checks.discovery_slot.try_take().unwrap();
        checks.reports(deadline, Ok(Arc::default())).await;
        assert!(
            checks.lock().peer_ids.contains_key("c"),
            "kept after a failed discovery"
        );
        drop(held);
        checks.reports(deadline, Ok(Arc::default())).await;
        assert!(
            checks.lock().peer_ids.is_empty(),
            "forgotten once discovery says it is gone"
        );
    }
}
