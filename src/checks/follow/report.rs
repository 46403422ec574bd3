//! What one follower looked like in one collection: the report the renderers show, and the causes
//! of its verdict.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::contract::{CheckResult, DaemonStatus, Health};
use crate::net::http_client::Endpoint;

use super::discovery::Follower;
use super::times::UnixNanos;

/// What one follower looked like in one collection. `None` means "could not be measured".
#[derive(Debug, Clone)]
pub struct FollowReport {
    /// The cluster name (`cluster_name` label): `NAME=` of `--follow.api`, the follower's folder
    /// name, or the API address for an unnamed `--follow.api`.
    pub cluster_name: String,
    /// The API as shown to operators: `127.0.0.1:9094`, `unix:/path/api-socket`, or the unusable
    /// setting with the reason.
    pub api: String,
    /// The API's TCP port; `None` for a unix socket.
    pub api_port: Option<u16>,
    /// The API's TCP host and port (for the port plan); `None` for a unix socket or an
    /// unusable setting.
    pub api_tcp: Option<(String, u16)>,
    /// `Some(true)` only when `/id` answered a cluster ID object in this collection;
    /// `Some(false)` when something else answered, nothing did, the answer came too late, or the
    /// API address is unusable.
    pub api_reachable: Option<bool>,
    pub peer_id: Option<String>,
    pub peername: Option<String>,
    pub version: Option<String>,
    /// Cluster peers it sees besides itself.
    pub peers: Option<u64>,
    /// At least one cluster peer besides itself.
    pub connected: Option<bool>,
    /// Trusted peers besides itself, from the cached trust graph.
    pub trusted_peers: Option<u64>,
    /// When the trust graph was last fetched successfully.
    pub trusted_peers_at: Option<SystemTime>,
    /// The peer reports no IPFS error.
    pub ipfs_connected: Option<bool>,
    /// The IPFS error `/id` reported (`ipfs.error`), when there was one.
    pub ipfs_error: Option<String>,
    /// Live counts of the operation states, every one of [`OPERATION_STATES`](super::pins::OPERATION_STATES) present.
    pub pins: Option<BTreeMap<String, u64>>,
    /// Counts from the last full listing (cached), every one of [`TRACKER_STATES`](super::pins::TRACKER_STATES) present.
    pub pins_listed: Option<BTreeMap<String, u64>>,
    /// When the full listing last succeeded (present even when the latest attempt failed).
    pub pins_listed_at: Option<SystemTime>,
    /// The newest `created` of any pin in the last full listing (cached with it): when the
    /// newest pin of the follower's state entered the cluster pinset. `None` when not
    /// measured, or no pin has a known creation time.
    pub pin_newest_created: Option<UnixNanos>,
    /// The oldest own `timestamp` of the live pins in each of
    /// [`AGE_STATES`](super::pins::AGE_STATES) (when they entered it), only the states that
    /// have one; empty when there is none or the live count failed.
    pub pins_oldest: Vec<(&'static str, UnixNanos)>,
    /// The largest own `attempt_count` of the live pins (those in an operation state); `None`
    /// when there is none or the live count failed.
    pub pin_attempts_max: Option<u64>,
    /// `--follow.max-pin-wait`: a pin queued or pinning for longer is stuck (`pins_stuck`).
    pub max_pin_wait: std::time::Duration,
    /// The follower runs: its API answered as an ipfs-cluster API, or its
    /// `ipfs-cluster-follow <name> run` process is alive here. `Some(false)` only when neither
    /// (nothing answers and the process table, read, holds no such process); `None` unknown.
    pub running: Option<bool>,
    /// The pid of that process, when it was matched to this follower (by its name, its API or
    /// its folder): the port plan knows the follower's own sockets by it.
    pub pid: Option<u32>,
    /// Its libp2p addresses from `/id` (for the port plan); from its last good `/id` when it
    /// does not answer this time.
    pub swarm_addresses: Vec<String>,
    /// The API's unix socket file, when it exists with nothing listening and no follower
    /// process runs: left by a crash, it keeps the next `ipfs-cluster-follow <name> run` from
    /// binding (`bind: address already in use`).
    pub stale_socket: Option<String>,
    /// `/id` timed out while `/health` (which never asks the IPFS daemon) answered at once: the
    /// follower runs and waits on its IPFS daemon.
    pub ipfs_only_stalls: bool,
    /// The full listing came back empty (204) right after one that held pins: the follower
    /// has just restarted and is catching up; `pins_listed` is the last full count.
    pub pins_catching_up: bool,
    /// Known only from a process of this untrusted user (see [`Follower::untrusted_user`]).
    pub untrusted_user: Option<String>,
    pub status: DaemonStatus,
    pub health: Health,
    /// Why `health` is not healthy, every cause (empty when healthy).
    pub reasons: Vec<HealthReason>,
    pub last_check: SystemTime,
    pub checks: Vec<CheckResult>,
}

/// One cause of a follower's degraded or unhealthy verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReason {
    /// A fixed word for the cause (the `reason` label of `cluster_follow_health_reason`):
    /// `stopped`, `api_unreachable`, `no_cluster_peers`, `no_trusted_peers`, `ipfs_unreachable`,
    /// `pins_unknown`, `pin_errors`, `pins_stuck`, `pins_lost`.
    pub code: &'static str,
    /// The cause in words, with the follower's own error text where it gave one.
    pub text: String,
}

impl FollowReport {
    /// `connected` | `disconnected` | `unknown`, for `/status`.
    pub fn connection_status(&self) -> &'static str {
        match self.connected {
            Some(true) => "connected",
            Some(false) => "disconnected",
            None => "unknown",
        }
    }
}

/// The report of `follower` before anything is asked: every figure unknown, `error` and
/// `unhealthy` until the checks say otherwise.
pub(super) fn empty_report(follower: &Follower, last_check: SystemTime) -> FollowReport {
    let api_tcp = match &follower.api {
        Ok(Endpoint::Tcp { host, port }) => Some((host.clone(), *port)),
        _ => None,
    };
    let api_port = api_tcp.as_ref().map(|(_, port)| *port);
    FollowReport {
        cluster_name: follower.name.clone(),
        api: follower.api_display(),
        api_port,
        api_tcp,
        api_reachable: None,
        peer_id: None,
        peername: None,
        version: None,
        peers: None,
        connected: None,
        trusted_peers: None,
        trusted_peers_at: None,
        ipfs_connected: None,
        ipfs_error: None,
        pins: None,
        pins_listed: None,
        pins_listed_at: None,
        pin_newest_created: None,
        pins_oldest: Vec::new(),
        pin_attempts_max: None,
        max_pin_wait: super::settings::DEFAULT_MAX_PIN_WAIT,
        running: None,
        // Only a verified process's sockets are the follower's own in the port plan.
        pid: follower
            .process
            .as_ref()
            .filter(|p| p.verified)
            .map(|p| p.pid),
        swarm_addresses: Vec::new(),
        stale_socket: None,
        ipfs_only_stalls: false,
        pins_catching_up: false,
        untrusted_user: follower.untrusted_user.clone(),
        status: DaemonStatus::Error,
        health: Health::Unhealthy,
        reasons: Vec::new(),
        last_check,
        checks: Vec::new(),
    }
}

/// A follower named by `--follow.api`, with no process matched (for tests).
#[cfg(test)]
pub(super) fn follower(name: &str, api: Endpoint) -> Follower {
    Follower {
        name: name.to_string(),
        api: Ok(api),
        source: super::Source::Flag,
        process: None,
        trusted: true,
        folder_owner: None,
        untrusted_user: None,
    }
}

#[cfg(test)]
impl FollowReport {
    /// The report of a `--follow.api` follower at `api` that nothing was learnt of yet (every
    /// figure unknown, `error`/`unhealthy`), checked at a fixed time: the test modules' report.
    pub(crate) fn for_tests(cluster_name: &str, api: Endpoint) -> FollowReport {
        let last_check = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        empty_report(&follower(cluster_name, api), last_check)
    }
}
