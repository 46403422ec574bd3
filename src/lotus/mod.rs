//! The Lotus check: ask the daemon's JSON-RPC API, concurrently, whether it is up, synced and
//! connected, and judge it only on what it answered.
//!
//! Sub-checks, each with its own `check` label value (the fixed set [`CHECKS`]):
//! `lotus_version` (`Filecoin.Version`, which decides `lotus_up`), `lotus_session`,
//! `lotus_chain_head`, `lotus_sync_state`, `lotus_peers`, `lotus_network_name`, `lotus_genesis`,
//! `lotus_wallets`, `lotus_process`, `lotus_token`, and the finality section ([`finality`]):
//! `lotus_f3` and `lotus_chain_finality`. A failed call fails only its own sub-check; the figures
//! it would have given are `None`.
//!
//! Genesis timestamp and network name never change for a running node: they are fetched once and
//! again only when `Filecoin.Session` (a UUID that changes on restart) changes.

pub mod finality;
pub mod rpc;
mod settings;
pub mod types;

pub use settings::{LotusConfig, WalletSpec};

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::check::{CheckResult, CheckStatus, DaemonStatus, Health};
use crate::http_client::Endpoint;
use crate::process::ProcessTable;
use finality::{ChainFinality, F3Report, FinalityCache};
use rpc::{RpcClient, RpcError};
use types::{AttoFil, SyncWorkers, STAGE_ERROR};

/// Every `check` label value the Lotus check uses.
pub const CHECKS: [&str; 12] = [
    "lotus_version",
    "lotus_session",
    "lotus_chain_head",
    "lotus_sync_state",
    "lotus_peers",
    "lotus_network_name",
    "lotus_genesis",
    "lotus_wallets",
    "lotus_process",
    "lotus_token",
    finality::F3_CHECK,
    finality::CHAIN_CHECK,
];

/// Why a process verdict cannot be given when `/proc` hides other users' processes.
const HIDDEN_PROCESSES: &str = "other users' processes are hidden (/proc mounted with hidepid): run the exporter as the daemon's user, or give it the gid= of the /proc mount";

/// The highest height an answer may carry: 2^53, past which a height is no longer exact in
/// JSON numbers (and which a chain of 30 s epochs reaches in 8.5 billion years).
const MAX_HEIGHT: u64 = 1 << 53;

/// How far ahead of the clock a head may be before it is an invalid answer rather than a
/// wrong clock: a day's worth of epochs (2880 at 30 s).
const MAX_AHEAD_SECONDS: u64 = 24 * 60 * 60;

/// `WalletBalance` calls in flight at once.
const WALLET_CALLS_AT_ONCE: usize = 8;

/// Lotus's permission levels (`api/permissioned.go`, `AllPermissions`).
pub const PERMISSIONS: [&str; 4] = ["read", "write", "sign", "admin"];

/// What the node says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeVersion {
    /// The full version string as Lotus reports it.
    pub full: String,
    /// The release part (`1.34.1`).
    pub release: String,
    pub commit: String,
    /// What the node serves says it is: `chain` for a full node (as Lotus's own
    /// `lotus_info{node_type}`), `gateway` for lotus-gateway, `unknown` when the evidence does
    /// not tell (see [`node_type`]).
    pub node_type: String,
}

/// One watched wallet.
#[derive(Debug, Clone, PartialEq)]
pub struct WalletBalance {
    pub address: String,
    pub alias: String,
    /// `None` when the balance could not be read this time.
    pub balance: Option<AttoFil>,
}

/// How sync looks, in words (`/status` `sync_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStatus {
    Synced,
    Syncing,
    Error,
    Unknown,
}

impl SyncStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Synced => "synced",
            SyncStatus::Syncing => "syncing",
            SyncStatus::Error => "error",
            SyncStatus::Unknown => "unknown",
        }
    }
}

/// Everything one Lotus check found. `None` means unknown, never zero.
#[derive(Debug, Clone)]
pub struct LotusReport {
    /// The API address (never with a token).
    pub api_address: String,
    pub checks: Vec<CheckResult>,
    /// `Filecoin.Version` answered.
    pub up: bool,
    pub version: Option<NodeVersion>,
    /// Lotus's own network name (`mainnet`, `calibrationnet`, ...).
    pub network: Option<String>,
    pub block_delay_seconds: Option<u64>,
    pub chain_height: Option<u64>,
    pub head_timestamp_seconds: Option<u64>,
    pub expected_height: Option<u64>,
    pub sync_lag_epochs: Option<u64>,
    /// Epochs the head is ahead of the expected height (0 normally): one of the two clocks is
    /// wrong. `None` when not measured.
    pub head_ahead_epochs: Option<u64>,
    pub synced: Option<bool>,
    pub sync_workers: Option<SyncWorkers>,
    pub peers: Option<u64>,
    pub wallets: Vec<WalletBalance>,
    /// A `lotus daemon` process runs here; `None` when not looked for (remote API) or not visible.
    pub daemon_running: Option<bool>,
    /// Who listens on the Lotus API's port on this host (program names, sorted; `unknown` for
    /// an owner that cannot be seen; empty when nothing listens). `None` when not looked at
    /// (remote or unix-socket API, listeners not read). Filled in by the collector from the
    /// port check's listeners.
    pub api_listener: Option<Vec<String>>,
    /// The configured token's permissions (`Filecoin.AuthVerify`); `None` without a token or when unknown.
    pub token_permissions: Option<Vec<String>>,
    /// F3 (Fast Finality): running, latest certificate, progress, manifest.
    pub f3: F3Report,
    /// The node's own finalized tipset and the EC finality depth.
    pub chain_finality: ChainFinality,
    pub status: DaemonStatus,
    pub health: Health,
    /// Why health is not `healthy`, in words (empty when healthy).
    pub health_reasons: Vec<String>,
    pub sync_status: SyncStatus,
    pub last_check: SystemTime,
}

impl LotusReport {
    /// The report for a Lotus check that did not finish before the scrape deadline.
    pub fn timed_out(api_address: String, started: SystemTime, elapsed: Duration) -> LotusReport {
        let checks = CHECKS
            .iter()
            .map(|c| CheckResult::new(c, CheckStatus::TimedOut, elapsed))
            .collect();
        LotusReport {
            api_address,
            checks,
            up: false,
            version: None,
            network: None,
            block_delay_seconds: None,
            chain_height: None,
            head_timestamp_seconds: None,
            expected_height: None,
            sync_lag_epochs: None,
            head_ahead_epochs: None,
            synced: None,
            sync_workers: None,
            peers: None,
            wallets: Vec::new(),
            daemon_running: None,
            api_listener: None,
            token_permissions: None,
            f3: F3Report::unknown(),
            chain_finality: ChainFinality::default(),
            status: DaemonStatus::Error,
            health: Health::Unhealthy,
            health_reasons: Vec::new(),
            sync_status: SyncStatus::Unknown,
            last_check: started,
        }
    }

    /// Failed and timed-out checks in words (checks that failed for the same reason share a
    /// line), then the messages of sync workers in the error stage.
    pub fn errors(&self) -> Vec<String> {
        let mut errors = crate::check::grouped_errors(&self.checks);
        errors.extend(
            self.sync_errors()
                .into_iter()
                .map(|m| format!("sync worker in error: {m}")),
        );
        errors
    }

    /// What Lotus says about each sync worker in the `error` stage (its `Message`), each
    /// distinct message once.
    pub fn sync_errors(&self) -> Vec<String> {
        let mut messages: Vec<String> = Vec::new();
        for message in self.sync_workers.iter().flat_map(|w| w.errors.iter()) {
            let message = match message.trim() {
                "" => "(Lotus gave no message)".to_string(),
                text => text.to_string(),
            };
            if !messages.contains(&message) {
                messages.push(message);
            }
        }
        messages
    }
}

/// Chain constants cached per Lotus session.
#[derive(Debug, Clone)]
struct ChainConstants {
    /// The session they were read in; `None` if `Session` failed at the time.
    session: Option<String>,
    genesis_timestamp: Option<u64>,
    network_name: Option<String>,
    block_delay_seconds: Option<u64>,
    /// What `Filecoin.AuthVerify` says the configured token may do (`None`: no token, or unknown).
    token_permissions: Option<Vec<String>>,
    /// `Filecoin.AuthVerify` was answered, or is not served by this node (a gateway): either way
    /// there is nothing more to ask this session.
    token_settled: bool,
}

impl ChainConstants {
    /// Nothing known.
    fn unknown() -> ChainConstants {
        ChainConstants {
            session: None,
            genesis_timestamp: None,
            network_name: None,
            block_delay_seconds: None,
            token_permissions: None,
            token_settled: false,
        }
    }
}

/// Calls made once per Lotus session.
struct FreshConstants {
    network_name: Timed<Value>,
    genesis: Timed<Value>,
    /// `Filecoin.AuthVerify`, only when a token is configured.
    token: Option<Timed<Value>>,
}

/// The Lotus check and its per-session cache.
#[derive(Debug)]
pub struct LotusCheck {
    client: Result<RpcClient, String>,
    api_address: String,
    wallets: Vec<WalletSpec>,
    max_wallets: usize,
    sync_lag_threshold: u64,
    token_given: bool,
    look_for_process: bool,
    constants: Mutex<Option<ChainConstants>>,
    /// The F3 manifest and which finality call the node serves, per session.
    finality: Mutex<FinalityCache>,
    /// Log lines already written once (hints that would otherwise repeat every scrape).
    logged_once: Mutex<BTreeSet<String>>,
}

/// One timed call's outcome.
type Timed<T> = (Result<T, RpcError>, Duration);

impl LotusCheck {
    pub fn new(config: LotusConfig) -> LotusCheck {
        let api_address = match &config.target {
            Ok(target) => target.display.clone(),
            // The reason names its source (`--lotus.api: ...`, `--lotus.token-file ...`).
            Err(_) => "unusable".to_string(),
        };
        let look_for_process = config
            .target
            .as_ref()
            .map(|t| t.endpoint.is_local())
            .unwrap_or(false);
        let token_given = config.token.is_some();
        let client = config
            .target
            .map(|target| RpcClient::new(target, config.token, config.max_body_bytes));
        LotusCheck {
            client,
            api_address,
            wallets: config.wallets,
            max_wallets: config.max_wallets,
            sync_lag_threshold: config.sync_lag_threshold,
            token_given,
            look_for_process,
            constants: Mutex::new(None),
            finality: Mutex::new(FinalityCache::default()),
            logged_once: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn api_address(&self) -> &str {
        &self.api_address
    }

    /// The same check without looking at this host's processes (a `/probe` of a target).
    pub fn without_host_checks(mut self) -> LotusCheck {
        self.look_for_process = false;
        self
    }

    /// The Lotus API's TCP host and port when it is on this host (so who listens there can be
    /// named); `None` for a remote, unix-socket or unusable API.
    pub fn local_tcp_api(&self) -> Option<(&str, u16)> {
        let client = self.client.as_ref().ok()?;
        match &client.target().endpoint {
            Endpoint::Tcp { host, port } if self.look_for_process => Some((host.as_str(), *port)),
            _ => None,
        }
    }

    /// Run every Lotus call concurrently and judge the node, before `deadline`.
    pub async fn run(
        &self,
        deadline: Instant,
        procs: Result<Arc<ProcessTable>, String>,
    ) -> LotusReport {
        let started = SystemTime::now();
        let process = self.process_check(procs);
        let client = match &self.client {
            Ok(client) => client,
            Err(reason) => return self.unusable(reason, started, process),
        };
        let cached = self.cached_constants();
        let finality_cached = self.finality.lock().map(|c| c.clone()).unwrap_or_default();
        let (version, session, head, sync, peers, wallets, fresh, finality) = tokio::join!(
            timed(client.call("Filecoin.Version", json!([]), deadline)),
            timed(client.call("Filecoin.Session", json!([]), deadline)),
            timed(client.call("Filecoin.ChainHead", json!([]), deadline)),
            timed(client.call("Filecoin.SyncState", json!([]), deadline)),
            timed(client.call("Filecoin.NetPeers", json!([]), deadline)),
            self.wallet_balances(client, deadline),
            async {
                match &cached {
                    Some(_) => None,
                    None => Some(fetch_constants(client, deadline).await),
                }
            },
            finality::collect(client, &finality_cached, deadline),
        );
        let session_id = session
            .0
            .as_ref()
            .ok()
            .and_then(|v| v.as_str())
            .map(String::from);
        let fresh = match fresh {
            Some(fresh) => Some(fresh),
            None if needs_refresh(cached.as_ref(), session_id.as_deref(), self.token_given) => {
                Some(fetch_constants(client, deadline).await)
            }
            None => None,
        };
        // A new session may be a new Lotus (or a new F3 manifest): what was learned once per
        // session is asked again, once.
        let other_session = session_id.is_some()
            && finality_cached.session.is_some()
            && finality_cached.session != session_id;
        let (finality_cached, finality) = if other_session {
            let fresh = FinalityCache::default();
            let round = finality::collect(client, &fresh, deadline).await;
            (fresh, round)
        } else {
            (finality_cached, finality)
        };
        let (f3, chain_finality, finality_checks, learned) =
            finality::judge(finality, &finality_cached, session_id.as_deref());
        if let Ok(mut slot) = self.finality.lock() {
            *slot = learned;
        }
        let mut assembly = Assembly::new(self, started);
        assembly.version(version);
        assembly.session(session);
        assembly.constants(cached, fresh, session_id, &self.constants);
        assembly.head(head);
        assembly.sync(sync);
        assembly.peers(peers);
        assembly.wallets(wallets);
        assembly.checks.extend(finality_checks);
        assembly.report.f3 = f3;
        assembly.report.chain_finality = chain_finality;
        assembly.checks.push(process.0);
        assembly.report.daemon_running = process.1;
        assembly.finish(self.sync_lag_threshold)
    }

    fn cached_constants(&self) -> Option<ChainConstants> {
        self.constants.lock().map(|c| c.clone()).unwrap_or(None)
    }

    fn process_check(
        &self,
        procs: Result<Arc<ProcessTable>, String>,
    ) -> (CheckResult, Option<bool>) {
        let begun = std::time::Instant::now();
        let (status, running) = if !self.look_for_process {
            (
                CheckStatus::Skipped("the Lotus API is not on this host".into()),
                None,
            )
        } else {
            match procs {
                Ok(table) => match table.running(table.lotus_daemons().next().is_some()) {
                    Some(running) => (CheckStatus::Ok, Some(running)),
                    None => (CheckStatus::Failed(HIDDEN_PROCESSES.into()), None),
                },
                Err(reason) => (CheckStatus::Failed(reason), None),
            }
        };
        (
            CheckResult::new("lotus_process", status, begun.elapsed()),
            running,
        )
    }

    fn unusable(
        &self,
        reason: &str,
        started: SystemTime,
        process: (CheckResult, Option<bool>),
    ) -> LotusReport {
        let mut report = LotusReport::timed_out(self.api_address.clone(), started, Duration::ZERO);
        for check in report.checks.iter_mut() {
            check.status = if check.check == "lotus_token" && !self.token_given {
                CheckStatus::Skipped("no token configured".into())
            } else {
                CheckStatus::Failed(reason.to_string())
            };
        }
        report.checks.retain(|c| c.check != "lotus_process");
        report.checks.push(process.0);
        report.daemon_running = process.1;
        report.health_reasons = vec![format!("the Lotus API cannot be used: {reason}")];
        report
    }

    /// Balances of the wallets to watch: the configured ones, or (with a token) the node's own.
    async fn wallet_balances(
        &self,
        client: &RpcClient,
        deadline: Instant,
    ) -> (CheckStatus, Vec<WalletBalance>, Duration) {
        let begun = std::time::Instant::now();
        let wallets = if !self.wallets.is_empty() {
            self.wallets.clone()
        } else if self.token_given {
            match self.discover_wallets(client, deadline).await {
                Ok(wallets) => wallets,
                Err(status) => return (status, Vec::new(), begun.elapsed()),
            }
        } else {
            self.log_once(log::Level::Info, "no wallets to watch: name them with --lotus.wallet ADDRESS[=ALIAS] (WalletBalance needs only read access)");
            return (
                CheckStatus::Skipped("no wallets to watch (--lotus.wallet)".into()),
                Vec::new(),
                begun.elapsed(),
            );
        };
        if wallets.is_empty() {
            return (
                CheckStatus::Skipped("the node's wallet is empty".into()),
                Vec::new(),
                begun.elapsed(),
            );
        }
        // A few at a time over pooled connections, rather than one connection per wallet.
        let calls: Vec<_> = wallets
            .iter()
            .map(|w| client.call("Filecoin.WalletBalance", json!([w.address]), deadline))
            .collect();
        let results: Vec<_> = stream::iter(calls)
            .buffered(WALLET_CALLS_AT_ONCE)
            .collect()
            .await;
        let mut failures = Vec::new();
        let mut balances = Vec::new();
        for (wallet, result) in wallets.into_iter().zip(results) {
            let balance = match result.map(|v| types::parse_attofil(&v).map_err(|e| e.to_string()))
            {
                Ok(Ok(balance)) => Some(balance),
                Ok(Err(shape)) => {
                    failures.push(format!("{}: {shape}", wallet.address));
                    None
                }
                Err(e) => {
                    failures.push(format!("{}: {e}", wallet.address));
                    None
                }
            };
            balances.push(WalletBalance {
                address: wallet.address,
                alias: wallet.alias,
                balance,
            });
        }
        let status = if failures.is_empty() {
            CheckStatus::Ok
        } else {
            CheckStatus::Failed(failures.join("; "))
        };
        (status, balances, begun.elapsed())
    }

    /// `WalletDefaultAddress` and `WalletList` (both need `write`).
    async fn discover_wallets(
        &self,
        client: &RpcClient,
        deadline: Instant,
    ) -> Result<Vec<WalletSpec>, CheckStatus> {
        let (default, list) = tokio::join!(
            client.call("Filecoin.WalletDefaultAddress", json!([]), deadline),
            client.call("Filecoin.WalletList", json!([]), deadline),
        );
        let list = match list {
            Ok(list) => {
                types::parse_address_list(&list).map_err(|e| CheckStatus::Failed(e.to_string()))?
            }
            Err(RpcError::PermissionDenied { .. }) => {
                self.log_once(log::Level::Info, "the Lotus token cannot list wallets (WalletList needs write): name wallets with --lotus.wallet ADDRESS[=ALIAS]");
                return Err(CheckStatus::Skipped(
                    "the token may not list wallets: name them with --lotus.wallet".into(),
                ));
            }
            Err(e) => return Err(status_of(&e)),
        };
        let default = default
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .filter(|d| !d.is_empty());
        let mut addresses: Vec<String> = default.into_iter().collect();
        for address in list {
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        if addresses.len() > self.max_wallets {
            self.log_once(
                log::Level::Warn,
                &format!(
                    "the node has {} wallets; watching the first {} (--lotus.max-wallets)",
                    addresses.len(),
                    self.max_wallets
                ),
            );
            addresses.truncate(self.max_wallets);
        }
        Ok(addresses
            .into_iter()
            .map(|address| WalletSpec {
                address,
                alias: String::new(),
            })
            .collect())
    }

    /// Log `message` the first time it comes up.
    fn log_once(&self, level: log::Level, message: &str) {
        let first = self
            .logged_once
            .lock()
            .map(|mut logged| logged.insert(message.to_string()))
            .unwrap_or(false);
        if first {
            log::log!(level, "{message}");
        }
    }
}

/// True when the cached constants belong to another session, or miss something they should hold.
fn needs_refresh(
    cached: Option<&ChainConstants>,
    session: Option<&str>,
    token_given: bool,
) -> bool {
    let Some(c) = cached else {
        return true;
    };
    let incomplete = c.genesis_timestamp.is_none()
        || c.network_name.is_none()
        || (token_given && !c.token_settled);
    let other_session = session.is_some() && c.session.as_deref() != session;
    incomplete || other_session
}

/// `StateNetworkName`, `ChainGetGenesis` and (with a token) `AuthVerify`, concurrently.
async fn fetch_constants(client: &RpcClient, deadline: Instant) -> FreshConstants {
    let (network_name, genesis, token) = tokio::join!(
        timed(client.call("Filecoin.StateNetworkName", json!([]), deadline)),
        timed(client.call("Filecoin.ChainGetGenesis", json!([]), deadline)),
        async {
            match client.verify_token(deadline) {
                Some(call) => Some(timed(call).await),
                None => None,
            }
        },
    );
    FreshConstants {
        network_name,
        genesis,
        token,
    }
}

async fn timed<T>(future: impl std::future::Future<Output = Result<T, RpcError>>) -> Timed<T> {
    let begun = std::time::Instant::now();
    let result = future.await;
    (result, begun.elapsed())
}

/// The check status a failed call gives.
fn status_of(error: &RpcError) -> CheckStatus {
    match error {
        RpcError::MethodNotFound { .. } => CheckStatus::Skipped(error.to_string()),
        RpcError::TimedOut(_) => CheckStatus::TimedOut,
        other => CheckStatus::Failed(other.to_string()),
    }
}

/// The status recorded for `check` among `checks` (Ok when it was not recorded).
fn recorded_status(checks: &[CheckResult], check: &str) -> CheckStatus {
    checks
        .iter()
        .find(|c| c.check == check)
        .map(|c| c.status.clone())
        .unwrap_or(CheckStatus::Ok)
}

/// Say (once per session) when the token can do more than an exporter needs.
fn warn_about_powerful_token(permissions: Option<&[String]>) {
    let Some(permissions) = permissions else {
        return;
    };
    let powerful: Vec<&str> = permissions
        .iter()
        .map(String::as_str)
        .filter(|p| matches!(*p, "sign" | "admin"))
        .collect();
    if !powerful.is_empty() {
        log::warn!(
            "the Lotus token carries {} permission: an exporter needs only read (lotus auth create-token --perm read)",
            powerful.join(" and ")
        );
    }
}

/// What the node is, from what it serves. `Filecoin.Version` cannot tell: lotus-gateway forwards
/// it unchanged (Agent `lotus`). A node that answered `SyncState` or `NetPeers` syncs a chain of
/// its own; one that serves neither is a gateway (lotus-gateway serves Version, ChainHead,
/// ChainGetGenesis, StateNetworkName and WalletBalance, not SyncState, NetPeers, Session or
/// AuthVerify). Anything less (the calls failed or timed out) is `unknown`, never `chain`.
fn node_type(
    agent: Option<&str>,
    not_served: &BTreeSet<&str>,
    chain_answered: bool,
) -> &'static str {
    if agent.is_some_and(|a| a.to_ascii_lowercase().contains("gateway")) {
        "gateway"
    } else if chain_answered {
        "chain"
    } else if not_served.contains("Filecoin.SyncState") && not_served.contains("Filecoin.NetPeers")
    {
        "gateway"
    } else {
        "unknown"
    }
}

/// Why a head height is no answer a chain can give, if it is not: past 2^53, or more than a
/// day of epochs ahead of the clock (`limit` is the expected height and the block delay).
fn impossible_height(height: u64, limit: Option<(u64, u64)>) -> Option<String> {
    if height > MAX_HEIGHT {
        return Some(format!(
            "Filecoin.ChainHead answered height {height}, which no chain can have (above 2^53): an invalid answer"
        ));
    }
    let (expected, delay) = limit?;
    let most_ahead = MAX_AHEAD_SECONDS / delay.max(1);
    (height > expected.saturating_add(most_ahead)).then(|| {
        format!(
            "Filecoin.ChainHead answered height {height}, {} epochs ahead of the {expected} this host's clock expects (more than a day): an invalid answer",
            height - expected
        )
    })
}

/// Why a node that is up is not healthy: each part of health needs evidence (synced, no worker
/// in error, at least one peer, a head not ahead of the clock). A method the node does not
/// serve (skipped) is no evidence against it.
fn health_reasons(report: &LotusReport, checks: &[CheckResult], threshold: u64) -> Vec<String> {
    let mut reasons = Vec::new();
    if !report.up {
        reasons.push("the Lotus API did not answer Filecoin.Version".to_string());
        return reasons;
    }
    let not_served = |check| matches!(recorded_status(checks, check), CheckStatus::Skipped(_));
    match (report.synced, report.sync_lag_epochs) {
        (Some(true), _) => {}
        (Some(false), Some(lag)) => reasons.push(format!(
            "the head is {lag} epochs behind the clock (synced below {threshold}, --lotus.sync-lag-threshold)"
        )),
        _ => reasons.push("sync lag unknown (no head height or no expected height)".to_string()),
    }
    if let Some(ahead) = report.head_ahead_epochs.filter(|a| *a > 1) {
        reasons.push(format!(
            "head is {ahead} epochs ahead of this host's clock: one of the two clocks is wrong"
        ));
    }
    match &report.sync_workers {
        Some(workers) if workers.per_stage[STAGE_ERROR] > 0 => {
            for message in report.sync_errors() {
                reasons.push(format!("a sync worker is in the error stage: {message}"));
            }
        }
        Some(_) => {}
        None if not_served("lotus_sync_state") => {}
        None => {
            reasons.push("sync workers unknown (Filecoin.SyncState did not answer)".to_string())
        }
    }
    match report.peers {
        Some(0) => reasons.push("no peers".to_string()),
        Some(_) => {}
        None if not_served("lotus_peers") => {}
        None => reasons.push("peers unknown (Filecoin.NetPeers did not answer)".to_string()),
    }
    reasons
}

/// Builds a report from the calls' outcomes, one sub-check at a time.
struct Assembly {
    report: LotusReport,
    checks: Vec<CheckResult>,
    /// Methods the node said it does not serve this round.
    not_served: BTreeSet<&'static str>,
    /// `Filecoin.Version`'s `Agent`.
    agent: Option<String>,
    version_error: Option<RpcError>,
    genesis_timestamp: Option<u64>,
    network_name: Option<String>,
}

impl Assembly {
    fn new(check: &LotusCheck, started: SystemTime) -> Assembly {
        let mut report = LotusReport::timed_out(check.api_address.clone(), started, Duration::ZERO);
        report.checks.clear();
        Assembly {
            report,
            checks: Vec::new(),
            not_served: BTreeSet::new(),
            agent: None,
            version_error: None,
            genesis_timestamp: None,
            network_name: None,
        }
    }

    /// Record a call's outcome under `check`, returning the parsed value when both call and shape were good.
    fn record<T>(
        &mut self,
        check: &'static str,
        (result, duration): Timed<Value>,
        parse: impl FnOnce(&Value) -> Result<T, types::ShapeError>,
    ) -> Option<T> {
        let (status, value) = match result {
            Ok(value) => match parse(&value) {
                Ok(parsed) => (CheckStatus::Ok, Some(parsed)),
                Err(shape) => (CheckStatus::Failed(shape.to_string()), None),
            },
            Err(RpcError::MethodNotFound { method, evidence }) if check == "lotus_version" => {
                // Every Lotus-API node serves Version: where it is missing, this is no Lotus API.
                let reason = format!("{method} is not served here ({evidence}): this is not a Lotus API endpoint (is the path right? Lotus serves /rpc/v0 and /rpc/v1)");
                (CheckStatus::Failed(reason), None)
            }
            Err(e) => {
                if let RpcError::MethodNotFound { method, .. } = &e {
                    self.not_served.insert(method);
                }
                (status_of(&e), None)
            }
        };
        self.checks.push(CheckResult::new(check, status, duration));
        value
    }

    fn version(&mut self, version: Timed<Value>) {
        if let Err(e) = &version.0 {
            self.version_error = Some(e.clone());
        }
        let Some(parsed) = self.record("lotus_version", version, types::parse_version) else {
            return;
        };
        self.report.up = true;
        let parts = types::split_version(&parsed.version);
        self.agent = parsed.agent.clone();
        self.report.network = parts.build_type.as_deref().map(types::normalise_network);
        self.report.block_delay_seconds = parsed.block_delay_seconds;
        self.report.version = Some(NodeVersion {
            full: parsed.version.clone(),
            release: parts.release,
            commit: parts.commit.unwrap_or_default(),
            node_type: "unknown".to_string(),
        });
    }

    fn session(&mut self, session: Timed<Value>) {
        self.record("lotus_session", session, |v| {
            types::parse_string("Filecoin.Session", v)
        });
    }

    /// Use cached chain constants, or freshly fetched ones (and cache those).
    fn constants(
        &mut self,
        cached: Option<ChainConstants>,
        fresh: Option<FreshConstants>,
        session: Option<String>,
        cache: &Mutex<Option<ChainConstants>>,
    ) {
        let constants = match fresh {
            Some(fresh) => {
                let network_name = self.record("lotus_network_name", fresh.network_name, |v| {
                    types::parse_string("Filecoin.StateNetworkName", v)
                });
                let genesis_timestamp = self
                    .record("lotus_genesis", fresh.genesis, |v| {
                        types::parse_tipset("Filecoin.ChainGetGenesis", v)
                    })
                    .and_then(|g| g.min_timestamp);
                let token_permissions = match fresh.token {
                    Some(call) => {
                        let permissions =
                            self.record("lotus_token", call, types::parse_permissions);
                        warn_about_powerful_token(permissions.as_deref());
                        permissions
                    }
                    None => {
                        self.skip_token_check();
                        None
                    }
                };
                let token_settled = token_permissions.is_some()
                    || matches!(self.status_of("lotus_token"), CheckStatus::Skipped(_));
                let fetched = ChainConstants {
                    session,
                    genesis_timestamp,
                    network_name,
                    block_delay_seconds: self.report.block_delay_seconds,
                    token_permissions,
                    token_settled,
                };
                if let Ok(mut slot) = cache.lock() {
                    *slot = Some(fetched.clone());
                }
                fetched
            }
            None => {
                let cached = cached.unwrap_or_else(ChainConstants::unknown);
                // Cached constants hold for the session they were read in. With Session
                // unanswered this round they are unconfirmed: not used, and their checks share
                // Session's failure. A node that does not serve Session at all (lotus-gateway)
                // has no sessions to tell apart: its constants stand.
                let session_not_served =
                    matches!(self.status_of("lotus_session"), CheckStatus::Skipped(_));
                let confirmed = session.is_some() || session_not_served;
                let status = if confirmed {
                    CheckStatus::Ok
                } else {
                    self.status_of("lotus_session")
                };
                if cached.token_permissions.is_some() {
                    self.checks.push(CheckResult::new(
                        "lotus_token",
                        status.clone(),
                        Duration::ZERO,
                    ));
                } else if cached.token_settled {
                    let reason = "Filecoin.AuthVerify is not served by this node".to_string();
                    self.checks.push(CheckResult::new(
                        "lotus_token",
                        CheckStatus::Skipped(reason),
                        Duration::ZERO,
                    ));
                } else {
                    self.skip_token_check();
                }
                for check in ["lotus_network_name", "lotus_genesis"] {
                    self.checks
                        .push(CheckResult::new(check, status.clone(), Duration::ZERO));
                }
                if confirmed {
                    cached
                } else {
                    ChainConstants::unknown()
                }
            }
        };
        self.genesis_timestamp = constants.genesis_timestamp;
        self.report.token_permissions = constants.token_permissions.clone();
        self.network_name = constants.network_name.clone();
        if self.report.block_delay_seconds.is_none() {
            self.report.block_delay_seconds = constants.block_delay_seconds;
        }
    }

    /// The status already recorded for `check` (Ok when it was not recorded).
    fn status_of(&self, check: &str) -> CheckStatus {
        recorded_status(&self.checks, check)
    }

    fn skip_token_check(&mut self) {
        self.checks.push(CheckResult::new(
            "lotus_token",
            CheckStatus::Skipped("no token configured".into()),
            Duration::ZERO,
        ));
    }

    fn head(&mut self, head: Timed<Value>) {
        if let Some(tipset) = self.record("lotus_chain_head", head, |v| {
            types::parse_tipset("Filecoin.ChainHead", v)
        }) {
            self.report.chain_height = Some(tipset.height);
            self.report.head_timestamp_seconds = tipset.min_timestamp;
        }
    }

    fn sync(&mut self, sync: Timed<Value>) {
        self.report.sync_workers = self.record("lotus_sync_state", sync, types::parse_sync_state);
    }

    fn peers(&mut self, peers: Timed<Value>) {
        self.report.peers = self.record("lotus_peers", peers, types::parse_unique_peers);
    }

    fn wallets(
        &mut self,
        (status, balances, duration): (CheckStatus, Vec<WalletBalance>, Duration),
    ) {
        self.checks
            .push(CheckResult::new("lotus_wallets", status, duration));
        self.report.wallets = balances;
    }

    /// Derive expected height, lag, node type, verdicts and their reasons.
    fn finish(mut self, sync_lag_threshold: u64) -> LotusReport {
        let node_type = node_type(
            self.agent.as_deref(),
            &self.not_served,
            self.report.sync_workers.is_some() || self.report.peers.is_some(),
        );
        if let Some(version) = self.report.version.as_mut() {
            version.node_type = node_type.to_string();
        }
        let report = &mut self.report;
        if report.network.is_none() && report.up {
            report.network = self.network_name.as_deref().map(types::normalise_network);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        report.expected_height = match (self.genesis_timestamp, report.block_delay_seconds) {
            (Some(genesis), Some(delay)) if delay > 0 && now >= genesis => {
                Some((now - genesis) / delay)
            }
            _ => None,
        };
        if let Some(height) = report.chain_height {
            let limit = report.expected_height.zip(report.block_delay_seconds);
            if let Some(invalid) = impossible_height(height, limit) {
                report.chain_height = None;
                report.head_timestamp_seconds = None;
                if let Some(head) = self
                    .checks
                    .iter_mut()
                    .find(|c| c.check == "lotus_chain_head")
                {
                    head.status = CheckStatus::Failed(invalid);
                }
            }
        }
        report.sync_lag_epochs = match (report.expected_height, report.chain_height) {
            (Some(expected), Some(height)) => Some(expected.saturating_sub(height)),
            _ => None,
        };
        report.head_ahead_epochs = match (report.expected_height, report.chain_height) {
            (Some(expected), Some(height)) => Some(height.saturating_sub(expected)),
            _ => None,
        };
        finality::set_lags(
            &mut report.f3,
            &mut report.chain_finality,
            report.chain_height,
        );
        report.synced = report.sync_lag_epochs.map(|lag| lag < sync_lag_threshold);
        let error_workers = report
            .sync_workers
            .as_ref()
            .map(|w| w.per_stage[STAGE_ERROR] > 0);
        report.sync_status = match (report.synced, error_workers) {
            (Some(true), _) => SyncStatus::Synced,
            (_, Some(true)) => SyncStatus::Error,
            (Some(false), _) => SyncStatus::Syncing,
            (None, _) => SyncStatus::Unknown,
        };
        report.status = if report.up {
            DaemonStatus::Running
        } else if self
            .version_error
            .as_ref()
            .is_some_and(RpcError::is_unreachable)
            && report.daemon_running != Some(true)
        {
            DaemonStatus::Stopped
        } else {
            DaemonStatus::Error
        };
        let checks = &self.checks;
        let reasons = health_reasons(report, checks, sync_lag_threshold);
        report.health = if !report.up {
            Health::Unhealthy
        } else if reasons.is_empty() {
            Health::Healthy
        } else {
            Health::Degraded
        };
        report.health_reasons = reasons;
        self.checks
            .sort_by_key(|c| CHECKS.iter().position(|n| *n == c.check));
        report.checks = self.checks;
        self.report
    }
}
