//! The Lotus check: ask the daemon's JSON-RPC API, concurrently, whether it is up, synced and
//! connected, and judge it only on what it answered.
//!
//! Sub-checks, each with its own `check` label value (the fixed set [`CHECKS`]):
//! `lotus_version` (`Filecoin.Version`, which decides `lotus_up`), `lotus_session`,
//! `lotus_chain_head`, `lotus_sync_state`, `lotus_peers`, `lotus_network_name`, `lotus_genesis`,
//! `lotus_upgrades` (the network version and the upgrade schedule, [`upgrades`]),
//! `lotus_wallets`, `lotus_wallet_nonces` (outgoing messages of the watched wallets, `nonces`),
//! `lotus_process`, `lotus_token`, and the finality section ([`finality`]): `lotus_f3` and
//! `lotus_chain_finality`. A failed call fails only its own sub-check; the figures
//! it would have given are `None`.
//!
//! Genesis timestamp and network name never change for a running node: they are fetched once and
//! again only when `Filecoin.Session` (a UUID that changes on restart) changes; so are the F3
//! manifest, the finality route, the upgrade schedule, the network version (asked again once the
//! head passes a scheduled upgrade) and the methods the node does not serve. When the session
//! changes, the round is asked again once with nothing remembered.
//!
//! Here: [`LotusCheck`] and its round of calls ([`LotusCheck::report`]), and whether a `lotus
//! daemon` runs on this host. Beside it: `settings` ([`LotusConfig`]), `source` and
//! `connection` (where Lotus is, followed as its files change), `served` (what the node does not
//! serve, per session), `answers` (each call's answer as its sub-check), `constants` (the
//! per-session chain constants and token), `wallets`, `verdict` (lag, sync status, node type,
//! daemon status, health and its reasons) and `report` ([`LotusReport`]).

mod answers;
pub mod api_info;
mod bound;
mod check;
mod connection;
mod constants;
mod envelope;
pub mod finality;
mod flags;
mod locate;
mod nonces;
pub mod probe;
mod render;
mod report;
pub mod rpc;
mod served;
mod settings;
pub mod source;
pub mod types;
pub mod upgrades;
mod verdict;
mod wallets;

pub use api_info::{rpc_target, rpc_target_as, ApiInfo, ResolvedApi, UrlPath};
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
use connection::Connection;
use constants::{fetch_constants, needs_refresh, ChainConstants, FreshConstants};
use finality::{FinalityCache, FinalityRound};
use rpc::{timed, RpcClient, Timed};
use serde_json::Value;
use served::{Asker, Notes, Unserved};
use upgrades::{UpgradeCache, UpgradeRound};

/// Every `check` label value the Lotus check uses.
pub const CHECKS: [&str; 14] = [
    "lotus_version",
    "lotus_session",
    "lotus_chain_head",
    "lotus_sync_state",
    "lotus_peers",
    "lotus_network_name",
    "lotus_genesis",
    upgrades::UPGRADES_CHECK,
    "lotus_wallets",
    nonces::NONCES_CHECK,
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

/// The Lotus check: the connection in use, the files it follows, and what it learned per
/// Lotus session.
#[derive(Debug)]
pub struct LotusCheck {
    /// The client and address in use; replaced when a followed file names another.
    connection: Mutex<Arc<Connection>>,
    /// The files the address and token came from (`None`: nothing to follow).
    sources: Mutex<Option<source::Sources>>,
    /// One look at those files at a time: a `stat` stuck in a hung mount keeps it, and later
    /// rounds keep the connection in use rather than pile up blocked threads.
    sources_slot: crate::host::files::ReadSlot,
    body_cap: usize,
    /// Look at this host (the process table, who listens): off for `/probe` targets.
    host_checks: bool,
    wallets: Vec<WalletSpec>,
    max_wallets: usize,
    sync_lag_threshold: u64,
    /// What the verdict calls too few, too low or too far behind.
    thresholds: Thresholds,
    constants: Mutex<Option<ChainConstants>>,
    /// The F3 manifest and which finality call the node serves, per session.
    finality: Mutex<FinalityCache>,
    /// The methods the node does not serve, per session.
    unserved: Mutex<Unserved>,
    /// The upgrade schedule and network version, per session.
    upgrades: Mutex<UpgradeCache>,
    /// Log lines already written once (hints that would otherwise repeat every scrape).
    logged_once: Mutex<BTreeSet<String>>,
}

/// What is remembered per Lotus session, as one round reads it.
#[derive(Debug, Clone, Default)]
struct Memory {
    constants: Option<ChainConstants>,
    finality: FinalityCache,
    unserved: Unserved,
    upgrades: UpgradeCache,
}

/// One round's answers, before they are judged.
struct Answers {
    version: Timed<Value>,
    session: Timed<Value>,
    head: Timed<Value>,
    sync: Timed<Value>,
    peers: Timed<Value>,
    wallets: wallets::WalletRound,
    upgrades: UpgradeRound,
    fresh: Option<FreshConstants>,
    finality: FinalityRound,
    notes: Notes,
}

impl Answers {
    /// `Filecoin.Session`'s answer, when it gave one.
    fn session_id(&self) -> Option<String> {
        self.session
            .0
            .as_ref()
            .ok()
            .and_then(|v| v.as_str())
            .map(String::from)
    }
}

impl LotusCheck {
    pub fn new(config: LotusConfig) -> LotusCheck {
        let connection = Connection::new(
            config.target,
            config.token,
            config.api_source,
            config.max_body_bytes,
        );
        LotusCheck {
            connection: Mutex::new(Arc::new(connection)),
            sources: Mutex::new(config.sources),
            sources_slot: crate::host::files::ReadSlot::default(),
            body_cap: config.max_body_bytes,
            host_checks: true,
            wallets: config.wallets,
            max_wallets: config.max_wallets,
            sync_lag_threshold: config.sync_lag_threshold,
            thresholds: config.thresholds,
            constants: Mutex::new(None),
            finality: Mutex::new(FinalityCache::default()),
            unserved: Mutex::new(Unserved::default()),
            upgrades: Mutex::new(UpgradeCache::default()),
            logged_once: Mutex::new(BTreeSet::new()),
        }
    }

    /// The address in use, as shown (never a secret).
    pub fn api_address(&self) -> String {
        crate::host::lock(&self.connection).api_address.clone()
    }

    /// Where the address in use came from, in words.
    pub fn api_source(&self) -> String {
        crate::host::lock(&self.connection).api_source.clone()
    }

    /// The same check without looking at this host's processes (a `/probe` of a target).
    pub fn without_host_checks(mut self) -> LotusCheck {
        self.host_checks = false;
        self
    }

    /// The Lotus API's TCP host and port when it is on this host (so who listens there can be
    /// named); `None` for a remote, unix-socket or unusable API.
    pub fn local_tcp_api(&self) -> Option<(String, u16)> {
        crate::host::lock(&self.connection).local_tcp_api(self.host_checks)
    }

    /// Forget everything learned per Lotus session (the address or token changed).
    fn forget_sessions(&self) {
        *crate::host::lock(&self.constants) = None;
        *crate::host::lock(&self.finality) = FinalityCache::default();
        *crate::host::lock(&self.unserved) = Unserved::default();
        *crate::host::lock(&self.upgrades) = UpgradeCache::default();
    }

    /// Run every Lotus call concurrently and judge the node, before `deadline`, through the
    /// connection in use (renewed first when a followed file moved).
    pub async fn report(
        &self,
        deadline: Instant,
        procs: Result<Arc<ProcessTable>, String>,
    ) -> LotusReport {
        let connection = self.connection_now(deadline).await;
        self.report_on(&connection, deadline, procs).await
    }

    /// [`LotusCheck::report`] through `connection`.
    async fn report_on(
        &self,
        connection: &Connection,
        deadline: Instant,
        procs: Result<Arc<ProcessTable>, String>,
    ) -> LotusReport {
        let started = SystemTime::now();
        let process = self.process_check(connection, procs);
        let client = match &connection.client {
            Ok(client) => client,
            Err(reason) => return self.unusable(connection, reason, started, process),
        };
        let mut memory = Memory {
            constants: crate::host::lock(&self.constants).clone(),
            finality: crate::host::lock(&self.finality).clone(),
            unserved: crate::host::lock(&self.unserved).clone(),
            upgrades: crate::host::lock(&self.upgrades).clone(),
        };
        let mut answers = self.round(connection, client, &memory, deadline).await;
        // Another Lotus session (a restart, an upgrade): what was learned per session is asked
        // again, once, now.
        if memory
            .unserved
            .other_session(answers.session_id().as_deref())
        {
            memory = Memory::default();
            answers = self.round(connection, client, &memory, deadline).await;
        }
        let session_id = answers.session_id();
        let fresh = match answers.fresh {
            Some(fresh) => Some(fresh),
            None if needs_refresh(
                memory.constants.as_ref(),
                session_id.as_deref(),
                connection.token_given,
            ) =>
            {
                let asker = Asker::new(client, &memory.unserved);
                Some(fetch_constants(&asker, deadline).await)
            }
            None => None,
        };
        let version_answered = answers.version.0.is_ok();
        let (f3, chain_finality, finality_checks, learned) =
            finality::judge(answers.finality, &memory.finality, session_id.as_deref());
        if memory.finality.route_unknown() {
            if let Some(note) = learned.fallback_note() {
                self.log_once(log::Level::Info, note);
            }
        }
        *crate::host::lock(&self.finality) = learned;
        let notes = answers.notes;
        *crate::host::lock(&self.unserved) =
            memory
                .unserved
                .after_round(version_answered, session_id.as_deref(), notes.unserved);
        let mut assembly = Assembly::new(connection, &self.thresholds, started);
        assembly.refusals(notes.refused, notes.calls);
        assembly.version(answers.version);
        assembly.session(answers.session);
        assembly.constants(memory.constants, fresh, session_id, &self.constants);
        assembly.head(answers.head);
        *crate::host::lock(&self.upgrades) = assembly.upgrades(answers.upgrades, &memory.upgrades);
        assembly.sync(answers.sync);
        assembly.peers(answers.peers);
        assembly.wallets(answers.wallets);
        assembly.checks.extend(finality_checks);
        assembly.report.f3 = f3;
        assembly.report.chain_finality = chain_finality;
        assembly.checks.push(process.0);
        assembly.report.daemon_running = process.1;
        assembly.finish(self.sync_lag_threshold)
    }

    /// One round of calls, concurrently, through what `memory` holds for this session.
    async fn round(
        &self,
        connection: &Connection,
        client: &RpcClient,
        memory: &Memory,
        deadline: Instant,
    ) -> Answers {
        let asker = Asker::new(client, &memory.unserved);
        let call = |method: &'static str| timed(asker.call(method, json!([]), deadline));
        let (version, session, head, sync, peers, wallets, upgrades, fresh, finality) = tokio::join!(
            call("Filecoin.Version"),
            call("Filecoin.Session"),
            call("Filecoin.ChainHead"),
            call("Filecoin.SyncState"),
            call("Filecoin.NetPeers"),
            self.wallet_balances(&asker, connection.token_given, deadline),
            upgrades::collect(&asker, &memory.upgrades, deadline),
            async {
                match &memory.constants {
                    Some(_) => None,
                    None => Some(fetch_constants(&asker, deadline).await),
                }
            },
            finality::collect(&asker, &memory.finality, deadline),
        );
        Answers {
            version,
            session,
            head,
            sync,
            peers,
            wallets,
            upgrades,
            fresh,
            finality,
            notes: asker.into_notes(),
        }
    }

    fn process_check(
        &self,
        connection: &Connection,
        procs: Result<Arc<ProcessTable>, String>,
    ) -> (CheckResult, Option<bool>) {
        let begun = std::time::Instant::now();
        let (status, running) = if !(self.host_checks && connection.local) {
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
        connection: &Connection,
        reason: &str,
        started: SystemTime,
        process: (CheckResult, Option<bool>),
    ) -> LotusReport {
        let mut report =
            LotusReport::timed_out(connection.api_address.clone(), started, Duration::ZERO);
        report.api_source = connection.api_source.clone();
        report.thresholds = self.thresholds.clone();
        for check in report.checks.iter_mut() {
            check.status = if check.check == "lotus_token" && !connection.token_given {
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
