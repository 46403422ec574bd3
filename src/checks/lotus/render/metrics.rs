//! `lotus_*` metrics from the Lotus report. Unknown figures are absent series, never zeros.

use crate::checks::lotus::types::SYNC_STAGES;
use crate::checks::lotus::{LotusReport, PERMISSIONS};
use crate::contract::{bool_value, Families};
use crate::contract::{DaemonStatus, Health, Label};

pub fn render(report: &LotusReport, out: &mut Families) {
    out.gauge(
        "lotus_up",
        "1 when the Lotus API answered in this scrape: Filecoin.Version's result, or the proxy or gateway in front of Lotus refusing for now (HTTP 429 rate limited, 503 unavailable: something is there, every check fails with the reason); 0 when nothing answered or what answered says Lotus did not (connection refused, a timeout, HTTP 502 or 504, a token refused).",
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
    upgrades(report, out);
    finality(report, out);
    sync(report, out);
    out.gauge(
        "lotus_peers",
        "Unique libp2p peer IDs the node is connected to (not connections); absent when unknown.",
    )
    .maybe(&[], report.peers.map(|p| p as f64));
    out.gauge(
        "lotus_peers_min",
        "The fewest unique peers a healthy node has (--lotus.min-peers): with fewer, lotus_health is degraded and LotusPeersLow compares lotus_peers with this. 0: no minimum.",
    )
    .sample(&[], report.thresholds.min_peers as f64);
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
        "Lotus daemon status: the series whose state is current is 1 (running: Filecoin.Version answers; stopped: nothing answers and the process table holds no daemon; error: the API fails or its front refuses (429, 503) while a daemon or listener is there or none could be ruled out, e.g. the API is on another host).",
    )
    .states(&[], "state", &DaemonStatus::ALL.map(DaemonStatus::as_str), report.status.as_str());
    out.gauge(
        "lotus_health",
        "Lotus health: the series whose state is current is 1 (healthy: up, synced and nothing below; degraded: up but lagging, a sync worker in error, fewer peers than lotus_peers_min, a wallet below lotus_wallet_balance_min_fil, the head ahead of the clock, F3 stalled or not running, finality too far behind, EC finality degraded, or sync workers or peers unknown; unhealthy: not up). The reasons are in /status lotus.health_reasons.",
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

/// F3 and the node's own finality. Absent when not measured: F3 disabled or not served gives
/// no `lotus_f3_*` series at all, a `null` certificate no finalized figures.
fn finality(report: &LotusReport, out: &mut Families) {
    let as_f64 = |v: Option<u64>| v.map(|v| v as f64);
    let signed = |v: Option<i64>| v.map(|v| v as f64);
    let f3 = &report.f3;
    out.gauge(
        "lotus_f3_running",
        "1 when F3 (Fast Finality) runs on the node, 0 when it is enabled but not running; absent when F3 is disabled, not served, or unknown.",
    )
    .maybe(&[], f3.running().map(bool_value));
    if let Some(manifest) = &f3.manifest {
        let bootstrap = manifest.bootstrap_epoch.to_string();
        out.gauge(
            "lotus_f3_info",
            "F3 manifest (read once per Lotus session): f3_network is F3's own network name (filecoin on mainnet, not the chain's), bootstrap_epoch the epoch F3 starts at; the value is always 1.",
        )
        .sample(
            &[
                ("f3_network", &manifest.network_name),
                ("bootstrap_epoch", &bootstrap),
            ],
            1.0,
        );
        out.gauge(
            "lotus_f3_bootstrap_epoch",
            "The epoch F3 starts at on this network (F3 manifest BootstrapEpoch, read once per Lotus session).",
        )
        .sample(&[], manifest.bootstrap_epoch as f64);
    }
    out.gauge(
        "lotus_f3_latest_instance",
        "GPBFTInstance of the latest F3 certificate; absent when there is none yet.",
    )
    .maybe(&[], as_f64(f3.latest_instance));
    out.gauge(
        "lotus_f3_finalized_height",
        "Epoch finalized by the latest F3 certificate (the last ECChain entry).",
    )
    .maybe(&[], as_f64(f3.finalized_height));
    out.gauge(
        "lotus_f3_finality_lag_epochs",
        "Head height minus lotus_f3_finalized_height (4-10 epochs normally; negative when the head is below what F3 finalized).",
    )
    .maybe(&[], signed(f3.finality_lag_epochs));
    out.gauge(
        "lotus_f3_uncertified_epochs",
        "Epochs since F3's bootstrap epoch (lotus_f3_bootstrap_epoch) while the node answers that F3 has no certificate yet: the fallback for lotus_f3_finality_lag_epochs, which needs a certificate. Absent once one exists, before the bootstrap epoch, and where the certificate or the manifest is not served.",
    )
    .maybe(
        &[],
        as_f64(f3.uncertified_epochs(report.chain_height)),
    );
    let progress = f3.progress;
    out.gauge(
        "lotus_f3_progress_instance",
        "The GPBFT instance F3 is working on (only while F3 runs).",
    )
    .maybe(&[], progress.map(|p| p.instance as f64));
    out.gauge(
        "lotus_f3_progress_round",
        "The GPBFT round of the current instance (only while F3 runs; above 0 means the first round did not decide).",
    )
    .maybe(&[], progress.map(|p| p.round as f64));
    out.gauge(
        "lotus_f3_progress_phase",
        "The GPBFT phase number (0 INITIAL, 1 QUALITY, 2 CONVERGE, 3 PREPARE, 4 COMMIT, 5 DECIDE, 6 TERMINATED; only while F3 runs).",
    )
    .maybe(&[], progress.map(|p| p.phase as f64));
    let chain = &report.chain_finality;
    out.gauge(
        "lotus_chain_finalized_height",
        "Height of the node's own finalized tipset (v2 ChainGetTipSetFinalityStatus finalizedTipSet, else v1 ChainGetFinalizedTipSet).",
    )
    .maybe(&[], as_f64(chain.finalized_height));
    out.gauge(
        "lotus_chain_finality_lag_epochs",
        "Head height minus lotus_chain_finalized_height.",
    )
    .maybe(&[], signed(chain.finality_lag_epochs));
    out.gauge(
        "lotus_ec_finality_threshold_depth",
        "Depth at which the EC finality calculator considers a tipset final (v2 ecFinalityThresholdDepth; about 25-35 healthy, -1 when the threshold is not met: a degraded chain; absent while the chain is younger than the calculator's 905-epoch window).",
    )
    .maybe(&[], signed(chain.ec_threshold_depth));
    let limits = &report.thresholds;
    out.gauge(
        "lotus_f3_finality_lag_max_epochs",
        "The most epochs F3 may finalize behind the head while it runs (--lotus.f3-max-finality-lag): further behind, lotus_health is degraded and LotusF3Stalled compares lotus_f3_finality_lag_epochs with this.",
    )
    .sample(&[], limits.f3_max_finality_lag as f64);
    out.gauge(
        "lotus_chain_finality_lag_max_epochs",
        "The most epochs the node's finalized tipset may be behind its head where F3 runs or EC gives a depth (--lotus.max-finality-lag): further behind, lotus_health is degraded and LotusChainFinalityLagHigh compares lotus_chain_finality_lag_epochs with this.",
    )
    .sample(&[], limits.max_finality_lag as f64);
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

/// The network version and the next scheduled upgrade (static per session; the countdown
/// moves with the head). Absent when not measured, and the upgrade when none is scheduled.
fn upgrades(report: &LotusReport, out: &mut Families) {
    let upgrades = &report.upgrades;
    out.gauge(
        "lotus_network_version",
        "The network version at the node's head (Filecoin.StateNetworkVersion; read once per Lotus session and again once the head passes a scheduled upgrade); absent when unknown.",
    )
    .maybe(&[], upgrades.network_version.map(|v| v as f64));
    let next = upgrades.next.as_ref();
    let upgrade = next.map(|n| n.name.as_str()).unwrap_or_default();
    out.gauge(
        "lotus_upgrade_next_epoch",
        "The epoch of the next scheduled network upgrade above the head, label upgrade its name (UpgradeFireHorseHeight gives FireHorse) from Filecoin.StateGetNetworkParams ForkUpgradeParams, read once per Lotus session; absent when none is scheduled (placeholder heights such as 9999999999, more than a year ahead, or negative, are not) or unknown.",
    )
    .maybe(&[("upgrade", upgrade)], next.map(|n| n.epoch as f64));
    out.gauge(
        "lotus_upgrade_next_seconds",
        "Seconds until the next scheduled network upgrade: its epoch's time (head timestamp + epochs to go x block delay) minus now; negative when the clock has passed it while the head has not. LotusUpgradeSoon fires under 72 h. Absent when none is scheduled or unknown.",
    )
    .maybe(
        &[("upgrade", upgrade)],
        next.and_then(|n| n.seconds).map(|s| s as f64),
    );
}

fn wallets(report: &LotusReport, out: &mut Families) {
    let mut minimum = out.gauge(
        "lotus_wallet_balance_min_fil",
        "The balance in FIL below which a watched wallet is low (--lotus.wallet-min-balance): below it, lotus_health is degraded and LotusWalletBalanceLow compares lotus_wallet_balance_fil with this.",
    );
    for wallet in &report.wallets {
        minimum.sample(
            &[("address", &wallet.address), ("alias", &wallet.alias)],
            wallet.min_fil,
        );
    }
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
    let mut family = out.gauge(
        "lotus_wallet_nonce",
        "The nonce of a watched wallet's account on chain at the head (Filecoin.StateGetActor's Nonce): it moves when the chain takes a message from it. Absent when unknown or the account does not exist yet.",
    );
    for wallet in &report.wallets {
        if let Some(nonce) = wallet.nonce {
            family.sample(
                &[("address", &wallet.address), ("alias", &wallet.alias)],
                nonce as f64,
            );
        }
    }
    let mut family = out.gauge(
        "lotus_wallet_nonce_gap",
        "Messages of a watched wallet the node's pool holds beyond what the chain has taken: Filecoin.MpoolGetNonce minus lotus_wallet_nonce (1 for an epoch after the head takes one; LotusWalletMessagesStuck waits an hour without lotus_wallet_nonce moving). Absent when unknown or the account does not exist yet.",
    );
    for wallet in &report.wallets {
        if let Some(gap) = wallet.nonce_gap {
            family.sample(
                &[("address", &wallet.address), ("alias", &wallet.alias)],
                gap as f64,
            );
        }
    }
}

/// The `api_listener` label: the programs listening on the Lotus API port, `none` when nothing
/// does, `unknown` when the listeners were not seen.
fn api_listener_label(listener: Option<&[Label]>) -> String {
    match listener {
        None => "unknown".to_string(),
        Some([]) => "none".to_string(),
        Some(programs) => programs
            .iter()
            .map(Label::as_str)
            .collect::<Vec<_>>()
            .join(","),
    }
}
