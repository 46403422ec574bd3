//! Snapshot -> the readable report `lotus-follow-exporter check` prints, and its exit status.

use std::fmt::Write;

use crate::checks::follow::FollowReport;
use crate::checks::lotus::finality::{self, F3State};
use crate::checks::lotus::LotusReport;
use crate::contract::{CheckStatus, Health};
use crate::exporter::snapshot::Snapshot;

/// True when nothing would alert (the `check` exit status: 0 when true, 1 when not): Lotus
/// healthy, every follower healthy (a configured follower that is stopped or unreachable is
/// not), no port in conflict, and no check failed or timed out (discovery, a config file, the
/// listeners, ...). A skipped check (not applicable here) does not count against it.
pub fn is_healthy(snapshot: &Snapshot) -> bool {
    snapshot.lotus.health == Health::Healthy
        && snapshot.follow.iter().all(|f| f.health == Health::Healthy)
        && !snapshot.ports.has_conflict()
        && snapshot.checks().all(|c| c.status.failure().is_none())
}

/// The report, one fact per line; "unknown" once per section, not in every field; each
/// distinct failure once, with every check it hit.
pub fn render(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    render_lotus(snapshot, &mut out);
    render_follow(snapshot, &mut out);
    render_ports(snapshot, &mut out);
    let failed = crate::contract::grouped_errors(snapshot.checks());
    if !failed.is_empty() {
        let _ = writeln!(out, "Failed checks:");
        for line in failed {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

fn render_lotus(snapshot: &Snapshot, out: &mut String) {
    let lotus = &snapshot.lotus;
    let _ = writeln!(out, "Lotus {}", lotus.api_address);
    let _ = writeln!(out, "  status:   {}", lotus.status.as_str());
    let _ = writeln!(out, "  health:   {}", lotus.health.as_str());
    for reason in &lotus.health_reasons {
        let _ = writeln!(out, "  why:      {reason}");
    }
    if !lotus.up {
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
        .map(|v| v.full.clone())
        .unwrap_or_else(unknown);
    let network = lotus.network.clone().unwrap_or_else(unknown);
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
        let _ = writeln!(out, "  wallet:   {}{alias}: {balance}", wallet.address);
    }
}

/// One line on finality: F3's state and lag, then the node's finalized tipset and EC depth.
pub(crate) fn finality_line(lotus: &LotusReport) -> String {
    let f3 = &lotus.f3;
    let mut f3_part = format!("F3 {}", f3.state.as_str());
    if let (Some(instance), Some(height)) = (f3.latest_instance, f3.finalized_height) {
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

fn render_follow(snapshot: &Snapshot, out: &mut String) {
    if snapshot.follow.is_empty() {
        let found_by = match &snapshot.follow_host.found_by {
            Some(found_by) => found_by
                .iter()
                .map(|(source, n)| format!("{n} by {}", source.label()))
                .collect::<Vec<_>>()
                .join(", "),
            None => "discovery did not finish".to_string(),
        };
        let _ = writeln!(out, "Cluster follow: no follower found ({found_by})");
    }
    for follower in &snapshot.follow {
        render_follower(follower, out);
    }
    if let Some(n) = snapshot.follow_host.over_cap.filter(|n| *n > 0) {
        let _ = writeln!(
            out,
            "Cluster follow: {n} more not watched (--follow.max-followers)"
        );
    }
}

fn render_follower(follower: &FollowReport, out: &mut String) {
    let _ = writeln!(out, "Cluster follow {}", follower.cluster_name);
    let _ = writeln!(out, "  api:      {}", follower.api);
    let _ = writeln!(out, "  status:   {}", follower.status.as_str());
    let _ = writeln!(out, "  health:   {}", follower.health.as_str());
    for reason in &follower.reasons {
        let _ = writeln!(out, "  why:      {}", reason.text);
    }
    if follower.api_reachable != Some(true) {
        return;
    }
    let num = |v: Option<u64>| v.map_or_else(|| "unknown".to_string(), |v| v.to_string());
    let _ = writeln!(
        out,
        "  peers:    {} (trusted {})",
        num(follower.peers),
        num(follower.trusted_peers)
    );
    let ipfs = match follower.ipfs_connected {
        Some(true) => "connected",
        Some(false) => "not connected",
        None => "unknown",
    };
    let _ = writeln!(out, "  ipfs:     {ipfs}");
    if let Some(pins) = &follower.pins_listed {
        let listed: Vec<String> = pins
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(status, n)| format!("{status} {n}"))
            .collect();
        let listed = if listed.is_empty() {
            "none".to_string()
        } else {
            listed.join(", ")
        };
        let _ = writeln!(out, "  pins:     {listed}");
    }
}

fn render_ports(snapshot: &Snapshot, out: &mut String) {
    let conflicts: Vec<_> = snapshot
        .ports
        .entries
        .iter()
        .filter(|e| e.conflict)
        .collect();
    if conflicts.is_empty() {
        return;
    }
    let _ = writeln!(out, "Port conflicts:");
    for entry in conflicts {
        let reason = entry.reason.as_deref().unwrap_or("conflict");
        let _ = writeln!(
            out,
            "  {}/{}: {reason}",
            entry.port,
            entry.protocol.as_str()
        );
    }
}
