//! `lotus_*` metrics from the Lotus report. Unknown figures are absent series, never zeros.

use super::{bool_value, Families};
use crate::lotus::types::SYNC_STAGES;
use crate::lotus::{LotusReport, PERMISSIONS};
use crate::snapshot::{DaemonStatus, Health};

pub fn render(report: &LotusReport, out: &mut Families) {
    out.gauge(
        "lotus_up",
        "1 when the Lotus API answered Filecoin.Version in this scrape, 0 when it did not.",
    )
    .sample(&[], bool_value(report.up));
    if let Some(version) = &report.version {
        out.gauge(
            "lotus_node_info",
            "Lotus node information (version, commit, network, node_type); the value is always 1.",
        )
        .sample(
            &[
                ("version", &version.release),
                ("commit", &version.commit),
                ("network", report.network.as_deref().unwrap_or("unknown")),
                ("node_type", &version.node_type),
            ],
            1.0,
        );
    }
    chain(report, out);
    sync(report, out);
    out.gauge(
        "lotus_peers",
        "Unique libp2p peer IDs the node is connected to (not connections); absent when unknown.",
    )
    .maybe(&[], report.peers.map(|p| p as f64));
    wallets(report, out);
    let listener = api_listener_label(report.api_listener.as_deref());
    out.gauge(
        "lotus_daemon_running",
        "1 when a `lotus daemon` process runs on this host, 0 when none does; absent when the API is remote or processes cannot be read. Label api_listener: who listens on the Lotus API port here (forest, lotus-gateway, a proxy can serve it without a lotus daemon; none: nothing listens; unknown: not seen).",
    )
    .maybe(&[("api_listener", &listener)], report.daemon_running.map(bool_value));
    if let Some(permissions) = &report.token_permissions {
        let mut family = out.gauge(
            "lotus_token_permissions",
            "1 for each permission the configured Lotus token carries (Filecoin.AuthVerify), 0 for those it lacks; an exporter needs only read. Absent without a token.",
        );
        for permission in PERMISSIONS {
            let held = permissions.iter().any(|p| p == permission);
            family.sample(&[("permission", permission)], bool_value(held));
        }
    }
    out.gauge(
        "lotus_status",
        "Lotus daemon status: the series whose state is current is 1 (running: API answers; stopped: nothing answers and no daemon process; error: a daemon or listener is there but the API fails).",
    )
    .states(&[], "state", &DaemonStatus::ALL.map(DaemonStatus::as_str), report.status.as_str());
    out.gauge(
        "lotus_health",
        "Lotus health: the series whose state is current is 1 (healthy: up and synced; degraded: up but lagging, a sync worker in error, or zero peers; unhealthy: not up).",
    )
    .states(&[], "state", &Health::ALL.map(Health::as_str), report.health.as_str());
}

fn chain(report: &LotusReport, out: &mut Families) {
    let as_f64 = |v: Option<u64>| v.map(|v| v as f64);
    out.gauge(
        "lotus_chain_height",
        "Height (epoch) of the node's chain head.",
    )
    .maybe(&[], as_f64(report.chain_height));
    out.gauge(
        "lotus_chain_expected_height",
        "Height the clock says the chain should be at: (now - genesis timestamp) / block delay.",
    )
    .maybe(&[], as_f64(report.expected_height));
    out.gauge(
        "lotus_chain_sync_lag_epochs",
        "Epochs the head is behind the expected height (never negative).",
    )
    .maybe(&[], as_f64(report.sync_lag_epochs));
    out.gauge(
        "lotus_chain_head_ahead_epochs",
        "Epochs the head is ahead of the expected height (0 normally; above 1, one of the two clocks, this host's or the chain's, is wrong).",
    )
    .maybe(&[], as_f64(report.head_ahead_epochs));
    out.gauge(
        "lotus_chain_head_timestamp_seconds",
        "Unix time of the head tipset (its smallest block timestamp).",
    )
    .maybe(&[], as_f64(report.head_timestamp_seconds));
    out.gauge(
        "lotus_block_delay_seconds",
        "The network's block delay (epoch duration).",
    )
    .maybe(&[], as_f64(report.block_delay_seconds));
}

fn sync(report: &LotusReport, out: &mut Families) {
    out.gauge(
        "lotus_synced",
        "1 when the head is fewer than --lotus.sync-lag-threshold epochs behind the expected height, 0 when it is further behind; absent when unknown.",
    )
    .maybe(&[], report.synced.map(bool_value));
    if let Some(workers) = &report.sync_workers {
        let mut family = out.gauge(
            "lotus_sync_workers",
            "Lotus sync workers in each stage (from Filecoin.SyncState; finished workers linger in `complete`).",
        );
        for (stage, count) in SYNC_STAGES.iter().zip(workers.per_stage) {
            family.sample(&[("stage", stage)], count as f64);
        }
    }
}

fn wallets(report: &LotusReport, out: &mut Families) {
    let mut family = out.gauge(
        "lotus_wallet_balance_fil",
        "Balance of a watched wallet in FIL (converted exactly from attoFIL, rounded to the nearest float); absent when it could not be read.",
    );
    for wallet in &report.wallets {
        if let Some(balance) = wallet.balance {
            family.sample(
                &[("address", &wallet.address), ("alias", &wallet.alias)],
                balance.to_fil(),
            );
        }
    }
}

/// The `api_listener` label: the programs listening on the Lotus API port, `none` when nothing
/// does, `unknown` when the listeners were not seen.
fn api_listener_label(listener: Option<&[String]>) -> String {
    match listener {
        None => "unknown".to_string(),
        Some([]) => "none".to_string(),
        Some(programs) => programs.join(","),
    }
}
