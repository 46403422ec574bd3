//! The `lotus` section of `/status`: the same verdicts and figures as the `lotus_*` metrics,
//! `null` where a figure could not be measured.

use serde_json::{json, Value};

use crate::checks::lotus::finality::F3Report;
use crate::checks::lotus::LotusReport;
use crate::contract::views::rfc3339;

/// The `lotus` section.
pub fn lotus(report: &LotusReport) -> Value {
    let wallets: Vec<Value> = report
        .wallets
        .iter()
        .map(|w| {
            json!({
                "address": w.address,
                "alias": w.alias,
                "balance_fil": w.balance.map(|b| b.to_fil()),
                "balance_attofil": w.balance.map(|b| b.to_attofil_string()),
                "nonce": w.nonce,
                "nonce_gap": w.nonce_gap,
            })
        })
        .collect();
    json!({
        "status": report.status.as_str(),
        "health": report.health.as_str(),
        "health_reasons": report.health_reasons,
        "version": report.version.as_ref().map(|v| v.full.clone()),
        "network": report.network,
        "sync_status": report.sync_status.as_str(),
        "chain_height": report.chain_height,
        "expected_height": report.expected_height,
        "sync_lag_epochs": report.sync_lag_epochs,
        "head_ahead_epochs": report.head_ahead_epochs,
        "sync_errors": report.sync_errors(),
        "node_type": report.version.as_ref().map(|v| v.node_type.clone()),
        "daemon_running": report.daemon_running,
        "api_listener": report.api_listener,
        "peers_count": report.peers,
        "network_version": report.upgrades.network_version,
        "upgrade_next": report.upgrades.next.as_ref().map(|n| json!({
            "upgrade": n.name,
            "epoch": n.epoch,
            "seconds": n.seconds,
        })),
        "f3": f3(&report.f3),
        "chain_finalized_height": report.chain_finality.finalized_height,
        "chain_finality_lag_epochs": report.chain_finality.finality_lag_epochs,
        "ec_finality_threshold_depth": report.chain_finality.ec_threshold_depth,
        "ec_finalized_height": report.chain_finality.ec_finalized_height,
        "finality_source": report.chain_finality.source.map(|s| s.as_str()),
        "wallets": wallets,
        "api_address": report.api_address,
        "api_source": report.api_source,
        "last_check": rfc3339(report.last_check),
        "errors": report.errors(),
    })
}

/// The `lotus.f3` object: state in words, running, the latest certificate, progress, manifest.
fn f3(f3: &F3Report) -> Value {
    json!({
        "state": f3.state.as_str(),
        "running": f3.running(),
        "network": f3.manifest.as_ref().map(|m| m.network_name.clone()),
        "bootstrap_epoch": f3.manifest.as_ref().map(|m| m.bootstrap_epoch),
        "latest_instance": f3.latest_instance,
        "finalized_height": f3.finalized_height,
        "finality_lag_epochs": f3.finality_lag_epochs,
        "progress": f3.progress.map(|p| json!({
            "instance": p.instance,
            "round": p.round,
            "phase": p.phase,
            "phase_name": p.phase_name(),
        })),
    })
}
