//! The Kubo check: find the Kubo (IPFS) daemons this host's followers and Kubo's own config
//! name, and ask each one's RPC API who it is.
//!
//! # Which Kubos
//! Every round, one per API address ([`discovery`]): the `--kubo.api` values; `Addresses.API`
//! of Kubo's config (`--ports.kubo-config`, default `$IPFS_PATH/config` or `~/.ipfs/config`: the
//! one file both checks read); and `ipfs_connector.ipfshttp.node_multiaddress` of every
//! `<follow config dir>/<name>/service.json` that has an `ipfs_connector` (the follow check's
//! folder, read by this check itself: checks never import each other). With none of these there
//! is nothing to watch: the section is empty, healthy, and renders no series.
//!
//! # Checks
//! | check | scope | what it does |
//! |---|---|---|
//! | `kubo_discovery` | host | reads Kubo's config and the followers' `service.json`; skipped (not exported) when nothing names a Kubo |
//! | `kubo_api` | Kubo | `POST /api/v0/id`; up only for an answer with Kubo's `ID` and `AgentVersion` |
//!
//! A per-Kubo result carries the Kubo's label (its address) in `cluster_name`, the contract's
//! one per-instance field, so that two Kubos are two series of
//! `lotus_follow_exporter_check_success`.
//!
//! # Verdicts
//! A Kubo is healthy when it answered as a Kubo, unhealthy otherwise: down (refused, reset),
//! timed out (hung: accepts the connection, never answers), failing (HTTP 5xx, with Kubo's
//! message) or not a Kubo. The section is the worst of its Kubos.
//!
//! # Caveats
//! - A follower configured from a URL (`service.json` is only `{"source": ...}`, what
//!   `ipfs-cluster-follow <name> init <url>` writes) takes its connector from the remote
//!   template, and a follower's `CLUSTER_IPFSHTTP_NODEMULTIADDRESS` overrides both; neither is
//!   read here, so such a follower's Kubo is watched only when Kubo's config or `--kubo.api`
//!   names it.
//! - Addresses are compared as written, never resolved: `/dns/localhost/tcp/5001` and
//!   `/ip4/127.0.0.1/tcp/5001` are two Kubos. A wildcard (`0.0.0.0`, `::`) is asked on loopback.
//!
//! # Where things are
//! `flags.rs` the flags ([`KuboArgs`], [`resolve`]); [`discovery`] which Kubos; [`client`] the
//! RPC call; `verdict.rs` the verdict on one Kubo; `report.rs` the section; `check.rs` the
//! contract; `render/` every view.

mod check;
pub mod client;
pub mod discovery;
mod flags;
mod render;
mod report;
mod verdict;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::{timeout_at, Instant};

use crate::contract::{still_running, CheckResult, CheckStatus, Text};
use crate::host::files::ReadSlot;
use crate::net::http_client::Endpoint;
use discovery::{Found, Kubo};

pub use check::NAME;
pub use flags::{parse_api, resolve, KuboArgs};
pub use report::{KuboReport, KuboSection};

/// Check name: finding the Kubos (Kubo's config, the followers' `service.json`).
pub const CHECK_DISCOVERY: &str = "kubo_discovery";
/// Check name: `POST /api/v0/id` of one Kubo.
pub const CHECK_API: &str = "kubo_api";

/// Every check name of this module.
pub const CHECKS: [&str; 2] = [CHECK_DISCOVERY, CHECK_API];

/// Settings of the Kubo check.
#[derive(Debug, Clone, Default)]
pub struct KuboConfig {
    /// `--kubo.api` (repeatable): Kubos to watch besides those the files name.
    pub apis: Vec<Endpoint>,
    /// Kubo's config, whose `Addresses.API` names a Kubo (the ports check's
    /// `--ports.kubo-config`, default `$IPFS_PATH/config` or `~/.ipfs/config`).
    pub kubo_config: PathBuf,
    /// The follow config folder (`--follow.config-dir`): each `<name>/service.json` may name
    /// its follower's Kubo.
    pub follow_config_dir: PathBuf,
}

/// The Kubo check, with the Kubos its last finished discovery found.
#[derive(Debug)]
pub struct KuboCheck {
    config: KuboConfig,
    /// One blocking discovery (file reads) in flight at a time.
    discovery_slot: ReadSlot,
    /// The Kubos of the last discovery that finished: watched while a later one cannot finish,
    /// and reported timed out when a round is cut short.
    known: Mutex<Vec<Kubo>>,
}

impl KuboCheck {
    /// The check with these settings; nothing is read until it runs.
    pub fn new(config: KuboConfig) -> KuboCheck {
        KuboCheck {
            config,
            discovery_slot: ReadSlot::default(),
            known: Mutex::new(Vec::new()),
        }
    }

    /// Find the Kubos and ask each one, concurrently, before `deadline`.
    pub async fn section(&self, deadline: Instant) -> KuboSection {
        let taken_at = SystemTime::now();
        let started = Instant::now();
        let discovered = self.discover(deadline).await;
        let duration = started.elapsed();
        let (kubos, status) = match discovered {
            Ok(found) => {
                let status = discovery_status(&found, &self.config);
                *crate::host::lock(&self.known) = found.kubos.clone();
                (found.kubos, status)
            }
            // Not finished: the Kubos found last time stay watched.
            Err(status) => (crate::host::lock(&self.known).clone(), status),
        };
        let asked = kubos.iter().map(|kubo| async move {
            let mut report = KuboReport::unasked(kubo, CheckStatus::TimedOut, taken_at);
            let started = Instant::now();
            let answer = client::id(&kubo.endpoint, deadline).await;
            verdict::judge(&mut report, answer);
            report.check.duration = started.elapsed();
            report
        });
        KuboSection {
            kubos: futures_util::future::join_all(asked).await,
            discovery: CheckResult::new(CHECK_DISCOVERY, status, duration),
        }
    }

    /// The section of a round cut short: every Kubo known from the last discovery timed out.
    pub fn unfinished(&self, elapsed: Duration, taken_at: SystemTime) -> KuboSection {
        let known = crate::host::lock(&self.known).clone();
        let discovery = if known.is_empty() {
            CheckStatus::Skipped("the Kubo check did not finish; no Kubo was known".into())
        } else {
            CheckStatus::TimedOut
        };
        let kubos = known
            .iter()
            .map(|kubo| {
                let mut report = KuboReport::unasked(kubo, CheckStatus::TimedOut, taken_at);
                report.check.duration = elapsed;
                report.reasons = vec![verdict::unfinished(&kubo.label)];
                report
            })
            .collect();
        KuboSection {
            kubos,
            discovery: CheckResult::new(CHECK_DISCOVERY, discovery, elapsed),
        }
    }

    /// Blocking discovery off the runtime, under `deadline`, one at a time.
    async fn discover(&self, deadline: Instant) -> Result<Found, CheckStatus> {
        let Some(held) = self.discovery_slot.try_take() else {
            let what = format!(
                "{} and {}",
                self.config.kubo_config.display(),
                self.config.follow_config_dir.display()
            );
            return Err(still_running(&what));
        };
        let config = self.config.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _held = held;
            discovery::find(&config)
        });
        match timeout_at(deadline, task).await {
            Err(_) => Err(CheckStatus::TimedOut),
            Ok(Err(join)) => Err(CheckStatus::Failed(format!("discovery failed: {join}"))),
            Ok(Ok(found)) => Ok(found),
        }
    }
}

/// `kubo_discovery`'s status: failed with every problem, ok when a Kubo was found, skipped
/// (nothing to watch, not exported) otherwise.
fn discovery_status(found: &Found, config: &KuboConfig) -> CheckStatus {
    if !found.problems.is_empty() {
        let all: Vec<&str> = found.problems.iter().map(Text::as_str).collect();
        return CheckStatus::Failed(Text::new(all.join("; ")).to_string());
    }
    if !found.kubos.is_empty() {
        return CheckStatus::Ok;
    }
    CheckStatus::Skipped(format!(
        "no Kubo to watch: no --kubo.api, no Addresses.API in {}, no follower's service.json with an ipfs_connector under {}",
        config.kubo_config.display(),
        config.follow_config_dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_named_is_an_empty_section() {
        let dir = tempfile::tempdir().unwrap();
        let check = KuboCheck::new(KuboConfig {
            kubo_config: dir.path().join(".ipfs/config"),
            follow_config_dir: dir.path().join(".ipfs-cluster-follow"),
            ..KuboConfig::default()
        });
        let section = check.section(Instant::now() + Duration::from_secs(5)).await;
        assert!(section.is_empty(), "{section:?}");
        assert!(matches!(section.discovery.status, CheckStatus::Skipped(_)));
    }

    #[tokio::test]
    async fn a_refused_kubo_is_down_and_remembered_for_an_unfinished_round() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let dir = tempfile::tempdir().unwrap();
        let check = KuboCheck::new(KuboConfig {
            apis: vec![Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port,
            }],
            kubo_config: dir.path().join("none"),
            follow_config_dir: dir.path().join("none"),
        });
        let section = check.section(Instant::now() + Duration::from_secs(5)).await;
        assert_eq!(section.kubos.len(), 1);
        let kubo = &section.kubos[0];
        assert!(!kubo.up);
        assert!(
            kubo.reasons[0].contains("is down: connection refused"),
            "{kubo:?}"
        );
        assert_eq!(section.discovery.status, CheckStatus::Ok);
        let cut = check.unfinished(Duration::from_secs(1), SystemTime::now());
        assert_eq!(cut.kubos[0].check.status, CheckStatus::TimedOut);
        assert!(cut.kubos[0].reasons[0].contains("did not finish"));
    }
}
