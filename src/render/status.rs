//! Snapshot -> the `/status` JSON document (the same verdicts as `/metrics`, for dashboards).

mod follow;
mod ports;

use serde_json::{json, Value};

use crate::lotus::LotusReport;
use crate::snapshot::{rfc3339, Snapshot};

/// Render the `/status` document.
pub fn render(snapshot: &Snapshot) -> Value {
    json!({
        "lotus": lotus(&snapshot.lotus),
        "cluster_follow": follow::render(&snapshot.follow),
        "ports": ports::render(&snapshot.ports),
        "ports_listeners": ports::source(&snapshot.ports),
    })
}

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
        "wallets": wallets,
        "api_address": report.api_address,
        "last_check": rfc3339(report.last_check),
        "errors": report.errors(),
    })
}
