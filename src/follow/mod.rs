//! The ipfs-cluster-follow check: find the followers on this host, ask each one's REST API
//! (unix socket or TCP) who it is, whom it sees and how its pins fare, and look at the host.
//!
//! # Checks
//! Every [`CheckResult`] this module produces has one of these names ([`CHECKS`]):
//!
//! | check | scope | what it does |
//! |---|---|---|
//! | `follow_discovery` | host | lists the config folder and the process table to find followers |
//! | `follow_binary` | host | `ipfs-cluster-follow --version` of the binary on `PATH` (rerun when the file changes) |
//! | `follow_api` | follower | `GET /id`, every scrape; reachable only for a real cluster ID object |
//! | `follow_pins` | follower | `GET /pins?local=true&filter=<operation states>`, every scrape |
//! | `follow_pins_listing` | follower | full `GET /pins?local=true`, at most every refresh interval (cached) |
//! | `follow_trust` | follower | `GET /health/graph` trusted peers, at most every refresh interval (cached) |
//! | `follow_process` | follower | is an `ipfs-cluster-follow <name> run` process alive |
//!
//! Host checks travel in the [`FollowHost`] that [`FollowChecks::run`] returns beside the reports.
//!
//! # Verdicts
//! `status`: running (the API answers as a cluster API) | stopped (nothing answers and no
//! process) | error (a process or a listener is there but the API fails or is an impostor).
//! `health`: unhealthy (API not reachable) | degraded (reachable but no cluster peer besides
//! itself, IPFS unreachable, pins in an error state, or the live pin count failed) | healthy.
//!
//! # Caveats
//! The cached checks (listing, trust) run under the scrape deadline like the others: a follower
//! whose full listing takes longer than the scrape timeout never gets one (the check times out
//! and is retried after [`FAILED_RETRY`]).

pub mod api;
pub mod binary;
pub mod discovery;
pub mod pins;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::time::{timeout_at, Instant};

use crate::check::{still_running, CheckResult, CheckStatus, DaemonStatus, Health};
use crate::files::ReadSlot;
use crate::http_client::Endpoint;
use crate::process::ProcessTable;
use api::{ApiClient, ApiError, ClusterId};
use discovery::{Discovery, DiscoveryInput, Follower};
use pins::{ERROR_STATES, OPERATION_STATES, TRACKER_STATES};

pub use binary::{FollowBinary, FOLLOW_BINARY};
pub use discovery::{parse_api_spec, ApiSpec, FollowError, Source};

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

/// The largest `--follow.basic-auth-file` read (one `user:password` line).
pub const MAX_AUTH_FILE_BYTES: u64 = 64 * 1024;

/// A failed listing or trust graph is retried after this long (or the refresh interval, if shorter).
pub const FAILED_RETRY: Duration = Duration::from_secs(60);

/// Settings of the follow check, resolved from flags and environment.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// `--follow.api` (repeatable): `[NAME=]<multiaddr | http URL>`, parsed by [`parse_api_spec`]
    /// (usable as a clap `value_parser`). Merged with discovered followers.
    pub apis: Vec<ApiSpec>,
    /// `--follow.config-dir` (default `~/.ipfs-cluster-follow`): every `<name>/` below holding a
    /// `service.json` or an `api-socket` is a follower, running or not; also the folder assumed
    /// for a follow process whose environment is unreadable.
    pub config_dir: PathBuf,
    /// `config_dir` was named by `--follow.config-dir`: a missing folder fails discovery.
    pub config_dir_explicit: bool,
    /// `--follow.basic-auth-file`: a file holding `user:password` for the REST API (read at every
    /// scrape, so it may be rotated).
    pub basic_auth_file: Option<PathBuf>,
    /// `--follow.refresh-interval` (default 5m): how often the expensive full pin listing and the
    /// trust graph are fetched.
    pub refresh_interval: Duration,
    /// `--follow.max-body-bytes` (default 4 MiB): largest `/id` or `/health/graph` body read. An `/id`
    /// lists every cluster peer with its addresses: ~600 bytes a peer, so ~7000 peers fit.
    pub body_cap: usize,
    /// Largest single line of the `/pins` stream (default 64 KiB, no flag; one pin
    /// with its metadata); the stream itself is counted line by line and never held.
    pub pin_line_cap: usize,
    /// `--follow.max-followers` (default 64): followers checked per scrape; the rest are dropped
    /// (logged once).
    pub max_followers: usize,
    /// Where to look for the `ipfs-cluster-follow` binary (a `PATH`-style list); `None` means the
    /// exporter's own `$PATH`. Mostly for tests.
    pub binary_search_path: Option<OsString>,
    /// `--follow.process-discovery` (default true): find followers among running
    /// `ipfs-cluster-follow <name> run` processes too.
    pub discover_processes: bool,
}

impl Default for FollowConfig {
    fn default() -> FollowConfig {
        FollowConfig {
            apis: Vec::new(),
            config_dir: default_config_dir(),
            config_dir_explicit: false,
            basic_auth_file: None,
            refresh_interval: Duration::from_secs(5 * 60),
            body_cap: 4 * 1024 * 1024,
            pin_line_cap: 64 * 1024,
            max_followers: 64,
            binary_search_path: None,
            discover_processes: true,
        }
    }
}

/// `$HOME/.ipfs-cluster-follow` (ipfs-cluster-follow's own default folder).
pub fn default_config_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".ipfs-cluster-follow")
}

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
    /// Live counts of the operation states, every one of [`OPERATION_STATES`] present.
    pub pins: Option<BTreeMap<String, u64>>,
    /// Counts from the last full listing (cached), every one of [`TRACKER_STATES`] present.
    pub pins_listed: Option<BTreeMap<String, u64>>,
    /// When the full listing last succeeded (present even when the latest attempt failed).
    pub pins_listed_at: Option<SystemTime>,
    /// An `ipfs-cluster-follow <name> run` process is alive.
    pub running: Option<bool>,
    /// The pid of that process, when it was matched to this follower (by its name, its API or
    /// its folder): the port plan knows the follower's own sockets by it.
    pub pid: Option<u32>,
    /// Its libp2p addresses from `/id` (for the port plan); from its last good `/id` when it
    /// does not answer this time.
    pub swarm_addresses: Vec<String>,
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
    /// `stopped`, `api_unreachable`, `no_cluster_peers`, `ipfs_unreachable`, `pins_unknown`,
    /// `pin_errors`.
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

/// Host-level outcome of the follow check, not tied to one follower.
#[derive(Debug, Clone, Default)]
pub struct FollowHost {
    /// The `ipfs-cluster-follow` binary is on PATH and answers `--version`.
    pub binary_available: Option<bool>,
    /// How many followers each source found, every source present; `None` when discovery did
    /// not finish.
    pub found_by: Option<Vec<(discovery::Source, usize)>>,
    /// Followers found but not watched because of `--follow.max-followers`; `None` when
    /// discovery did not finish.
    pub over_cap: Option<usize>,
    /// `follow_discovery` and `follow_binary`.
    pub checks: Vec<CheckResult>,
}

impl FollowHost {
    /// The host section of a follow check that did not finish before the scrape deadline.
    pub fn timed_out(elapsed: Duration) -> FollowHost {
        FollowHost {
            binary_available: None,
            found_by: None,
            over_cap: None,
            checks: [CHECK_DISCOVERY, CHECK_BINARY]
                .into_iter()
                .map(|check| CheckResult::new(check, CheckStatus::TimedOut, elapsed))
                .collect(),
        }
    }
}

/// The follow check with its caches (slow-interval figures, binary version).
#[derive(Debug)]
pub struct FollowChecks {
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
    shadowed_logged: std::collections::BTreeSet<String>,
}

/// Cached slow figures of one follower.
#[derive(Debug)]
struct SlowCache {
    endpoint: Endpoint,
    listing: Slow<BTreeMap<String, u64>>,
    trust: Slow<u64>,
}

/// One cached, rarely refreshed figure.
#[derive(Debug)]
struct Slow<T> {
    last_attempt: Option<Instant>,
    outcome: Option<Result<T, CheckStatus>>,
    last_success: Option<SystemTime>,
}

impl<T> Default for Slow<T> {
    fn default() -> Self {
        Slow {
            last_attempt: None,
            outcome: None,
            last_success: None,
        }
    }
}

impl<T: Clone> Slow<T> {
    fn due(&self, now: Instant, interval: Duration) -> bool {
        match (self.last_attempt, &self.outcome) {
            (Some(at), Some(Ok(_))) => now.duration_since(at) >= interval,
            (Some(at), _) => now.duration_since(at) >= interval.min(FAILED_RETRY),
            (None, _) => true,
        }
    }

    fn record(&mut self, outcome: Result<T, CheckStatus>) {
        if outcome.is_ok() {
            self.last_success = Some(SystemTime::now());
        }
        self.outcome = Some(outcome);
    }

    fn current(&self) -> (Option<T>, CheckStatus) {
        match &self.outcome {
            Some(Ok(value)) => (Some(value.clone()), CheckStatus::Ok),
            Some(Err(status)) => (None, status.clone()),
            None => (None, CheckStatus::Failed("not fetched yet".to_string())),
        }
    }
}

impl FollowChecks {
    pub fn new(config: FollowConfig) -> FollowChecks {
        FollowChecks {
            config,
            state: Mutex::new(State::default()),
            discovery_slot: ReadSlot::default(),
            auth_slot: ReadSlot::default(),
            binary_probe: binary::BinaryProbe::default(),
        }
    }

    /// The binary as seen by the latest [`run`](Self::run) (for a host-level figure when no
    /// follower is found).
    pub fn binary(&self) -> FollowBinary {
        self.binary_probe.last()
    }

    /// Shortcut for `binary().available`.
    pub fn binary_available(&self) -> Option<bool> {
        self.binary().available
    }

    /// Check every follower, concurrently, before `deadline`: one report per follower, plus the
    /// host-level checks (`follow_discovery`, `follow_binary`). When the process table could not
    /// be read (`procs` is `Err`), whether each follower runs is unknown, not "no".
    pub async fn run(
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
        // A panic while holding the lock leaves plain cache data; keep using it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn discover(
        &self,
        deadline: Instant,
        procs: Arc<ProcessTable>,
    ) -> (Discovery, CheckResult) {
        let started = std::time::Instant::now();
        let specs = self.config.apis.clone();
        let config_dir = self.config.config_dir.clone();
        let config_dir_explicit = self.config.config_dir_explicit;
        let max_followers = self.config.max_followers;
        let Some(guard) = self.discovery_slot.try_take() else {
            let what = format!("{} and the followers' /proc entries", config_dir.display());
            let check = CheckResult::new(CHECK_DISCOVERY, still_running(&what), started.elapsed());
            return (Discovery::only_flags(&specs, max_followers), check);
        };
        let task = tokio::task::spawn_blocking(move || {
            let _held = guard;
            // /etc/passwd at most once per pass, however many processes ask (a host may run
            // dozens of follow processes, each another user's).
            let passwd_text = std::cell::OnceCell::new();
            let passwd = || {
                passwd_text
                    .get_or_init(crate::permissions::read_passwd)
                    .as_deref()
                    .unwrap_or_default()
            };
            let owner_home = |pid: u32| {
                let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
                let uid = crate::permissions::owner_of(&proc_dir)?;
                crate::process::home_dir_in(passwd(), uid)
            };
            let user_name = |uid: u32| crate::permissions::name_in(passwd(), uid);
            discovery::discover(&DiscoveryInput {
                specs: &specs,
                config_dir: &config_dir,
                config_dir_explicit,
                procs: &procs,
                environ: &crate::process::read_environ,
                owner_home: &owner_home,
                owner_of: &crate::permissions::owner_of,
                user_name: &user_name,
                own_uid: crate::permissions::own_uid(),
                max_followers,
            })
        });
        // Followers named by flag need no file access: they are checked even when the rest
        // of discovery did not finish.
        let (mut found, status) = match timeout_at(deadline, task).await {
            Err(_) => (
                Discovery::only_flags(&self.config.apis, max_followers),
                CheckStatus::TimedOut,
            ),
            Ok(Err(join)) => (
                Discovery::only_flags(&self.config.apis, max_followers),
                CheckStatus::Failed(format!("discovery task failed: {join}")),
            ),
            Ok(Ok(found)) if found.problems.is_empty() => (found, CheckStatus::Ok),
            Ok(Ok(found)) => {
                let reason = found.problems.join("; ");
                (found, CheckStatus::Failed(reason))
            }
        };
        if !self.config.discover_processes {
            // Processes were not looked at: no count of them, rather than a 0 that says none run.
            found
                .found_by
                .retain(|(source, _)| *source != Source::Process);
        }
        self.log_cap(found.dropped);
        if !found.found_by.is_empty() {
            // Discovery ran to its end (a timed-out one says nothing about the pairs).
            self.log_shadowed(&found.shadowed);
        }
        let check = CheckResult::new(CHECK_DISCOVERY, status, started.elapsed());
        (found, check)
    }

    fn log_cap(&self, dropped: usize) {
        if dropped == 0 {
            return;
        }
        let mut state = self.lock();
        if !state.cap_logged {
            state.cap_logged = true;
            log::warn!(
                "found more than {} ipfs-cluster followers; {dropped} are not checked (raise --follow.max-followers)",
                self.config.max_followers
            );
        }
    }

    /// Warn once about each pair of followers that share a cluster name, for as long as they
    /// do (only the pairs of this discovery are remembered: processes that come and go with new
    /// names cannot grow the set without bound).
    fn log_shadowed(&self, shadowed: &[String]) {
        let mut state = self.lock();
        state
            .shadowed_logged
            .retain(|logged| shadowed.contains(logged));
        for message in shadowed {
            if state.shadowed_logged.insert(message.clone()) {
                log::warn!("{message}");
            }
        }
    }

    /// `Ok(None)` without auth, `Ok(Some("user:password"))`, or why the file is unusable. The
    /// file must be a regular file of at most [`MAX_AUTH_FILE_BYTES`].
    async fn read_basic_auth(&self, deadline: Instant) -> Result<Option<String>, String> {
        let Some(path) = &self.config.basic_auth_file else {
            return Ok(None);
        };
        let flag = |what: String| format!("--follow.basic-auth-file {}: {what}", path.display());
        let Some(guard) = self.auth_slot.try_take() else {
            return Err(still_running(&path.display().to_string())
                .failure()
                .unwrap_or_default());
        };
        let owned = path.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _held = guard;
            crate::files::read_capped(&owned, MAX_AUTH_FILE_BYTES)
        });
        let raw = match timeout_at(deadline, task).await {
            Err(_) => return Err(flag("timed out reading it".into())),
            Ok(Err(join)) => return Err(flag(format!("reader failed: {join}"))),
            Ok(Ok(Err(e))) => return Err(flag(format!("cannot read it: {e}"))),
            Ok(Ok(Ok(None))) => return Err(flag("cannot read it: it does not exist".into())),
            Ok(Ok(Ok(Some(raw)))) => raw,
        };
        let text = String::from_utf8(raw).map_err(|_| flag("not UTF-8 text".into()))?;
        parse_basic_auth(&text).map(Some).map_err(flag)
    }

    /// One follower's report, with the reasons of its verdict.
    async fn check_follower(
        &self,
        follower: &Follower,
        auth: &Result<Option<String>, String>,
        procs: &Result<Arc<ProcessTable>, String>,
        deadline: Instant,
        last_check: SystemTime,
    ) -> FollowReport {
        let mut report = self
            .ask_follower(follower, auth, procs, deadline, last_check)
            .await;
        report.reasons = reasons_of(&report);
        report
    }

    async fn ask_follower(
        &self,
        follower: &Follower,
        auth: &Result<Option<String>, String>,
        procs: &Result<Arc<ProcessTable>, String>,
        deadline: Instant,
        last_check: SystemTime,
    ) -> FollowReport {
        let mut report = empty_report(follower, last_check);
        let (running, process_status) = process_verdict(follower, procs);
        report.running = running;
        report.checks.push(self.named(
            follower,
            CheckResult::new(CHECK_PROCESS, process_status, Duration::ZERO),
        ));
        let client = match (&follower.api, auth) {
            (Err(reason), _) => Err(format!("the API setting cannot be used: {reason}")),
            (_, Err(reason)) => Err(reason.clone()),
            // Credentials go only to followers the operator configured, never to an endpoint
            // that only a process pointed at.
            (Ok(endpoint), Ok(creds)) => Ok(ApiClient::new(
                endpoint.clone(),
                creds.as_deref().filter(|_| follower.trusted),
                self.config.body_cap,
                self.config.pin_line_cap,
            )),
        };
        let client = match client {
            Ok(client) => client,
            Err(reason) => {
                report.checks.push(self.named(
                    follower,
                    CheckResult::new(CHECK_API, CheckStatus::Failed(reason), Duration::ZERO),
                ));
                report.api_reachable = Some(false);
                self.not_run(
                    &mut report,
                    follower,
                    "not run: the follower's API cannot be addressed",
                );
                report.status = DaemonStatus::Error;
                report.health = Health::Unhealthy;
                return report;
            }
        };
        let started = std::time::Instant::now();
        let known_id = self.lock().peer_ids.get(&follower.name).cloned();
        // The live pin count runs alongside /id with the peer id of the last round; it is used
        // only if /id proves a cluster API with that same id.
        let (id, early_pins) = tokio::join!(
            async {
                let id = client.id(deadline).await;
                (id, started.elapsed())
            },
            async {
                match &known_id {
                    Some(known) => Some(self.live_pins(&client, known, deadline).await),
                    None => None,
                }
            },
        );
        let (id, id_duration) = id;
        match id {
            Ok(id) => {
                report.checks.push(self.named(
                    follower,
                    CheckResult::new(CHECK_API, CheckStatus::Ok, id_duration),
                ));
                let early_pins = early_pins.filter(|_| known_id.as_deref() == Some(id.id.as_str()));
                {
                    let mut state = self.lock();
                    state.peer_ids.insert(follower.name.clone(), id.id.clone());
                    state
                        .swarm_addresses
                        .insert(follower.name.clone(), id.addresses.clone());
                }
                self.ask_reachable(&mut report, follower, &client, &id, early_pins, deadline)
                    .await;
            }
            Err(error) => {
                let status = api_status(&error);
                report.checks.push(self.named(
                    follower,
                    CheckResult::new(CHECK_API, status.clone(), started.elapsed()),
                ));
                // Not answering in time is not answering: 0, as `lotus_up` is for a hung Lotus.
                report.api_reachable = Some(false);
                report.swarm_addresses = self
                    .lock()
                    .swarm_addresses
                    .get(&follower.name)
                    .cloned()
                    .unwrap_or_default();
                self.not_run(
                    &mut report,
                    follower,
                    "not run: the API did not answer /id as an ipfs-cluster REST API",
                );
                report.status = if error.is_unreachable() && running != Some(true) {
                    DaemonStatus::Stopped
                } else {
                    DaemonStatus::Error
                };
                report.health = Health::Unhealthy;
            }
        }
        report
    }

    /// Record the pin and trust checks as failed because they could not run.
    fn not_run(&self, report: &mut FollowReport, follower: &Follower, reason: &str) {
        for name in [CHECK_PINS, CHECK_PINS_LISTING, CHECK_TRUST] {
            let status = CheckStatus::Failed(reason.to_string());
            report
                .checks
                .push(self.named(follower, CheckResult::new(name, status, Duration::ZERO)));
        }
        report.pins_listed_at = self
            .lock()
            .slow
            .get(&follower.name)
            .and_then(|cache| cache.listing.last_success);
    }

    /// With the API answering: live pins, and the slow figures when due.
    async fn ask_reachable(
        &self,
        report: &mut FollowReport,
        follower: &Follower,
        client: &ApiClient,
        id: &ClusterId,
        early_pins: Option<(Option<BTreeMap<String, u64>>, CheckResult)>,
        deadline: Instant,
    ) {
        report.api_reachable = Some(true);
        report.peer_id = Some(id.id.clone());
        report.peername = Some(id.peername.clone());
        report.version = Some(id.version.clone());
        report.peers = Some(id.other_peers());
        report.connected = Some(id.other_peers() > 0);
        report.ipfs_connected = id.ipfs_error.as_ref().map(String::is_empty);
        report.ipfs_error = id.ipfs_error.clone().filter(|e| !e.is_empty());
        report.swarm_addresses = id.addresses.clone();
        report.status = DaemonStatus::Running;

        let (live, listing, trust) = tokio::join!(
            async {
                match early_pins {
                    Some(done) => done,
                    None => self.live_pins(client, &id.id, deadline).await,
                }
            },
            self.listing(follower, client, &id.id, deadline),
            self.trust(follower, client, &id.id, deadline),
        );
        let (live_counts, live_check) = live;
        report.pins = live_counts;
        report.checks.push(self.named(follower, live_check));
        let ((listed, listed_at), listing_check) = listing;
        report.pins_listed = listed;
        report.pins_listed_at = listed_at;
        report.checks.push(self.named(follower, listing_check));
        let ((trusted, trusted_at), trust_check) = trust;
        report.trusted_peers = trusted;
        report.trusted_peers_at = trusted_at;
        report.checks.push(self.named(follower, trust_check));
        report.health = health_of(report);
    }

    async fn live_pins(
        &self,
        client: &ApiClient,
        own_id: &str,
        deadline: Instant,
    ) -> (Option<BTreeMap<String, u64>>, CheckResult) {
        let started = std::time::Instant::now();
        let outcome = client
            .pins(Some(&OPERATION_STATES), Some(own_id), deadline)
            .await;
        let (counts, status) = match outcome {
            Ok(counts) => (
                Some(with_zeros(&OPERATION_STATES, counts.by_status, false)),
                CheckStatus::Ok,
            ),
            Err(error) => (None, api_status(&error)),
        };
        (
            counts,
            CheckResult::new(CHECK_PINS, status, started.elapsed()),
        )
    }

    async fn listing(
        &self,
        follower: &Follower,
        client: &ApiClient,
        own_id: &str,
        deadline: Instant,
    ) -> (
        (Option<BTreeMap<String, u64>>, Option<SystemTime>),
        CheckResult,
    ) {
        let started = std::time::Instant::now();
        if self.claim_due(follower, &client.endpoint, |c| &mut c.listing) {
            let outcome = client
                .pins(None, Some(own_id), deadline)
                .await
                .map(|counts| with_zeros(&TRACKER_STATES, counts.by_status, true))
                .map_err(|e| api_status(&e));
            self.with_cache(follower, |c| c.listing.record(outcome));
        }
        let (value, at, status) = self
            .with_cache(follower, |c| {
                let (value, status) = c.listing.current();
                (value, c.listing.last_success, status)
            })
            .unwrap_or_else(not_fetched);
        let check = CheckResult::new(CHECK_PINS_LISTING, status, started.elapsed());
        ((value, at), check)
    }

    async fn trust(
        &self,
        follower: &Follower,
        client: &ApiClient,
        own_id: &str,
        deadline: Instant,
    ) -> ((Option<u64>, Option<SystemTime>), CheckResult) {
        let started = std::time::Instant::now();
        if self.claim_due(follower, &client.endpoint, |c| &mut c.trust) {
            let outcome = client
                .trusted_peers(own_id, deadline)
                .await
                .map_err(|e| api_status(&e));
            self.with_cache(follower, |c| c.trust.record(outcome));
        }
        let (value, at, status) = self
            .with_cache(follower, |c| {
                let (value, status) = c.trust.current();
                (value, c.trust.last_success, status)
            })
            .unwrap_or_else(not_fetched);
        (
            (value, at),
            CheckResult::new(CHECK_TRUST, status, started.elapsed()),
        )
    }

    /// True (and the attempt recorded) when this slow figure is due for `follower`. A follower
    /// whose endpoint changed starts with a fresh cache.
    fn claim_due<T: Clone>(
        &self,
        follower: &Follower,
        endpoint: &Endpoint,
        slow: impl FnOnce(&mut SlowCache) -> &mut Slow<T>,
    ) -> bool {
        let mut state = self.lock();
        let cache = state
            .slow
            .entry(follower.name.clone())
            .or_insert_with(|| SlowCache::new(endpoint.clone()));
        if cache.endpoint != *endpoint {
            *cache = SlowCache::new(endpoint.clone());
        }
        let slow = slow(cache);
        let now = Instant::now();
        let due = slow.due(now, self.config.refresh_interval);
        if due {
            slow.last_attempt = Some(now);
        }
        due
    }

    /// Apply `f` to the follower's cache (created by [`claim_due`](Self::claim_due) beforehand).
    fn with_cache<R>(&self, follower: &Follower, f: impl FnOnce(&mut SlowCache) -> R) -> Option<R> {
        self.lock().slow.get_mut(&follower.name).map(f)
    }

    fn forget_gone(&self, followers: &[Follower]) {
        self.lock()
            .slow
            .retain(|name, _| followers.iter().any(|f| &f.name == name));
        let mut state = self.lock();
        state
            .peer_ids
            .retain(|name, _| followers.iter().any(|f| &f.name == name));
        state
            .swarm_addresses
            .retain(|name, _| followers.iter().any(|f| &f.name == name));
    }

    fn named(&self, follower: &Follower, mut check: CheckResult) -> CheckResult {
        check.cluster_name = Some(follower.name.clone());
        check
    }

    /// Find the binary on PATH and run its `--version`, unless the same file was asked before.
    async fn check_binary(&self, deadline: Instant) -> (CheckResult, Option<bool>) {
        let started = std::time::Instant::now();
        let search = self
            .config
            .binary_search_path
            .clone()
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        let (binary, status) = self.binary_probe.check(&search, deadline).await;
        let available = binary.available;
        (
            CheckResult::new(CHECK_BINARY, status, started.elapsed()),
            available,
        )
    }
}

impl SlowCache {
    fn new(endpoint: Endpoint) -> SlowCache {
        SlowCache {
            endpoint,
            listing: Slow::default(),
            trust: Slow::default(),
        }
    }
}

fn not_fetched<T>() -> (Option<T>, Option<SystemTime>, CheckStatus) {
    (
        None,
        None,
        CheckStatus::Failed("not fetched yet".to_string()),
    )
}

/// `user:password` from the auth file's first line.
pub fn parse_basic_auth(text: &str) -> Result<String, String> {
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    match line.split_once(':') {
        Some((user, _)) if !user.is_empty() => Ok(line.to_string()),
        _ => Err("expected one line `user:password`".to_string()),
    }
}

/// Whether the follower's `ipfs-cluster-follow <name> run` process is alive here; unknown when
/// its API is on another host or the process table could not be read.
fn process_verdict(
    follower: &Follower,
    procs: &Result<Arc<ProcessTable>, String>,
) -> (Option<bool>, CheckStatus) {
    if matches!(&follower.api, Ok(endpoint) if !endpoint.is_local()) {
        let reason = "the follower's API is not on this host".to_string();
        return (None, CheckStatus::Skipped(reason));
    }
    match procs {
        Ok(table) => {
            // The process matched in discovery (whatever the follower's label), else one whose
            // arguments name the label.
            // A process of another user (not the follower folder's owner, not the exporter's)
            // cannot make a follower read as running by taking its name.
            let alive = follower
                .process
                .as_ref()
                .filter(|p| table.get(p.pid).is_some());
            if let Some(unverified) = alive.filter(|p| !p.verified) {
                let user = unverified
                    .uid
                    .map_or_else(|| "an unknown user".to_string(), |uid| format!("uid {uid}"));
                return (
                    None,
                    CheckStatus::Failed(format!(
                        "an ipfs-cluster-follow process named {:?} (pid {}) runs as {user}, whom the exporter cannot verify as this follower's (not its own user, not an owner of the config folder or of the named socket's folder): whether this follower runs is unknown; name its folder with --follow.config-dir, or run the exporter as that user",
                        unverified.cluster_name, unverified.pid
                    )),
                );
            }
            let matched = alive.is_some();
            let own = crate::permissions::own_uid();
            let found = matched
                || table.follow_peers().any(|(p, name)| {
                    name == follower.name
                        && p.uid
                            .is_some_and(|uid| uid == own || Some(uid) == follower.folder_owner)
                });
            match table.running(found) {
                Some(running) => (Some(running), CheckStatus::Ok),
                None => (
                    None,
                    CheckStatus::Failed(
                        "other users' processes are hidden (/proc mounted with hidepid)".into(),
                    ),
                ),
            }
        }
        Err(reason) => (None, CheckStatus::Failed(reason.clone())),
    }
}

fn empty_report(follower: &Follower, last_check: SystemTime) -> FollowReport {
    let api_port = match &follower.api {
        Ok(Endpoint::Tcp { port, .. }) => Some(*port),
        _ => None,
    };
    FollowReport {
        cluster_name: follower.name.clone(),
        api: follower.api_display(),
        api_port,
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
        running: None,
        // Only a verified process's sockets are the follower's own in the port plan.
        pid: follower
            .process
            .as_ref()
            .filter(|p| p.verified)
            .map(|p| p.pid),
        swarm_addresses: Vec::new(),
        status: DaemonStatus::Error,
        health: Health::Unhealthy,
        reasons: Vec::new(),
        last_check,
        checks: Vec::new(),
    }
}

/// A failed call as a check status: timeouts are `TimedOut`, the rest `Failed` with the message.
fn api_status(error: &ApiError) -> CheckStatus {
    if error.is_timeout() {
        CheckStatus::TimedOut
    } else {
        CheckStatus::Failed(error.to_string())
    }
}

/// Counts with a zero for every state in `states`; other statuses kept only when `keep_others`.
fn with_zeros(
    states: &[&str],
    counts: BTreeMap<String, u64>,
    keep_others: bool,
) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = states.iter().map(|s| (s.to_string(), 0)).collect();
    for (status, n) in counts {
        if keep_others || states.contains(&status.as_str()) {
            *out.entry(status).or_insert(0) += n;
        }
    }
    out
}

/// Why a follower is not healthy, every cause, in the order an operator would look.
fn reasons_of(report: &FollowReport) -> Vec<HealthReason> {
    let reason = |code, text: String| HealthReason { code, text };
    let failure_of = |check: &str| {
        report
            .checks
            .iter()
            .find(|c| c.check == check)
            .and_then(|c| c.status.failure())
    };
    if report.api_reachable != Some(true) {
        let why = failure_of(CHECK_API).unwrap_or_else(|| "it did not answer".to_string());
        return vec![if report.status == DaemonStatus::Stopped {
            reason(
                "stopped",
                format!(
                    "stopped: no ipfs-cluster-follow process and nothing answers on {} ({why})",
                    report.api
                ),
            )
        } else {
            reason("api_unreachable", format!("API not reachable: {why}"))
        }];
    }
    let mut reasons = Vec::new();
    if report.connected == Some(false) {
        reasons.push(reason(
            "no_cluster_peers",
            "sees no cluster peer besides itself".to_string(),
        ));
    }
    if report.ipfs_connected == Some(false) {
        let said = report.ipfs_error.as_deref().unwrap_or("no error text");
        reasons.push(reason(
            "ipfs_unreachable",
            format!("cannot reach its IPFS daemon: {said}"),
        ));
    }
    match &report.pins {
        None => {
            let why = failure_of(CHECK_PINS).unwrap_or_else(|| "not measured".to_string());
            reasons.push(reason(
                "pins_unknown",
                format!("live pin counts unknown: {why}"),
            ));
        }
        Some(pins) => {
            let errors: Vec<String> = ERROR_STATES
                .iter()
                .filter_map(|state| pins.get(*state).filter(|n| **n > 0).map(|n| (state, n)))
                .map(|(state, n)| {
                    format!("{n} {} in {state}", if *n == 1 { "pin" } else { "pins" })
                })
                .collect();
            if !errors.is_empty() {
                reasons.push(reason("pin_errors", errors.join(", ")));
            }
        }
    }
    reasons
}

/// Health of a reachable follower (see the module doc).
fn health_of(report: &FollowReport) -> Health {
    let pin_errors: u64 = report
        .pins
        .as_ref()
        .map(|p| ERROR_STATES.iter().filter_map(|s| p.get(*s)).sum())
        .unwrap_or(0);
    let degraded = report.connected == Some(false)
        || report.ipfs_connected == Some(false)
        || report.pins.is_none()
        || pin_errors > 0;
    if report.api_reachable != Some(true) {
        Health::Unhealthy
    } else if degraded {
        Health::Degraded
    } else {
        Health::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follower(name: &str, api: Endpoint) -> Follower {
        Follower {
            name: name.to_string(),
            api: Ok(api),
            source: discovery::Source::Flag,
            process: None,
            trusted: true,
            folder_owner: None,
        }
    }

    #[test]
    fn process_verdict_only_for_followers_on_this_host() {
        let table = ProcessTable {
            processes: vec![crate::process::ProcessInfo {
                pid: 7,
                argv: vec!["ipfs-cluster-follow".into(), "c".into(), "run".into()],
                comm: "ipfs-cluster-follow".into(),
                uid: Some(crate::permissions::own_uid()),
            }],
            ..ProcessTable::default()
        };
        let procs = Ok(Arc::new(table));
        let local = follower("c", Endpoint::Unix("/x/api-socket".into()));
        assert_eq!(
            process_verdict(&local, &procs),
            (Some(true), CheckStatus::Ok)
        );
        let other = follower("d", Endpoint::Unix("/y/api-socket".into()));
        assert_eq!(process_verdict(&other, &procs).0, Some(false));
        let remote = follower(
            "c",
            Endpoint::Tcp {
                host: "10.1.2.3".into(),
                port: 9094,
            },
        );
        let (running, status) = process_verdict(&remote, &procs);
        assert_eq!(
            running, None,
            "a process elsewhere cannot be looked for here"
        );
        assert!(matches!(status, CheckStatus::Skipped(_)));
        let unreadable = Err("cannot list /proc".to_string());
        assert_eq!(process_verdict(&local, &unreadable).0, None);
    }

    #[test]
    fn a_follower_labelled_otherwise_runs_when_its_matched_process_does() {
        let table = ProcessTable {
            processes: vec![crate::process::ProcessInfo {
                pid: 42,
                argv: vec!["ipfs-cluster-follow".into(), "c".into(), "run".into()],
                comm: "ipfs-cluster-follow".into(),
                uid: Some(crate::permissions::own_uid()),
            }],
            ..ProcessTable::default()
        };
        let procs = Ok(Arc::new(table));
        let mut labelled = follower(
            "127.0.0.1:19094",
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 19094,
            },
        );
        assert_eq!(process_verdict(&labelled, &procs).0, Some(false));
        labelled.process = Some(discovery::FollowProcess {
            pid: 42,
            cluster_name: "c".into(),
            folder: "/f".into(),
            verified: true,
            uid: Some(crate::permissions::own_uid()),
        });
        assert_eq!(
            process_verdict(&labelled, &procs),
            (Some(true), CheckStatus::Ok)
        );
        let report = empty_report(&labelled, SystemTime::now());
        assert_eq!(report.pid, Some(42));
        // Another user's process named like it: whether it runs is unknown, never "running".
        if let Some(process) = labelled.process.as_mut() {
            process.verified = false;
            process.uid = Some(4242);
        }
        let (running, status) = process_verdict(&labelled, &procs);
        assert_eq!(running, None);
        let reason = status.failure().unwrap_or_default();
        assert!(
            reason.contains("uid 4242") && reason.contains("--follow.config-dir"),
            "{reason}"
        );
        let report = empty_report(&labelled, SystemTime::now());
        assert_eq!(report.pid, None, "its sockets are not the follower's own");
    }

    #[tokio::test]
    async fn basic_auth_file_reads_are_regular_capped_and_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth");
        std::fs::write(&path, "u:p\n").unwrap();
        let checks = FollowChecks::new(FollowConfig {
            basic_auth_file: Some(path.clone()),
            ..FollowConfig::default()
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(
            checks.read_basic_auth(deadline).await,
            Ok(Some("u:p".into()))
        );

        // A read still in flight (a hung mount) is reported, and no second one starts.
        let held = checks.auth_slot.try_take().unwrap();
        let error = checks.read_basic_auth(deadline).await.unwrap_err();
        assert!(error.contains("previous read of"), "{error}");
        assert!(error.contains("still running"), "{error}");
        drop(held);
        assert_eq!(
            checks.read_basic_auth(deadline).await,
            Ok(Some("u:p".into()))
        );

        // A FIFO would block a plain read forever; it is refused.
        std::fs::remove_file(&path).unwrap();
        assert!(std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap()
            .success());
        let error = checks.read_basic_auth(deadline).await.unwrap_err();
        assert!(error.contains("not a regular file"), "{error}");
    }

    #[tokio::test]
    async fn a_failed_discovery_keeps_the_followers_caches() {
        let dir = tempfile::tempdir().unwrap();
        let checks = FollowChecks::new(FollowConfig {
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
        checks.run(deadline, Ok(Arc::default())).await;
        assert!(
            checks.lock().peer_ids.contains_key("c"),
            "kept after a failed discovery"
        );
        drop(held);
        checks.run(deadline, Ok(Arc::default())).await;
        assert!(
            checks.lock().peer_ids.is_empty(),
            "forgotten once discovery says it is gone"
        );
    }

    #[tokio::test]
    async fn processes_not_looked_at_are_not_counted_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let checks = FollowChecks::new(FollowConfig {
            config_dir: dir.path().to_path_buf(),
            discover_processes: false,
            ..FollowConfig::default()
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let (found, _) = checks.discover(deadline, Arc::default()).await;
        assert_eq!(
            found.found_by,
            vec![(Source::Flag, 0), (Source::ConfigDir, 0)],
            "no process count when process discovery is off"
        );
    }

    #[tokio::test]
    async fn a_discovery_still_running_is_reported_not_started_again() {
        let checks = FollowChecks::new(FollowConfig::default());
        let _held = checks.discovery_slot.try_take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let (found, check) = checks.discover(deadline, Arc::default()).await;
        assert!(found.followers.is_empty());
        let error = check.status.failure().unwrap_or_default();
        assert!(error.contains("still running"), "{error}");
    }

    #[test]
    fn basic_auth_file_format() {
        assert_eq!(parse_basic_auth("u:p\n"), Ok("u:p".to_string()));
        assert_eq!(
            parse_basic_auth("u:p:q\r\nignored"),
            Ok("u:p:q".to_string())
        );
        assert!(parse_basic_auth("nocolon").is_err());
        assert!(parse_basic_auth(":p").is_err());
        assert!(parse_basic_auth("").is_err());
    }

    #[test]
    fn zeros_for_every_state() {
        let counts = BTreeMap::from([("pin_error".to_string(), 2), ("pinned".to_string(), 5)]);
        let live = with_zeros(&OPERATION_STATES, counts.clone(), false);
        assert_eq!(live.len(), OPERATION_STATES.len());
        assert_eq!(live["pin_error"], 2);
        assert!(!live.contains_key("pinned"));
        let listed = with_zeros(&TRACKER_STATES, counts, true);
        assert_eq!(listed.len(), TRACKER_STATES.len());
        assert_eq!(listed["pinned"], 5);
    }

    #[test]
    fn slow_figures_are_due_by_interval_and_retry() {
        let mut slow: Slow<u64> = Slow::default();
        let t0 = Instant::now();
        let interval = Duration::from_secs(300);
        assert!(slow.due(t0, interval));
        slow.last_attempt = Some(t0);
        slow.record(Ok(3));
        assert!(!slow.due(t0 + Duration::from_secs(299), interval));
        assert!(slow.due(t0 + interval, interval));
        slow.record(Err(CheckStatus::TimedOut));
        assert!(!slow.due(t0 + Duration::from_secs(59), interval));
        assert!(slow.due(t0 + FAILED_RETRY, interval));
        assert!(slow.last_success.is_some());
        assert_eq!(slow.current(), (None, CheckStatus::TimedOut));
    }

    #[test]
    fn shadowed_warnings_remembered_are_only_the_current_ones() {
        let checks = FollowChecks::new(FollowConfig::default());
        for round in 0..100 {
            checks.log_shadowed(&[format!("pair {round}")]);
        }
        assert_eq!(checks.lock().shadowed_logged.len(), 1);
        checks.log_shadowed(&[]);
        assert!(checks.lock().shadowed_logged.is_empty());
    }
}
