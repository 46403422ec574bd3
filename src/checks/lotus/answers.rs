//! The answers of one round of calls (version, session, head, sync state, peers, wallets), each
//! recorded as its sub-check and read into the report's figures.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::connection::Connection;
use super::report::{LotusReport, NodeVersion};
use super::rpc::{RpcError, Timed};
use super::types;
use super::Thresholds;
use crate::contract::{CheckResult, CheckStatus, Label};

/// The check status a failed call gives.
pub(super) fn status_of(error: &RpcError) -> CheckStatus {
    match error {
        RpcError::MethodNotFound { .. } => CheckStatus::Skipped(error.to_string()),
        RpcError::TimedOut(_) => CheckStatus::TimedOut,
        other => CheckStatus::Failed(other.to_string()),
    }
}

/// The status recorded for `check` among `checks` (Ok when it was not recorded).
pub(super) fn recorded_status(checks: &[CheckResult], check: &str) -> CheckStatus {
    checks
        .iter()
        .find(|c| c.check == check)
        .map(|c| c.status.clone())
        .unwrap_or(CheckStatus::Ok)
}

/// Builds a report from the calls' outcomes, one sub-check at a time.
pub(super) struct Assembly {
    pub(super) report: LotusReport,
    pub(super) checks: Vec<CheckResult>,
    /// Methods the node said it does not serve this round.
    pub(super) not_served: BTreeSet<&'static str>,
    /// `Filecoin.Version`'s `Agent`.
    pub(super) agent: Option<String>,
    pub(super) version_error: Option<RpcError>,
    pub(super) genesis_timestamp: Option<u64>,
    pub(super) network_name: Option<String>,
    /// Calls Lotus's front refused this round (HTTP 429, 503), and how many calls were made.
    pub(super) refused: Vec<RpcError>,
    pub(super) calls: usize,
}

impl Assembly {
    pub(super) fn new(
        connection: &Connection,
        thresholds: &Thresholds,
        started: SystemTime,
    ) -> Assembly {
        let mut report =
            LotusReport::timed_out(connection.api_address.clone(), started, Duration::ZERO);
        report.api_source = connection.api_source.clone();
        report.checks.clear();
        report.thresholds = thresholds.clone();
        Assembly {
            report,
            checks: Vec::new(),
            not_served: BTreeSet::new(),
            agent: None,
            version_error: None,
            genesis_timestamp: None,
            network_name: None,
            refused: Vec::new(),
            calls: 0,
        }
    }

    /// The calls Lotus's front refused this round, out of `calls`.
    pub(super) fn refusals(&mut self, refused: Vec<RpcError>, calls: usize) {
        self.refused = refused;
        self.calls = calls;
    }

    /// Record a call's outcome under `check`, returning the parsed value when both call and shape were good.
    pub(super) fn record<T>(
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

    pub(super) fn version(&mut self, version: Timed<Value>) {
        if let Err(e) = &version.0 {
            self.version_error = Some(e.clone());
            // Lotus's front answered for it ("later"): the API is there, nothing is measured.
            self.report.up = e.is_front_refusal();
        }
        let Some(parsed) = self.record("lotus_version", version, types::parse_version) else {
            return;
        };
        self.report.up = true;
        let parts = types::split_version(&parsed.version);
        self.agent = parsed.agent.clone();
        self.report.network = parts
            .build_type
            .as_deref()
            .map(|t| Label::new(types::normalise_network(t)));
        self.report.block_delay_seconds = parsed.block_delay_seconds;
        self.report.version = Some(NodeVersion {
            full: Label::new(&parsed.version),
            release: Label::new(parts.release),
            commit: Label::new(parts.commit.unwrap_or_default()),
            node_type: Label::new("unknown"),
        });
    }

    pub(super) fn session(&mut self, session: Timed<Value>) {
        self.record("lotus_session", session, |v| {
            types::parse_string("Filecoin.Session", v)
        });
    }

    /// The status already recorded for `check` (Ok when it was not recorded).
    pub(super) fn status_of(&self, check: &str) -> CheckStatus {
        recorded_status(&self.checks, check)
    }

    pub(super) fn head(&mut self, head: Timed<Value>) {
        if let Some(tipset) = self.record("lotus_chain_head", head, |v| {
            types::parse_tipset("Filecoin.ChainHead", v)
        }) {
            self.report.chain_height = Some(tipset.height);
            self.report.head_timestamp_seconds = tipset.min_timestamp;
        }
    }

    pub(super) fn sync(&mut self, sync: Timed<Value>) {
        self.report.sync_workers = self.record("lotus_sync_state", sync, types::parse_sync_state);
    }

    pub(super) fn peers(&mut self, peers: Timed<Value>) {
        self.report.peers = self.record("lotus_peers", peers, types::parse_unique_peers);
    }

    pub(super) fn wallets(&mut self, round: super::wallets::WalletRound) {
        self.checks.push(CheckResult::new(
            "lotus_wallets",
            round.status,
            round.duration,
        ));
        self.checks.push(round.nonces);
        self.report.wallets = round.balances;
    }

    /// The upgrade section from this round's calls and the session's memory (after
    /// [`Self::head`]): figures only from a node that answered; what to remember next.
    pub(super) fn upgrades(
        &mut self,
        round: super::upgrades::UpgradeRound,
        cached: &super::upgrades::UpgradeCache,
    ) -> super::upgrades::UpgradeCache {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let head = super::upgrades::HeadNow {
            height: self.report.chain_height,
            timestamp: self.report.head_timestamp_seconds,
            version_block_delay: self.report.block_delay_seconds,
            now,
        };
        let (check, report, learned) = super::upgrades::judge(round, cached, &head);
        self.checks.push(check);
        if self.report.up {
            self.report.upgrades = report;
        }
        learned
    }
}
