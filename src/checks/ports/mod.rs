//! The port plan of the host (who is configured to listen where), who really listens, and conflicts.
//!
//! The check runs in two steps. [`PortsCheck::observe`] does the I/O: it reads ipfs-cluster-service's
//! `service.json`, the Lotus API's address (the running daemon's `--api`, environment or `api`
//! file before `config.toml`, see `claims/lotus.rs`) and Kubo's `config` into [`Claim`]s, and the kernel's
//! listening sockets (over netlink, [`sock_diag`]; `/proc/net/*` where that is refused) plus their
//! owners in `/proc/<pid>/fd` ([`owners`]) into [`Listener`]s. [`assemble_with`] is pure: it merges the followers'
//! claims (known only after the follow check ran), groups everything per (port, protocol),
//! decides, in words, whether each port is in conflict, and says where the Lotus daemon really
//! listens when that is not its API's claimed port ([`daemon_listener`]).
//!
//! # Caveats
//! - `::` is taken to overlap IPv6 addresses only, not IPv4. Lotus, Kubo and ipfs-cluster are Go
//!   programs, and Go's `net.Listen("tcp6", "[::]:p")` (what a `/ip6/::` multiaddr becomes) sets
//!   `IPV6_V6ONLY`, which is why Kubo's default config can list both `/ip4/0.0.0.0/tcp/4001` and
//!   `/ip6/::/tcp/4001`. The exporter's own `:port` form means every address of both families.
//! - A claim on a DNS name (`/dns/localhost/...`) is not resolved (no I/O here) and is taken to
//!   overlap every address on its port.
//! - Netlink and `/proc/net` show the sockets of the exporter's own network namespace only: a daemon in a
//!   container with its own namespace is seen through whatever publishes its port (docker-proxy).

mod bound;
mod check;
pub mod claims;
pub mod conflicts;
pub mod daemon_listener;
mod flags;
pub mod holder;
pub mod host;
pub mod listeners;
pub mod owners;
mod readers;
mod render;
pub mod sock_diag;
mod socket;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::contract::{CheckResult, CheckStatus};
use crate::host::files::ReadSlot;
use crate::host::process::ProcessTable;
use crate::net::multiaddr::Transport;

pub use bound::MAX_PORT_ENTRIES;
pub use check::{PortsSection, NAME};
pub use claims::{exporter_claim, multiaddr_claim};
pub use conflicts::overlaps;
pub use flags::{resolve, PortsArgs};
pub use listeners::{tcp_listeners_for, Holder, Listener, SocketReader, SocketSource};
use readers::{blocking, Reader};

/// Check name: reading ipfs-cluster-service's `service.json`.
pub const CHECK_CLUSTER_SERVICE_CONFIG: &str = "ports_cluster_service_config";
/// Check name: reading Lotus's `config.toml`.
pub const CHECK_LOTUS_CONFIG: &str = "ports_lotus_config";
/// Check name: reading Kubo's `config`.
pub const CHECK_KUBO_CONFIG: &str = "ports_kubo_config";
/// Check name: reading the listening sockets (netlink or `/proc/net/*`) and their owners.
pub const CHECK_LISTENERS: &str = "ports_listeners";

/// Service name of ipfs-cluster-service.
pub const SERVICE_CLUSTER: &str = "ipfs-cluster-service";
/// Service name prefix of an ipfs-cluster-follow peer (`ipfs-cluster-follow:<cluster name>`).
pub const SERVICE_FOLLOW: &str = "ipfs-cluster-follow";
/// Service name of the Lotus daemon.
pub const SERVICE_LOTUS: &str = "lotus";
/// Service name of the Kubo (go-ipfs) daemon.
pub const SERVICE_KUBO: &str = "kubo";
/// Service name of this exporter.
pub const SERVICE_EXPORTER: &str = "lotus-follow-exporter";

/// Settings of the ports check.
#[derive(Debug, Clone, Default)]
pub struct PortsConfig {
    /// ipfs-cluster-service's `service.json` (default `~/.ipfs-cluster/service.json`, or `$IPFS_CLUSTER_PATH`).
    pub cluster_service_config: PathBuf,
    /// Lotus's `config.toml` (`$LOTUS_PATH/config.toml`).
    pub lotus_config: PathBuf,
    /// The Lotus API address in use (TCP host and port, only when on this host), the claim
    /// when `config.toml` sets none.
    pub lotus_api: Option<(String, u16)>,
    /// Kubo's config (`$IPFS_PATH/config`, default `~/.ipfs/config`).
    pub kubo_config: PathBuf,
    /// This exporter's own listen addresses (`--web.listen-address`).
    pub own_listen: Vec<String>,
}

/// The address part of a claim.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BindAddress {
    /// A literal address; `0.0.0.0` and `::` are the wildcards of their family.
    Ip(IpAddr),
    /// Every address of both families (the exporter's `:port` form).
    Every,
    /// A DNS name, not resolved.
    Name(String),
}

impl BindAddress {
    /// A literal address, IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) turned into IPv4.
    pub fn ip(ip: IpAddr) -> BindAddress {
        BindAddress::Ip(ip.to_canonical())
    }
}

impl fmt::Display for BindAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindAddress::Ip(ip) => write!(f, "{ip}"),
            BindAddress::Every => f.write_str("*"),
            BindAddress::Name(name) => f.write_str(name),
        }
    }
}

/// One service configured to listen on one socket address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Claim {
    /// `ipfs-cluster-service`, `ipfs-cluster-follow:<name>`, `lotus`, `kubo`, `lotus-follow-exporter`.
    pub service: String,
    /// What the socket is for: `restapi`, `ipfsproxy`, `pinsvcapi`, `swarm`, `metrics`, `api`, `gateway`.
    pub role: String,
    pub protocol: Transport,
    pub address: BindAddress,
    pub port: u16,
    /// Where the claim comes from when more than one place could say it (the Lotus API: `lotus
    /// daemon --api`, `LOTUS_API_LISTENADDRESS`, the repo's `api` file, `config.toml`, the
    /// address in use); `None` for the others, whose config file is the check's.
    pub source: Option<ClaimSource>,
}

/// Where a claim's address comes from: a kind (the `source` label of `port_claim_info`) and
/// the same in words, with the pid and the paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimSource {
    /// One of the `SOURCE_*` constants.
    pub kind: &'static str,
    pub text: String,
}

/// Claim source: the running daemon's command line (`lotus daemon --api`).
pub const SOURCE_DAEMON_FLAG: &str = "daemon_flag";
/// Claim source: the running daemon's environment (`LOTUS_API_LISTENADDRESS`).
pub const SOURCE_DAEMON_ENVIRONMENT: &str = "daemon_environment";
/// Claim source: the `api` file the running daemon wrote in its repo.
pub const SOURCE_API_FILE: &str = "api_file";
/// Claim source: the config file (`[API] ListenAddress` of `config.toml`).
pub const SOURCE_CONFIG_FILE: &str = "config_file";
/// Claim source: the address the exporter uses (`--lotus.api`, `FULLNODE_API_INFO`, the api
/// file at start), when the config file sets none.
pub const SOURCE_ADDRESS_IN_USE: &str = "address_in_use";

impl Claim {
    /// The order claims are listed in: by port, protocol, service, role, address.
    fn sort_key(&self) -> (u16, Transport, &str, &str, &BindAddress) {
        (
            self.port,
            self.protocol,
            &self.service,
            &self.role,
            &self.address,
        )
    }
}

/// Sort claims deterministically and drop exact duplicates.
pub fn sort_claims(claims: &mut Vec<Claim>) {
    claims.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    claims.dedup();
}

/// What one follower claims, as the follow check found it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowerClaims {
    pub cluster_name: String,
    /// Host and port of its TCP API; `None` when the API is a unix socket or unusable.
    pub api: Option<(String, u16)>,
    /// Multiaddrs from the follower's `/id` `addresses`.
    pub swarm_addresses: Vec<String>,
    /// The follower's running process, when matched: its sockets are the follower's own whatever
    /// its arguments call the cluster.
    pub pid: Option<u32>,
    /// Known only from a process of this user, whom the exporter does not trust: its claims are
    /// that user's, shown as such and never a configured conflict.
    pub untrusted_user: Option<String>,
}

/// What the host's configs and sockets say, before followers' claims are merged in.
#[derive(Debug, Clone, Default)]
pub struct PortsObservation {
    pub checks: Vec<CheckResult>,
    /// Claims from the config files and the exporter's own flags.
    pub claims: Vec<Claim>,
    /// Listening sockets with their owners; `None` when the socket tables could not be read.
    pub listeners: Option<Vec<Listener>>,
    /// Where the listening sockets were read; `None` when they were not.
    pub listener_source: Option<SocketSource>,
    /// This host's interface addresses (which follower addresses are claims here).
    pub host_addresses: host::HostAddresses,
    /// The pid of the `lotus daemon` of `config.toml`'s repo, when one runs: where it really
    /// listens is set against its API's claim ([`daemon_listener`]).
    pub lotus_daemon: Option<u32>,
}

/// One claimed (port, protocol) of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortEntry {
    pub port: u16,
    pub protocol: Transport,
    /// Every claim on this port and protocol, sorted.
    pub claims: Vec<Claim>,
    /// Programs listening on it (`unknown` for a socket whose owner cannot be seen), sorted;
    /// empty when nothing listens; `None` when the listeners could not be read (then `reason`
    /// says runtime conflicts are unknown).
    pub listeners: Option<Vec<String>>,
    pub conflict: bool,
    /// Why this is a conflict, in words; also set, without a conflict, when the runtime verdict
    /// could not be made or an untrusted claim collides. `None` when there is nothing to say.
    pub reason: Option<String>,
    /// Claims on this port by processes of users the exporter does not trust: service -> user.
    pub untrusted: BTreeMap<String, String>,
    /// The users whose untrusted claims collide here with another claim or a listener (sorted):
    /// never a conflict, but said.
    pub untrusted_collisions: Vec<String>,
}

/// The port plan with conflicts.
#[derive(Debug, Clone, Default)]
pub struct PortsReport {
    pub checks: Vec<CheckResult>,
    /// One entry per claimed (port, protocol), sorted by port then protocol.
    pub entries: Vec<PortEntry>,
    /// Where the listening sockets were read; `None` when they were not.
    pub listener_source: Option<SocketSource>,
}

impl PortsReport {
    /// True when any entry is in conflict.
    pub fn has_conflict(&self) -> bool {
        self.entries.iter().any(|e| e.conflict)
    }
}

impl PortsObservation {
    /// The observation of a ports check that did not finish before the scrape deadline.
    pub fn timed_out(elapsed: Duration) -> PortsObservation {
        PortsObservation {
            checks: [
                CHECK_CLUSTER_SERVICE_CONFIG,
                CHECK_LOTUS_CONFIG,
                CHECK_KUBO_CONFIG,
                CHECK_LISTENERS,
            ]
            .into_iter()
            .map(|check| CheckResult::new(check, CheckStatus::TimedOut, elapsed))
            .collect(),
            ..PortsObservation::default()
        }
    }
}

/// The ports check.
#[derive(Debug)]
pub struct PortsCheck {
    config: PortsConfig,
    /// Claims from `--web.listen-address`, parsed once.
    own_claims: Vec<Claim>,
    /// Socket owners found in `/proc/<pid>/fd`, reused while still true.
    owners: Arc<Mutex<owners::OwnerCache>>,
    /// How the socket tables are read (netlink unless the `/proc/net` fallback is asked for).
    reader: SocketReader,
    /// One read in flight per reader: cluster-service config, Lotus config, Kubo config, /proc/net.
    slots: [ReadSlot; 4],
}

impl PortsCheck {
    pub fn new(config: PortsConfig) -> PortsCheck {
        let own_claims = config
            .own_listen
            .iter()
            .filter_map(|listen| match exporter_claim(listen) {
                Ok(claim) => Some(claim),
                Err(err) => {
                    log::warn!("port plan: leaving out this exporter's listen address: {err}");
                    None
                }
            })
            .collect();
        PortsCheck {
            config,
            own_claims,
            owners: Arc::default(),
            reader: SocketReader::default(),
            slots: Default::default(),
        }
    }

    /// The check reading the socket tables with `reader` (`SocketReader::ProcNet` forces the
    /// `/proc/net` fallback, for tests and comparisons).
    pub fn with_socket_reader(mut self, reader: SocketReader) -> PortsCheck {
        self.reader = reader;
        self
    }

    /// Read the configs and the socket tables before `deadline`.
    pub async fn observe(&self, deadline: Instant, procs: Arc<ProcessTable>) -> PortsObservation {
        let cluster_path = self.config.cluster_service_config.clone();
        let lotus_path = self.config.lotus_config.clone();
        let lotus_api = self.config.lotus_api.clone();
        let lotus_procs = procs.clone();
        let kubo_path = self.config.kubo_config.clone();
        let owners = self.owners.clone();
        let reader_kind = self.reader;
        let table = procs.clone();
        let [cluster_slot, lotus_slot, kubo_slot, sockets_slot] = &self.slots;
        let reader = |check, slot: &ReadSlot, path: &Path| Reader {
            check,
            slot: slot.clone(),
            what: path.display().to_string(),
        };
        let (cluster, lotus, kubo, sockets) = tokio::join!(
            blocking(
                deadline,
                reader(CHECK_CLUSTER_SERVICE_CONFIG, cluster_slot, &cluster_path),
                move || claims::cluster_service_check(&cluster_path)
            ),
            blocking(
                deadline,
                reader(CHECK_LOTUS_CONFIG, lotus_slot, &lotus_path),
                move || {
                    // The repo is the folder of config.toml; its daemon may override the file.
                    let repo = lotus_path.parent().unwrap_or(Path::new("/"));
                    let environ = crate::host::process::read_environ;
                    let trust = claims::DaemonTrust::of(repo);
                    let daemon = claims::daemon_api(&lotus_procs, repo, &environ, trust);
                    let (status, claims) =
                        claims::lotus_check(&lotus_path, lotus_api.as_ref(), &daemon);
                    (status, claims, daemon.pid)
                }
            ),
            blocking(
                deadline,
                reader(CHECK_KUBO_CONFIG, kubo_slot, &kubo_path),
                move || claims::kubo_check(&kubo_path)
            ),
            blocking(
                deadline,
                reader(
                    CHECK_LISTENERS,
                    sockets_slot,
                    Path::new("the socket tables")
                ),
                move || {
                    // Taken out for the scan, so no lock is held across the reads; a scan still
                    // running from a timed-out round leaves the next one an empty cache.
                    let mut cache = std::mem::take(&mut *lock(&owners));
                    let root = Path::new(listeners::PROC_ROOT);
                    let scan = listeners::read_listening_sockets_cached(
                        root,
                        reader_kind,
                        &mut cache,
                        &table,
                    );
                    *lock(&owners) = cache;
                    let (addresses, problems) = host::read_host_addresses(root);
                    if !problems.is_empty() {
                        log::debug!("host addresses: {}", problems.join("; "));
                    }
                    (scan, addresses)
                }
            ),
        );
        let mut observation = PortsObservation {
            claims: self.own_claims.clone(),
            ..PortsObservation::default()
        };
        let (lotus_check, lotus_outcome) = lotus;
        observation.lotus_daemon = lotus_outcome.as_ref().ok().and_then(|(_, _, pid)| *pid);
        let lotus = (
            lotus_check,
            lotus_outcome.map(|(status, claims, _)| (status, claims)),
        );
        for (check, outcome) in [cluster, lotus, kubo] {
            let (status, claims) = match outcome {
                Ok((status, claims)) => (status, claims),
                Err(status) => (status, Vec::new()),
            };
            observation.claims.extend(claims);
            observation.checks.push(check.result(status));
        }
        let (check, outcome) = sockets;
        let status = match outcome {
            Ok((Ok(scan), addresses)) => {
                observation.listeners =
                    Some(listeners::name_holders(&scan, &procs, std::process::id()));
                observation.listener_source = Some(scan.source);
                observation.host_addresses = addresses;
                CheckStatus::Ok
            }
            Ok((Err(err), addresses)) => {
                observation.host_addresses = addresses;
                CheckStatus::Failed(format!(
                    "{err}: who listens is unknown, so runtime conflicts are unknown"
                ))
            }
            Err(status) => status,
        };
        observation.checks.push(check.result(status));
        sort_claims(&mut observation.claims);
        observation
    }
}

use crate::host::lock;

/// Merge the host observation with the followers' claims into the final plan (pure, no I/O).
pub fn assemble_with(observation: PortsObservation, followers: &[FollowerClaims]) -> PortsReport {
    let mut all_claims = observation.claims;
    let mut own = conflicts::ServicePids::new();
    let mut untrusted = conflicts::Untrusted::new();
    for follower in followers {
        let plan = claims::follower_claims(follower, &observation.host_addresses);
        log_swarm_cap(&follower.cluster_name, plan.swarm_dropped);
        let service = format!("{SERVICE_FOLLOW}:{}", follower.cluster_name);
        if let Some(pid) = follower.pid {
            own.entry(service.clone()).or_default().insert(pid);
        }
        if let Some(user) = &follower.untrusted_user {
            untrusted.insert(service, user.clone());
        }
        all_claims.extend(plan.claims);
    }
    // Port 0 means "any free port": nothing to collide with.
    all_claims.retain(|claim| claim.port != 0);
    sort_claims(&mut all_claims);
    let listeners = observation.listeners.as_deref();
    let mut entries = conflicts::plan_entries(all_claims, listeners, &own, &untrusted);
    daemon_listener::note_daemon_elsewhere(&mut entries, listeners, observation.lotus_daemon);
    PortsReport {
        checks: observation.checks,
        entries,
        listener_source: observation.listener_source,
    }
}

/// Set once the swarm-claim cap has been logged.
static SWARM_CAP_LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn log_swarm_cap(cluster_name: &str, dropped: usize) {
    use std::sync::atomic::Ordering;
    if dropped > 0 && !SWARM_CAP_LOGGED.swap(true, Ordering::Relaxed) {
        log::warn!(
            "follower {cluster_name}: its /id lists more than {} swarm addresses on this host; \
             {dropped} left out of the port plan (logged once)",
            claims::MAX_SWARM_CLAIMS
        );
    }
}

/// A bind address for tests: `*` (every address), an IP, else a DNS name.
#[cfg(test)]
pub(crate) fn test_address(text: &str) -> BindAddress {
    match text {
        "*" => BindAddress::Every,
        _ => text
            .parse()
            .map(BindAddress::ip)
            .unwrap_or_else(|_| BindAddress::Name(text.into())),
    }
}

/// A claim for tests, its address as [`test_address`] reads it.
#[cfg(test)]
pub(crate) fn test_claim(
    service: &str,
    role: &str,
    protocol: Transport,
    address: &str,
    port: u16,
) -> Claim {
    Claim {
        service: service.into(),
        role: role.into(),
        protocol,
        address: test_address(address),
        port,
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_files_are_skipped_and_listeners_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let check = PortsCheck::new(PortsConfig {
            cluster_service_config: dir.path().join("service.json"),
            lotus_config: dir.path().join("config.toml"),
            lotus_api: None,
            kubo_config: dir.path().join("config"),
            own_listen: vec![":10234".into(), "bad address".into()],
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let observation = check
            .observe(deadline, Arc::new(ProcessTable::default()))
            .await;
        let names: Vec<_> = observation.checks.iter().map(|c| c.check).collect();
        assert_eq!(
            names,
            [
                CHECK_CLUSTER_SERVICE_CONFIG,
                CHECK_LOTUS_CONFIG,
                CHECK_KUBO_CONFIG,
                CHECK_LISTENERS
            ]
        );
        for result in &observation.checks[..3] {
            assert!(
                matches!(result.status, CheckStatus::Skipped(_)),
                "{result:?}"
            );
        }
        assert_eq!(observation.checks[3].status, CheckStatus::Ok);
        assert!(observation.listeners.is_some());
        assert_eq!(observation.claims.len(), 1);
        assert_eq!(observation.claims[0].service, SERVICE_EXPORTER);
        assert_eq!(observation.claims[0].address, BindAddress::Every);
    }

    #[tokio::test]
    async fn a_passed_deadline_times_out_every_sub_check() {
        let check = PortsCheck::new(PortsConfig::default());
        let observation = check
            .observe(Instant::now() - Duration::from_millis(1), Arc::default())
            .await;
        assert_eq!(observation.checks.len(), 4);
        // A reader may finish before the timer is polled; none may fail or crash.
        for result in &observation.checks {
            assert!(
                !matches!(result.status, CheckStatus::Failed(_)),
                "{result:?}"
            );
        }
    }

    #[test]
    fn assemble_keeps_checks_and_sorts_entries() {
        let claim =
            |service: &str, port| test_claim(service, "api", Transport::Tcp, "127.0.0.1", port);
        let observation = PortsObservation {
            checks: vec![CheckResult::new(
                CHECK_LISTENERS,
                CheckStatus::Ok,
                Duration::ZERO,
            )],
            claims: vec![claim(SERVICE_LOTUS, 1234), claim(SERVICE_KUBO, 5001)],
            listeners: None,
            listener_source: None,
            host_addresses: Default::default(),
            lotus_daemon: None,
        };
        let followers = [FollowerClaims {
            cluster_name: "c".into(),
            api: Some(("127.0.0.1".into(), 1234)),
            swarm_addresses: vec![],
            pid: None,
            untrusted_user: None,
        }];
        let report = assemble_with(observation, &followers);
        assert_eq!(report.checks.len(), 1);
        let ports: Vec<_> = report.entries.iter().map(|e| e.port).collect();
        assert_eq!(ports, [1234, 5001]);
        assert!(report.entries[0].conflict);
        assert!(!report.entries[1].conflict);
        assert!(report.has_conflict());
    }
}
