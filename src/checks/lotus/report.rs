//! What one Lotus check found: the report ([`LotusReport`]) and the figures inside it, each
//! `None` when unknown, never zero.

use std::time::{Duration, SystemTime};

use super::finality::{ChainFinality, F3Report};
use super::types::{AttoFil, SyncWorkers};
use super::upgrades::UpgradeReport;
use super::{Thresholds, CHECKS};
use crate::contract::{CheckResult, CheckStatus, DaemonStatus, Health, Label, Text};

/// What the node says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeVersion {
    /// The full version string as Lotus reports it.
    pub full: Label,
    /// The release part (`1.34.1`).
    pub release: Label,
    pub commit: Label,
    /// What the node serves says it is: `chain` for a full node (as Lotus's own
    /// `lotus_info{node_type}`), `gateway` for lotus-gateway, `unknown` when the evidence does
    /// not tell (see `node_type` in `verdict.rs`).
    pub node_type: Label,
}

/// One watched wallet.
#[derive(Debug, Clone, PartialEq)]
pub struct WalletBalance {
    pub address: String,
    pub alias: String,
    /// `None` when the balance could not be read this time.
    pub balance: Option<AttoFil>,
    /// Below this many FIL the wallet is low (`--lotus.wallet-min-balance`).
    pub min_fil: f64,
    /// The account's nonce on chain at the head (`StateGetActor`'s `Nonce`); `None` when
    /// unknown or the account does not exist yet.
    pub nonce: Option<u64>,
    /// Messages the node's pool holds beyond the chain nonce (`MpoolGetNonce` minus
    /// [`Self::nonce`]); `None` when unknown or the account does not exist yet (never 0 then).
    pub nonce_gap: Option<u64>,
}

impl WalletBalance {
    /// The balance is known and below the wallet's threshold: compared in FIL as a float, as
    /// the rule compares `lotus_wallet_balance_fil` with `lotus_wallet_balance_min_fil`.
    pub fn is_low(&self) -> bool {
        self.balance.is_some_and(|b| b.to_fil() < self.min_fil)
    }
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
    /// Where the address came from: `--lotus.api`, `FULLNODE_API_INFO`, the repo's `api` file
    /// (its path), `default: no PATH`, or `/probe target`.
    pub api_source: String,
    pub checks: Vec<CheckResult>,
    /// The Lotus API answered this scrape: `Filecoin.Version` answered ([`Self::version`] is
    /// then known), or the front in its place (a proxy, a gateway) refused with HTTP 429 or 503
    /// (something is there: not a stop).
    pub up: bool,
    pub version: Option<NodeVersion>,
    /// The chain's network name (`StateNetworkName`, normalised: `mainnet`, `calibrationnet`,
    /// a devnet's `testing`), else the build type of `Filecoin.Version` while that is unknown.
    pub network: Option<Label>,
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
    pub api_listener: Option<Vec<Label>>,
    /// The API's TCP host and port when it is on this host (`None`: remote, unix socket or
    /// unusable), so the registry's join can name who listens there.
    pub api_tcp: Option<(String, u16)>,
    /// The configured token's permissions (`Filecoin.AuthVerify`); `None` without a token or when unknown.
    pub token_permissions: Option<Vec<Label>>,
    /// F3 (Fast Finality): running, latest certificate, progress, manifest.
    pub f3: F3Report,
    /// The node's own finalized tipset and the EC finality depth.
    pub chain_finality: ChainFinality,
    /// The network version and the next scheduled network upgrade.
    pub upgrades: UpgradeReport,
    pub status: DaemonStatus,
    pub health: Health,
    /// Why health is not `healthy`, in words (empty when healthy).
    pub health_reasons: Vec<Text>,
    pub sync_status: SyncStatus,
    pub last_check: SystemTime,
    /// What the verdict judged by (exported, so the alert rules compare with the same numbers).
    pub thresholds: Thresholds,
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
            api_source: String::new(),
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
            api_tcp: None,
            token_permissions: None,
            f3: F3Report::unknown(),
            chain_finality: ChainFinality::default(),
            upgrades: UpgradeReport::default(),
            status: DaemonStatus::Error,
            health: Health::Unhealthy,
            health_reasons: Vec::new(),
            sync_status: SyncStatus::Unknown,
            last_check: started,
            thresholds: Thresholds::default(),
        }
    }

    /// Failed and timed-out checks in words (checks that failed for the same reason share a
    /// line), then the messages of sync workers in the error stage.
    pub fn errors(&self) -> Vec<String> {
        let mut errors = crate::contract::grouped_errors(&self.checks);
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
