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
//!
//! Here: [`LotusCheck`] and its round of calls ([`LotusCheck::report`]), and whether a `lotus
//! daemon` runs on this host. Beside it: `settings` ([`LotusConfig`]), `answers` (each call's
//! answer as its sub-check), `constants` (the per-session chain constants and token), `wallets`,
//! `verdict` (lag, sync status, node type, daemon status, health and its reasons) and `report`
//! ([`LotusReport`]).

mod answers;
pub mod api_info;
mod bound;
mod check;
mod constants;
pub mod finality;
mod flags;
mod locate;
pub mod probe;
mod render;
mod report;
pub mod rpc;
mod settings;
pub mod types;
mod verdict;
mod wallets;

pub use api_info::{rpc_target, ApiInfo, ResolvedApi};
pub use check::NAME;
pub use flags::{parse_wallet, LotusArgs};
pub use locate::{clear_token_refusal, resolve, DEFAULT_LOTUS_API};
pub use report::{LotusReport, NodeVersion, SyncStatus, WalletBalance};
pub use settings::{LotusConfig, Thresholds, WalletMinimum, WalletSpec};

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::json;
use tokio::time::Instant;

use crate::contract::{CheckResult, CheckStatus};
use crate::host::process::ProcessTable;
use crate::net::http_client::Endpoint;
use answers::Assembly;
use constants::{fetch_constants, needs_refresh, ChainConstants};
use finality::FinalityCache;
use rpc::{timed, RpcClient};

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

/// The API's TCP host and port when it is on this host (the port plan claims it); `None` for
/// a remote, unix-socket or unusable API.
pub fn local_tcp_api(config: &LotusConfig) -> Option<(String, u16)> {
    match &config.target.as_ref().ok()?.endpoint {
        endpoint @ Endpoint::Tcp { host, port } if endpoint.is_local() => {
            Some((host.clone(), *port))
        }
        _ => None,
    }
}

/// Why a process verdict cannot be given when `/proc` hides other users' processes.
const HIDDEN_PROCESSES: &str = "other users' processes are hidden (/proc mounted with hidepid): run the exporter as the daemon's user, or give it the gid= of the /proc mount";

/// Lotus's permission levels (`api/permissioned.go`, `AllPermissions`).
pub const PERMISSIONS: [&str; 4] = ["read", "write", "sign", "admin"];

/// The Lotus check and its per-session cache.
#[derive(Debug)]
pub struct LotusCheck {
    client: Result<RpcClient, String>,
    api_address: String,
    wallets: Vec<WalletSpec>,
    max_wallets: usize,
    sync_lag_threshold: u64,
    thresholds: Thresholds,
    token_given: bool,
    look_for_process: bool,
    constants: Mutex<Option<ChainConstants>>,
    /// The F3 manifest and which finality call the node serves, per session.
    finality: Mutex<FinalityCache>,
    /// Log lines already written once (hints that would otherwise repeat every scrape).
    logged_once: Mutex<BTreeSet<String>>,
    /// Removes the token from whatever the node says, before it enters the report.
    scrubber: crate::secret::Scrubber,
}

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
        let scrubber = config
            .token
            .as_ref()
            .map(|t| crate::secret::Scrubber::for_token(t.expose()))
            .unwrap_or_default();
        let client = config
            .target
            .map(|target| RpcClient::new(target, config.token, config.max_body_bytes));
        LotusCheck {
            client,
            api_address,
            wallets: config.wallets,
            max_wallets: config.max_wallets,
            sync_lag_threshold: config.sync_lag_threshold,
            thresholds: config.thresholds,
            token_given,
            look_for_process,
            constants: Mutex::new(None),
            finality: Mutex::new(FinalityCache::default()),
            logged_once: Mutex::new(BTreeSet::new()),
            scrubber,
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
    pub async fn report(
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
        let finality_cached = crate::host::lock(&self.finality).clone();
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
        *crate::host::lock(&self.finality) = learned;
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
        crate::host::lock(&self.constants).clone()
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
        report.thresholds = self.thresholds.clone();
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
        report.health_reasons = vec![format!("the Lotus API cannot be used: {reason}").into()];
        report
    }

    /// Log `message` the first time it comes up.
    fn log_once(&self, level: log::Level, message: &str) {
        let first = crate::host::lock(&self.logged_once).insert(message.to_string());
        if first {
            log::log!(level, "{message}");
        }
    }
}
