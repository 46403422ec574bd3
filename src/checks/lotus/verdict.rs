//! The verdict on the node from what it answered: expected height and lag, sync status, node
//! type, daemon status, health and the reasons it is not healthy.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use super::answers::{recorded_status, Assembly};
use super::finality;
use super::report::{LotusReport, SyncStatus};
use super::rpc::RpcError;
use super::types::{self, STAGE_ERROR};
use super::CHECKS;
use crate::contract::limits::capped;
use crate::contract::{CheckResult, CheckStatus, DaemonStatus, Health, Label, Text};

/// The highest height an answer may carry: 2^53, past which a height is no longer exact in
/// JSON numbers (and which a chain of 30 s epochs reaches in 8.5 billion years).
const MAX_HEIGHT: u64 = 1 << 53;

/// How far ahead of the clock a head may be before it is an invalid answer rather than a
/// wrong clock: a day's worth of epochs (2880 at 30 s).
const MAX_AHEAD_SECONDS: u64 = 24 * 60 * 60;

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

/// The front's refusals (HTTP 429, 503) of this round's calls, in words: one reason per kind,
/// starting with what it is (`rate limited`, `unavailable`).
fn refusal_reasons(refused: &[RpcError], calls: usize) -> Vec<String> {
    let mut reasons = Vec::new();
    let limited: Vec<&String> = refused
        .iter()
        .filter_map(|e| match e {
            RpcError::RateLimited { display, .. } => Some(display),
            _ => None,
        })
        .collect();
    if let Some(display) = limited.first() {
        reasons.push(format!(
            "rate limited: {display} answered HTTP 429 Too Many Requests to {} of this scrape's {calls} calls (a proxy or gateway in front of Lotus limits the exporter's calls; what those calls measure is unknown, Lotus itself is not known to be down)",
            limited.len()
        ));
    }
    let unavailable: Vec<&String> = refused
        .iter()
        .filter_map(|e| match e {
            RpcError::Unavailable { display, .. } => Some(display),
            _ => None,
        })
        .collect();
    if let Some(display) = unavailable.first() {
        reasons.push(format!(
            "unavailable: {display} answered HTTP 503 Service Unavailable to {} of this scrape's {calls} calls (the proxy or gateway in front of Lotus, or Lotus, is overloaded, in maintenance or limiting requests)",
            unavailable.len()
        ));
    }
    reasons
}

/// Why a node that is up is not healthy: each part of health needs evidence (synced, no worker
/// in error, at least one peer, a head not ahead of the clock). A method the node does not
/// serve (skipped) is no evidence against it. A front that refused calls is said first; when it
/// refused `Filecoin.Version` itself nothing was measured, and that is the whole reason.
fn health_reasons(
    report: &LotusReport,
    checks: &[CheckResult],
    threshold: u64,
    refusals: Vec<String>,
) -> Vec<String> {
    if !report.up {
        return vec!["the Lotus API did not answer Filecoin.Version".to_string()];
    }
    if report.version.is_none() && !refusals.is_empty() {
        return refusals;
    }
    let mut reasons = refusals;
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

impl Assembly {
    /// Derive expected height, lag, node type, verdicts and their reasons.
    pub(super) fn finish(mut self, sync_lag_threshold: u64) -> LotusReport {
        let node_type = node_type(
            self.agent.as_deref(),
            &self.not_served,
            self.report.sync_workers.is_some() || self.report.peers.is_some(),
        );
        if let Some(version) = self.report.version.as_mut() {
            version.node_type = Label::new(node_type);
        }
        let report = &mut self.report;
        if report.network.is_none() && report.up {
            report.network = self
                .network_name
                .as_deref()
                .map(|n| Label::new(types::normalise_network(n)));
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
        report.status = if report.version.is_some() {
            DaemonStatus::Running
        } else if self
            .version_error
            .as_ref()
            .is_some_and(RpcError::is_unreachable)
            // Stopped only when the process table was read and holds no Lotus daemon.
            && report.daemon_running == Some(false)
        {
            DaemonStatus::Stopped
        } else {
            DaemonStatus::Error
        };
        let checks = &self.checks;
        let refusals = refusal_reasons(&self.refused, self.calls);
        let reasons = health_reasons(report, checks, sync_lag_threshold, refusals);
        report.health = if !report.up {
            Health::Unhealthy
        } else if reasons.is_empty() {
            Health::Healthy
        } else {
            Health::Degraded
        };
        report.health_reasons = capped(reasons).into_iter().map(Text::new).collect();
        self.checks
            .sort_by_key(|c| CHECKS.iter().position(|n| *n == c.check));
        report.checks = self.checks;
        self.report
    }
}
