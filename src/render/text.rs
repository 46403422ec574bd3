//! Snapshot -> the readable report `lotus-follow-exporter check` prints.

use std::fmt::Write;

use crate::snapshot::{Health, Snapshot};

/// True when every watched daemon is healthy (the `check` exit status).
pub fn is_healthy(snapshot: &Snapshot) -> bool {
    snapshot.lotus.health == Health::Healthy
        && snapshot.follow.iter().all(|f| f.health == Health::Healthy)
}

/// The report, one fact per line.
pub fn render(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    let lotus = &snapshot.lotus;
    let unknown = || "unknown".to_string();
    let num = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(unknown);
    let _ = writeln!(out, "Lotus {}", lotus.api_address);
    let _ = writeln!(out, "  status:   {}", lotus.status.as_str());
    let _ = writeln!(out, "  health:   {}", lotus.health.as_str());
    for reason in &lotus.health_reasons {
        let _ = writeln!(out, "    because {reason}");
    }
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
    for follower in &snapshot.follow {
        let _ = writeln!(out, "Cluster follow {}", follower.cluster_name);
        let _ = writeln!(out, "  status:   {}", follower.status.as_str());
        let _ = writeln!(out, "  health:   {}", follower.health.as_str());
    }
    let failed: Vec<String> = snapshot.checks().filter_map(|c| c.error_line()).collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "Failed checks:");
        for line in failed {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}
