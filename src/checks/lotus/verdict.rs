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

/// A head this many epochs ahead of the clock is still fine (1 at an epoch boundary, where the
/// two clocks read the epoch a moment apart); further ahead, one of the clocks is wrong. The
/// rule `LotusHeadAheadOfClock` says `lotus_chain_head_ahead_epochs > 1`.
pub(crate) const MAX_AHEAD_EPOCHS: u64 = 1;

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
/// in error, enough peers, a head not ahead of the clock), and each condition a warning rule
/// of `alerts/lotus-follow-exporter.rules.yml` checks in one scrape is a reason too, judged
/// with the same thresholds ([`Thresholds`](super::Thresholds), which the rules read from the
/// exported gauges). A method the node does not serve (skipped) is no evidence against it. A
/// front that refused calls (`refusals`) is said first; when it refused `Filecoin.Version`
/// itself nothing was measured, and that is the whole reason.
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
    if let Some(ahead) = report.head_ahead_epochs.filter(|a| *a > MAX_AHEAD_EPOCHS) {
        reasons.push(format!(
            "head is {ahead} epochs ahead of this host's clock: one of the two clocks is wrong"
        ));
    }
    match &report.sync_workers {
        Some(workers) if workers.per_stage[STAGE_ERROR] > 0 => {
            let messages = report.sync_errors();
            if messages.is_empty() {
                reasons.push("a sync worker is in the error stage".to_string());
            }
            for message in messages {
                reasons.push(format!("a sync worker is in the error stage: {message}"));
            }
        }
        Some(_) => {}
        None if not_served("lotus_sync_state") => {}
        None => {
            reasons.push("sync workers unknown (Filecoin.SyncState did not answer)".to_string())
        }
    }
    let min_peers = report.thresholds.min_peers;
    match report.peers {
        Some(0) if min_peers > 0 => reasons.push(format!(
            "no peers (fewer than {min_peers}, --lotus.min-peers)"
        )),
        Some(peers) if peers < min_peers => reasons.push(format!(
            "{peers} peers, fewer than {min_peers} (--lotus.min-peers)"
        )),
        Some(_) => {}
        None if not_served("lotus_peers") => {}
        None => reasons.push("peers unknown (Filecoin.NetPeers did not answer)".to_string()),
    }
    for wallet in report.wallets.iter().filter(|w| w.is_low()) {
        let name = match wallet.alias.as_str() {
            "" => wallet.address.clone(),
            alias => format!("{alias} ({})", wallet.address),
        };
        let balance = wallet.balance.map(|b| b.to_fil()).unwrap_or_default();
        reasons.push(format!(
            "wallet {name} holds {balance} FIL, below {} FIL (--lotus.wallet-min-balance)",
            wallet.min_fil
        ));
    }
    let release = report.version.as_ref().map(|v| v.release.as_str());
    reasons.extend(super::upgrades::soon_reason(&report.upgrades, release));
    reasons.extend(finality_reasons(report));
    reasons
}

/// The finality conditions the `lotus-finality` rules check in one scrape. They degrade the
/// node, never make it unhealthy: an F3 stall is usually the network's, and the chain goes on.
fn finality_reasons(report: &LotusReport) -> Vec<String> {
    let mut reasons = Vec::new();
    let (f3, chain, limits) = (&report.f3, &report.chain_finality, &report.thresholds);
    let f3_max = i64::try_from(limits.f3_max_finality_lag).unwrap_or(i64::MAX);
    // Before F3's bootstrap epoch nothing of F3 is expected: no F3 reason, no F3 alert.
    let pending = f3.activates_at(report.chain_height).is_some();
    match (f3.running(), f3.finality_lag_epochs) {
        _ if pending => {}
        // LotusF3Stalled, the lag half (the other half, an instance unchanged for 15 minutes,
        // needs history); also where the node serves certificates but not F3IsRunning.
        (Some(true) | None, Some(lag)) if lag > f3_max => reasons.push(format!(
            "F3 finalizes {lag} epochs behind the head, more than {f3_max} (--lotus.f3-max-finality-lag): F3 is stalled"
        )),
        // LotusF3NotRunning: quiet only where the head is known to be before F3's bootstrap.
        (Some(false), _) => reasons.push("F3 is enabled but not running".to_string()),
        _ => {}
    }
    // LotusF3NoCertificate: activated long ago, never certified (no lag to compare).
    let uncertified = f3.uncertified_epochs(report.chain_height);
    if let Some(epochs) = uncertified.filter(|n| i64::try_from(*n).unwrap_or(i64::MAX) > f3_max) {
        if f3.running() != Some(false) {
            reasons.push(format!(
                "F3 has produced no certificate in the {epochs} epochs since its bootstrap epoch, more than {f3_max} (--lotus.f3-max-finality-lag): F3 is stalled"
            ));
        }
    }
    // LotusChainFinalityLagHigh: only where a short lag is expected (F3 running, or an EC depth).
    let max = i64::try_from(limits.max_finality_lag).unwrap_or(i64::MAX);
    let short_lag_expected = (f3.running() == Some(true) && !pending)
        || chain.ec_threshold_depth.is_some_and(|d| d >= 0);
    if let Some(lag) = chain.finality_lag_epochs.filter(|l| *l > max) {
        if short_lag_expected {
            reasons.push(format!(
                "the node's finalized tipset is {lag} epochs behind its head, more than {max} (--lotus.max-finality-lag)"
            ));
        }
    }
    // LotusECFinalityDegraded.
    if chain.ec_threshold_depth == Some(-1) {
        reasons.push(
            "the EC finality threshold is not met (ecFinalityThresholdDepth -1): a degraded chain"
                .to_string(),
        );
    }
    reasons
}

impl Assembly {
    /// The expected height needs the genesis timestamp and the block delay. When a call that
    /// succeeded left out its part (a Version without BlockDelay, a genesis without timestamps)
    /// or the clock is before genesis, that call's check fails with the reason: the sync lag
    /// is then unknown, and like every figure a failed check leaves unknown it has its alert
    /// (LotusFollowExporterCheckFailing), as the verdict's "sync lag unknown" needs.
    fn blame_missing_expected_height(&mut self) {
        let (check, reason) = if self.report.block_delay_seconds.is_none() {
            (
                "lotus_version",
                "Filecoin.Version gave no BlockDelay: the height the clock expects, and so the sync lag, cannot be computed",
            )
        } else if self.genesis_timestamp.is_none() {
            (
                "lotus_genesis",
                "Filecoin.ChainGetGenesis gave no block timestamp: the height the clock expects, and so the sync lag, cannot be computed",
            )
        } else {
            (
                "lotus_genesis",
                "the genesis timestamp is after this host's clock: the height the clock expects, and so the sync lag, cannot be computed",
            )
        };
        if let Some(result) = self
            .checks
            .iter_mut()
            .find(|c| c.check == check && c.status == CheckStatus::Ok)
        {
            result.status = CheckStatus::Failed(reason.to_string());
        }
    }

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
        // The chain's own name (StateNetworkName, from genesis) first: the build type in
        // Version says which constants the binary was compiled with, not which chain it
        // follows (a devnet from a mainnet build says `+mainnet`; a plain build says nothing).
        // The build type only stands in while the chain's name is unknown.
        if report.up {
            if let Some(chain) = self.network_name.as_deref() {
                report.network = Some(Label::new(types::normalise_network(chain)));
            }
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
        if report.version.is_some() && report.expected_height.is_none() {
            self.blame_missing_expected_height();
        }
        let report = &mut self.report;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::lotus::finality::{F3Manifest, F3State};
    use crate::checks::lotus::report::WalletBalance;
    use std::time::Duration;

    /// A node that answered: synced, 12 peers, F3 running 5 behind, the finalized tipset 5
    /// behind with EC at 30; nothing to say against it.
    fn well() -> LotusReport {
        let mut report = LotusReport::timed_out("x".into(), SystemTime::now(), Duration::ZERO);
        report.up = true;
        report.synced = Some(true);
        report.sync_lag_epochs = Some(0);
        report.chain_height = Some(5_700_000);
        report.peers = Some(12);
        report.sync_workers = Some(Default::default());
        report.f3.state = F3State::Running;
        report.f3.finality_lag_epochs = Some(5);
        report.f3.manifest = Some(F3Manifest {
            network_name: "filecoin".into(),
            bootstrap_epoch: 4_920_480,
        });
        report.chain_finality.finality_lag_epochs = Some(5);
        report.chain_finality.ec_threshold_depth = Some(30);
        report
    }

    fn reasons(report: &LotusReport) -> Vec<String> {
        health_reasons(report, &[], 5, Vec::new())
    }

    #[test]
    fn a_well_node_has_no_reason() {
        assert_eq!(reasons(&well()), Vec::<String>::new());
    }

    #[test]
    fn peers_below_the_minimum_are_a_reason_and_0_turns_the_minimum_off() {
        let mut report = well();
        report.peers = Some(9);
        assert_eq!(
            reasons(&report),
            ["9 peers, fewer than 10 (--lotus.min-peers)"]
        );
        report.peers = Some(10);
        assert!(reasons(&report).is_empty(), "10 is not fewer than 10");
        report.peers = Some(0);
        report.thresholds.min_peers = 0;
        assert!(reasons(&report).is_empty(), "no minimum");
    }

    #[test]
    fn a_wallet_below_its_own_threshold_is_a_reason_and_an_unknown_balance_is_not() {
        let mut report = well();
        let wallet = |alias: &str, fil: u128, min_fil: f64| WalletBalance {
            address: "f1abc".into(),
            alias: alias.into(),
            balance: Some(crate::checks::lotus::types::AttoFil {
                negative: false,
                magnitude: fil * 10u128.pow(18),
            }),
            min_fil,
            nonce: None,
            nonce_gap: None,
        };
        report.wallets = vec![wallet("hot", 1, 1.0), wallet("payer", 20, 50.0)];
        assert_eq!(
            reasons(&report),
            ["wallet payer (f1abc) holds 20 FIL, below 50 FIL (--lotus.wallet-min-balance)"]
        );
        report.wallets[1].balance = None;
        assert!(reasons(&report).is_empty());
    }

    #[test]
    fn f3_is_judged_as_the_finality_rules_judge_it() {
        let mut report = well();
        report.f3.finality_lag_epochs = Some(21);
        assert_eq!(
            reasons(&report),
            ["F3 finalizes 21 epochs behind the head, more than 20 (--lotus.f3-max-finality-lag): F3 is stalled"]
        );
        report.f3.finality_lag_epochs = Some(20);
        assert!(reasons(&report).is_empty(), "20 is not more than 20");

        report.f3.state = F3State::NotRunning;
        assert_eq!(reasons(&report), ["F3 is enabled but not running"]);
        report.chain_height = Some(4_000_000);
        assert!(reasons(&report).is_empty(), "before the bootstrap epoch");
        report.f3.manifest = None;
        assert_eq!(
            reasons(&report),
            ["F3 is enabled but not running"],
            "a bootstrap epoch unknown is no excuse"
        );
        report.f3.state = F3State::Disabled;
        assert!(reasons(&report).is_empty());
    }

    #[test]
    fn f3_is_judged_whichever_figure_is_missing_and_not_before_its_activation() {
        // Certificates served, F3IsRunning not: the lag alone says it.
        let mut report = well();
        report.f3.state = F3State::NotServed;
        report.f3.finality_lag_epochs = Some(1200);
        assert_eq!(
            reasons(&report),
            ["F3 finalizes 1200 epochs behind the head, more than 20 (--lotus.f3-max-finality-lag): F3 is stalled"]
        );
        // Activated long ago, never a certificate: the epochs since the bootstrap say it.
        let mut report = well();
        report.f3.latest_instance = None;
        report.f3.finalized_height = None;
        report.f3.finality_lag_epochs = None;
        report.f3.no_certificate = true;
        let head = report.chain_height.unwrap_or_default();
        let since = head - 4_920_480;
        assert_eq!(
            reasons(&report),
            [format!("F3 has produced no certificate in the {since} epochs since its bootstrap epoch, more than 20 (--lotus.f3-max-finality-lag): F3 is stalled")]
        );
        report.f3.state = F3State::NotRunning;
        assert_eq!(
            reasons(&report),
            ["F3 is enabled but not running"],
            "one cause, one reason"
        );
        // Before the bootstrap epoch: nothing of F3, not even a long finality lag.
        report.f3.state = F3State::Running;
        report.chain_height = Some(4_920_000);
        report.f3.finality_lag_epochs = Some(900);
        report.chain_finality.ec_threshold_depth = None;
        report.chain_finality.finality_lag_epochs = Some(900);
        assert!(reasons(&report).is_empty(), "{:?}", reasons(&report));
    }

    #[test]
    fn the_finalized_tipset_far_behind_counts_only_where_a_short_lag_is_expected() {
        let mut report = well();
        report.chain_finality.finality_lag_epochs = Some(900);
        assert_eq!(
            reasons(&report),
            ["the node's finalized tipset is 900 epochs behind its head, more than 60 (--lotus.max-finality-lag)"]
        );
        // A v1-only node without F3 answers head - 900 by design.
        report.f3.state = F3State::Disabled;
        report.chain_finality.ec_threshold_depth = None;
        assert!(reasons(&report).is_empty());
        report.chain_finality.ec_threshold_depth = Some(-1);
        assert_eq!(
            reasons(&report),
            ["the EC finality threshold is not met (ecFinalityThresholdDepth -1): a degraded chain"]
        );
    }

    #[test]
    fn a_worker_in_error_without_a_message_is_still_a_reason() {
        let mut report = well();
        let mut workers = crate::checks::lotus::types::SyncWorkers::default();
        workers.per_stage[STAGE_ERROR] = 1;
        report.sync_workers = Some(workers);
        assert_eq!(reasons(&report), ["a sync worker is in the error stage"]);
    }
}
