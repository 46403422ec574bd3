//! Upgrade readiness and stuck messages end to end, against the fake Lotus: the network version
//! and the next scheduled upgrade (once per session, a countdown per scrape, placeholders left
//! out, numbers as strings, methods not served), and the nonce gap of each watched wallet.

use serde_json::json;

use crate::fakes::lotus::{Behavior, FakeLotus};
use crate::util;

async fn exporter_for(lotus: &FakeLotus, extra: &[&str]) -> util::Exporter {
    let api = lotus.api_info();
    let mut args = vec!["--lotus.api", api.as_str()];
    args.extend_from_slice(extra);
    util::start(&args).await
}

/// The head height the fake serves now.
fn head(lotus: &FakeLotus) -> i64 {
    lotus.state().head_height
}

#[tokio::test(flavor = "multi_thread")]
async fn mainnet_today_has_its_network_version_and_no_upgrade_scheduled() {
    // Mainnet's real schedule: FireHorse (nv28, 6052800) is past, Xx is the placeholder
    // 9999999999: nothing scheduled, no countdown, no reason.
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| s.peers = crate::fakes::lotus::distinct_peers(12));
    let exporter = exporter_for(&lotus, &[]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_network_version"), 28.0);
    assert!(
        !m.has("lotus_upgrade_next_epoch"),
        "a placeholder is not a date"
    );
    assert!(!m.has("lotus_upgrade_next_seconds"));
    assert_eq!(m.check_success("lotus_upgrades"), Some(1.0));
    assert_eq!(m.value("lotus_health{state=\"healthy\"}"), 1.0);
    let status = exporter.status().await;
    assert_eq!(status["lotus"]["network_version"], 28);
    assert_eq!(status["lotus"]["upgrade_next"], json!(null));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_under_72_hours_is_counted_down_and_named_with_the_release() {
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| s.peers = crate::fakes::lotus::distinct_peers(12));
    // A release that dates Xx, 8000 epochs (66 h 40 min) ahead.
    let at = head(&lotus) + 8000;
    lotus.state_mut(|s| s.schedule_upgrade("UpgradeXxHeight", at));
    let exporter = exporter_for(&lotus, &[]).await;
    for _ in 0..3 {
        let m = exporter.metrics().await;
        assert_eq!(
            m.value("lotus_upgrade_next_epoch{upgrade=\"Xx\"}"),
            at as f64
        );
        let seconds = m.value("lotus_upgrade_next_seconds{upgrade=\"Xx\"}");
        // The head's timestamp is its epoch's; up to a few seconds have passed since.
        assert!(
            (240_000.0 - 120.0..=240_000.0).contains(&seconds),
            "{seconds}"
        );
        assert_eq!(m.value("lotus_health{state=\"degraded\"}"), 1.0);
    }
    // Static for the node: asked once, however many scrapes.
    assert_eq!(lotus.calls("Filecoin.StateGetNetworkParams"), 1);
    assert_eq!(lotus.calls("Filecoin.StateNetworkVersion"), 1);
    let status = exporter.status().await;
    let reasons = status["lotus"]["health_reasons"].to_string();
    assert!(
        reasons.contains(&format!("network upgrade Xx at epoch {at} is due in 2d18h"))
            && reasons.contains("this node runs Lotus 1.34.1"),
        "{reasons}"
    );
    assert_eq!(status["lotus"]["upgrade_next"]["upgrade"], "Xx");
    let page = exporter
        .request(http::Method::GET, "/", &[("Accept", "text/html")])
        .await
        .body;
    assert!(
        page.contains("next upgrade Xx at epoch"),
        "the page says it"
    );
    // A restart is another session: asked again.
    lotus.restart().await;
    exporter.metrics().await;
    assert_eq!(lotus.calls("Filecoin.StateGetNetworkParams"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_network_version_is_read_again_once_the_head_passes_an_upgrade() {
    let lotus = FakeLotus::start().await;
    let start = head(&lotus);
    lotus.state_mut(|s| s.schedule_upgrade("UpgradeXxHeight", start + 20));
    let exporter = exporter_for(&lotus, &[]).await;
    assert_eq!(
        exporter.metrics().await.value("lotus_network_version"),
        28.0
    );
    exporter.metrics().await;
    assert_eq!(
        lotus.calls("Filecoin.StateNetworkVersion"),
        1,
        "below it: remembered"
    );
    // The head crosses Xx (nv29): the version is asked again (a scrape late at most).
    lotus.state_mut(|s| s.set_head_height(start + 21));
    exporter.metrics().await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_network_version"), 29.0);
    assert!(
        !m.has("lotus_upgrade_next_epoch"),
        "nothing scheduled after Xx"
    );
    assert_eq!(lotus.calls("Filecoin.StateGetNetworkParams"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_figures_accept_numbers_as_strings_and_skip_what_is_not_served() {
    let lotus = FakeLotus::start().await;
    let at = head(&lotus) + 100_000;
    lotus.set_behavior(
        "StateGetNetworkParams",
        Behavior::Result(json!({
            "NetworkName": "mainnet",
            "BlockDelaySecs": "30",
            "ForkUpgradeParams": {
                "UpgradeFireHorseHeight": "6052800",
                "UpgradeSolsticeHeight": at.to_string(),
                "UpgradeSomethingHeight": -1,
                "BreezeGasTampingDuration": 120
            }
        })),
    );
    lotus.set_behavior("StateNetworkVersion", Behavior::Result(json!("28")));
    let exporter = exporter_for(&lotus, &[]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_network_version"), 28.0);
    assert_eq!(
        m.value("lotus_upgrade_next_epoch{upgrade=\"Solstice\"}"),
        at as f64,
        "a renamed field is read by its pattern"
    );

    // A node that serves neither: skipped, no figures, no failure, asked once per session.
    let lotus = FakeLotus::start().await;
    for method in ["StateGetNetworkParams", "StateNetworkVersion"] {
        lotus.set_behavior(
            method,
            Behavior::RpcError {
                code: -32601,
                message: format!("method 'Filecoin.{method}' not found"),
            },
        );
    }
    let exporter = exporter_for(&lotus, &[]).await;
    for _ in 0..3 {
        let m = exporter.metrics().await;
        assert!(!m.has("lotus_network_version"));
        assert!(!m.has("lotus_upgrade_next_epoch"));
        assert_eq!(
            m.check_success("lotus_upgrades"),
            None,
            "skipped: not exported"
        );
    }
    assert_eq!(lotus.calls("Filecoin.StateNetworkVersion"), 1);

    // A failure is a failed check and absent figures.
    let lotus = FakeLotus::start().await;
    lotus.set_behavior(
        "StateNetworkVersion",
        Behavior::RpcError {
            code: 1,
            message: "loading tipset: boom".into(),
        },
    );
    let exporter = exporter_for(&lotus, &[]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.check_success("lotus_upgrades"), Some(0.0));
    assert!(!m.has("lotus_network_version"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_nonce_gap_is_measured_per_wallet_and_absent_for_an_account_not_on_chain() {
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| {
        s.add_wallet("f1hot", "1500000000000000000");
        s.pending_messages.insert("f1hot".into(), 3);
        s.add_wallet("f1idle", "2000000000000000000");
        s.actor_nonces.insert("f1idle".into(), 7);
        // Funds promised, never received: no actor on chain.
        s.wallets.insert("f1new".into(), "0".into());
    });
    let exporter = exporter_for(
        &lotus,
        &[
            "--lotus.wallet",
            "f1hot=hot",
            "--lotus.wallet",
            "f1idle",
            "--lotus.wallet",
            "f1new=new",
        ],
    )
    .await;
    let m = exporter.metrics().await;
    assert_eq!(
        m.value("lotus_wallet_nonce_gap{address=\"f1hot\",alias=\"hot\"}"),
        3.0
    );
    assert_eq!(
        m.value("lotus_wallet_nonce{address=\"f1hot\",alias=\"hot\"}"),
        42.0
    );
    assert_eq!(
        m.value("lotus_wallet_nonce_gap{address=\"f1idle\",alias=\"\"}"),
        0.0
    );
    assert_eq!(
        m.value("lotus_wallet_nonce{address=\"f1idle\",alias=\"\"}"),
        7.0
    );
    assert!(
        !m.text
            .lines()
            .any(|l| l.starts_with("lotus_wallet_nonce") && l.contains("f1new")),
        "an account not on chain has no gap, not 0"
    );
    assert_eq!(m.check_success("lotus_wallet_nonces"), Some(1.0));
    // Pending messages alone are no verdict: a busy wallet always has some.
    let status = exporter.status().await;
    assert_eq!(status["lotus"]["wallets"][0]["nonce_gap"], 3);
    assert_eq!(status["lotus"]["wallets"][2]["nonce_gap"], json!(null));
    // Two calls per wallet per scrape, made beside the balances.
    lotus.reset_counters();
    exporter.metrics().await;
    assert_eq!(lotus.calls("Filecoin.MpoolGetNonce"), 3);
    assert_eq!(lotus.calls("Filecoin.StateGetActor"), 3);
    assert_eq!(lotus.calls("Filecoin.WalletBalance"), 3);
    // A failing nonce call fails its own check, not the balances'.
    lotus.set_behavior(
        "MpoolGetNonce",
        Behavior::RpcError {
            code: 1,
            message: "mpool: boom".into(),
        },
    );
    let m = exporter.metrics().await;
    assert_eq!(m.check_success("lotus_wallet_nonces"), Some(0.0));
    assert_eq!(m.check_success("lotus_wallets"), Some(1.0));
    assert!(!m.has("lotus_wallet_nonce_gap"));
}
