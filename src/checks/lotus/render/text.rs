//! The Lotus part of the `check` report: one fact per line, "unknown" once when the API did
//! not answer.

use std::fmt::Write;

use crate::checks::lotus::finality::{self, F3State};
use crate::checks::lotus::upgrades::in_words;
use crate::checks::lotus::LotusReport;
use crate::contract::CheckStatus;

pub fn render(lotus: &LotusReport, out: &mut String) {
    let _ = writeln!(out, "Lotus {}", heading(lotus));
    let _ = writeln!(out, "  status:   {}", lotus.status.as_str());
    let _ = writeln!(out, "  health:   {}", lotus.health.as_str());
    for reason in &lotus.health_reasons {
        let _ = writeln!(out, "  why:      {reason}");
    }
    if lotus.version.is_none() {
        let _ = writeln!(
            out,
            "  figures:  unknown (the API did not answer; see the failed checks)"
        );
        return;
    }
    let unknown = || "unknown".to_string();
    let num = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(unknown);
    let version = lotus
        .version
        .as_ref()
        .map_or_else(unknown, |v| v.full.to_string());
    let network = lotus
        .network
        .as_ref()
        .map_or_else(unknown, |n| n.to_string());
    let _ = writeln!(out, "  version:  {version} ({network})");
    let _ = writeln!(
        out,
        "  height:   {} of {} expected (lag {} epochs, {})",
        num(lotus.chain_height),
        num(lotus.expected_height),
        num(lotus.sync_lag_epochs),
        lotus.sync_status.as_str()
    );
    let _ = writeln!(out, "  peers:    {}", num(lotus.peers));
    let _ = writeln!(out, "  finality: {}", finality_line(lotus));
    let _ = writeln!(out, "  upgrade:  {}", upgrade_line(lotus));
    for wallet in &lotus.wallets {
        let balance = wallet
            .balance
            .map(|b| format!("{} FIL", b.to_fil()))
            .unwrap_or_else(unknown);
        let alias = if wallet.alias.is_empty() {
            String::new()
        } else {
            format!(" ({})", wallet.alias)
        };
        let gap = match wallet.nonce_gap {
            Some(gap) => format!(", {gap} messages pending (nonce gap)"),
            None => String::new(),
        };
        let _ = writeln!(out, "  wallet:   {}{alias}: {balance}{gap}", wallet.address);
    }
}

/// The network version and the next scheduled upgrade: `network version 27; next upgrade
/// FireHorse at epoch 6052800, in 2d18h`.
pub(crate) fn upgrade_line(lotus: &LotusReport) -> String {
    let upgrades = &lotus.upgrades;
    let version = upgrades.network_version.map_or_else(
        || "network version unknown".to_string(),
        |v| format!("network version {v}"),
    );
    let next = match &upgrades.next {
        None => "no upgrade scheduled (or the schedule is unknown)".to_string(),
        Some(next) => {
            let when = match next.seconds {
                Some(s) if s >= 0 => format!(", in {}", in_words(s.unsigned_abs())),
                Some(s) => format!(", past by the clock by {}", in_words(s.unsigned_abs())),
                None => String::new(),
            };
            format!("next upgrade {} at epoch {}{when}", next.name, next.epoch)
        }
    };
    format!("{version}; {next}")
}

/// The address in use and where it came from: `http://127.0.0.1:1234/rpc/v1 (from
/// /home/lotus/.lotus/api)`, `... (default: no /home/lotus/.lotus/api)`.
fn heading(lotus: &crate::checks::lotus::LotusReport) -> String {
    match lotus.api_source.as_str() {
        "" => lotus.api_address.clone(),
        source if source.starts_with("default") => format!("{} ({source})", lotus.api_address),
        source => format!("{} (from {source})", lotus.api_address),
    }
}

/// `2h30m`, `45m`, `3d4h`: how long until an epoch, to the minute.
fn hours_minutes(seconds: u64) -> String {
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, h) => format!("{h}h{minutes}m"),
        (d, h) => format!("{d}d{h}h"),
    }
}

/// One line on finality: F3's state and lag, then the node's finalized tipset and EC depth.
pub(crate) fn finality_line(lotus: &LotusReport) -> String {
    let f3 = &lotus.f3;
    let mut f3_part = format!("F3 {}", f3.state.as_str());
    if let Some(bootstrap) = f3.activates_at(lotus.chain_height) {
        f3_part = format!("F3 not yet activated (activates at epoch {bootstrap}");
        if let (Some(head), Some(delay)) = (lotus.chain_height, lotus.block_delay_seconds) {
            let seconds = (bootstrap - head).saturating_mul(delay);
            let _ = write!(f3_part, ", in {}", hours_minutes(seconds));
        }
        f3_part.push(')');
    } else if let (Some(instance), Some(height)) = (f3.latest_instance, f3.finalized_height) {
        let lag = f3
            .finality_lag_epochs
            .map_or_else(String::new, |l| format!(", {l} epochs behind the head"));
        let _ = write!(f3_part, ", instance {instance} finalized {height}{lag}");
    } else if f3.state == F3State::Running {
        f3_part.push_str(", no certificate yet");
    }
    let chain = &lotus.chain_finality;
    let chain_part = match (chain.finalized_height, chain.source) {
        (Some(height), Some(source)) => {
            let lag = chain
                .finality_lag_epochs
                .map_or_else(String::new, |l| format!(", {l} behind"));
            let depth = match chain.ec_threshold_depth {
                Some(-1) => ", EC finality degraded (threshold not met)".to_string(),
                Some(depth) => format!(", EC depth {depth}"),
                None => String::new(),
            };
            format!("chain finalized {height}{lag} ({}){depth}", source.as_str())
        }
        _ => {
            let skipped = lotus.checks.iter().any(|c| {
                c.check == finality::CHAIN_CHECK && matches!(c.status, CheckStatus::Skipped(_))
            });
            if skipped {
                "chain finality not served by this node".to_string()
            } else {
                "chain finalized unknown".to_string()
            }
        }
    };
    format!("{f3_part}; {chain_part}")
}
