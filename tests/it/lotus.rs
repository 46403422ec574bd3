//! The Lotus check end to end: the exporter served in-process against a fake Lotus daemon.

use std::time::Duration;

use serde_json::json;

use crate::fakes::lotus::{
    Behavior, FakeLotus, LotusState, Peer, SyncWorker, READ_TOKEN, WRITE_TOKEN,
};
use crate::{fakes, util};

/// Series a down or broken Lotus must not report (no made-up zeros).
const FIGURES: [&str; 8] = [
    "lotus_chain_height",
    "lotus_chain_expected_height",
    "lotus_chain_sync_lag_epochs",
    "lotus_synced",
    "lotus_peers",
    "lotus_sync_workers",
    "lotus_node_info",
    "lotus_block_delay_seconds",
];

async fn exporter_for(lotus: &FakeLotus, extra: &[&str]) -> util::Exporter {
    let api = lotus.api_info();
    let mut args = vec!["--lotus.api", api.as_str()];
    args.extend_from_slice(extra);
    util::start(&args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn synced_node_is_up_synced_and_healthy() {
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| {
        s.peers = vec![
            Peer::new("12D3KooWA", &["/ip4/1.2.3.4/tcp/1347"]),
            Peer::new("12D3KooWA", &["/ip4/1.2.3.4/udp/1347/quic-v1"]),
            Peer::new("12D3KooWB", &[]),
        ];
        s.version = "1.34.1+mainnet+git.8a7c1f9".into();
    });
    // Two unique peers are enough here: the minimum is the exporter's flag.
    let exporter = exporter_for(&lotus, &["--lotus.min-peers", "2"]).await;
    let m = exporter.metrics().await;
    let state = lotus.state();
    assert_eq!(m.value("lotus_up"), 1.0);
    assert_eq!(m.value("lotus_synced"), 1.0);
    assert_eq!(m.value("lotus_chain_height"), state.head_height as f64);
    assert!(m.value("lotus_chain_sync_lag_epochs") < 5.0);
    assert_eq!(m.value("lotus_block_delay_seconds"), 30.0);
    assert_eq!(
        m.value("lotus_peers"),
        2.0,
        "unique peer IDs, not connections"
    );
    assert_eq!(
        m.value("lotus_node_info{version=\"1.34.1\",commit=\"8a7c1f9\",network=\"mainnet\",node_type=\"chain\"}"),
        1.0
    );
    assert_eq!(m.value("lotus_sync_workers{stage=\"complete\"}"), 1.0);
    assert_eq!(m.value("lotus_sync_workers{stage=\"error\"}"), 0.0);
    assert_eq!(m.value("lotus_status{state=\"running\"}"), 1.0);
    assert_eq!(m.value("lotus_health{state=\"healthy\"}"), 1.0);
    assert_eq!(
        only_series(&m, "lotus_daemon_running").1,
        0.0,
        "no lotus daemon process runs here"
    );
    assert_eq!(m.check_success("lotus_chain_head"), Some(1.0));
    assert_eq!(
        m.check_success("lotus_wallets"),
        None,
        "no wallets named: skipped, not exported"
    );

    let status = exporter.status().await;
    let lotus_status = &status["lotus"];
    assert_eq!(lotus_status["status"], "running");
    assert_eq!(lotus_status["health"], "healthy");
    assert_eq!(lotus_status["sync_status"], "synced");
    assert_eq!(lotus_status["network"], "mainnet");
    assert_eq!(lotus_status["peers_count"], 2);
    assert_eq!(lotus_status["chain_height"], state.head_height);
    assert_eq!(lotus_status["errors"], json!([]));
    assert!(lotus_status["last_check"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(flavor = "multi_thread")]
async fn lagging_node_is_up_but_not_synced() {
    let lotus = FakeLotus::start_with(LotusState::lagging(120)).await;
    let exporter = exporter_for(&lotus, &[]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 1.0);
    assert_eq!(m.value("lotus_synced"), 0.0);
    let lag = m.value("lotus_chain_sync_lag_epochs");
    assert!((119.0..=121.0).contains(&lag), "lag {lag}");
    assert_eq!(m.value("lotus_sync_workers{stage=\"message sync\"}"), 1.0);
    assert_eq!(m.value("lotus_health{state=\"degraded\"}"), 1.0);
    assert_eq!(exporter.status().await["lotus"]["sync_status"], "syncing");
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_lag_threshold_is_configurable() {
    let lotus = FakeLotus::start_with(LotusState::lagging(8)).await;
    let exporter = exporter_for(&lotus, &["--lotus.sync-lag-threshold", "20"]).await;
    assert_eq!(exporter.metrics().await.value("lotus_synced"), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn error_stage_worker_degrades_health() {
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| {
        let height = s.head_height;
        let mut broken = SyncWorker::new(7, 5, height);
        broken.message = "fork too long".into();
        s.sync_workers.push(broken);
    });
    let exporter = exporter_for(&lotus, &[]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_sync_workers{stage=\"error\"}"), 1.0);
    assert_eq!(m.value("lotus_health{state=\"degraded\"}"), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn lotus_down_reports_up_0_and_no_figures() {
    let lotus = FakeLotus::start().await;
    lotus.stop().await;
    let exporter = exporter_for(&lotus, &[]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 0.0);
    for figure in FIGURES {
        assert!(
            !m.has(figure),
            "{figure} must be absent when Lotus is down:\n{}",
            m.text
        );
    }
    assert_eq!(m.value("lotus_status{state=\"stopped\"}"), 1.0);
    assert_eq!(m.value("lotus_health{state=\"unhealthy\"}"), 1.0);
    assert_eq!(m.check_success("lotus_version"), Some(0.0));
    let status = exporter.status().await;
    assert_eq!(status["lotus"]["sync_status"], "unknown");
    assert_eq!(status["lotus"]["peers_count"], json!(null));
    let errors = status["lotus"]["errors"].to_string();
    assert!(errors.contains("connection refused"), "{errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn scrape_returns_in_time_when_lotus_hangs() {
    let lotus = FakeLotus::start().await;
    lotus.set_silent(true);
    let exporter = exporter_for(&lotus, &["--collector.timeout", "10s"]).await;
    // Lotus never answers: the scrape ends by its own deadline (the guard's 30 s margin is for a
    // hang, not a speed bound) and reports the call as timed out, not as some other failure.
    let page = tokio::time::timeout(
        Duration::from_secs(30),
        exporter.request(
            http::Method::GET,
            "/metrics",
            &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
        ),
    )
    .await
    .expect("a scrape outlived its 1 s deadline by 30 s");
    let m = util::Metrics::parse(&page.body);
    // It waited for its deadline (1.5 s - 0.5 s) before giving up: a lower bound, which a busy
    // machine can only make longer.
    let waited = m.value(
        "lotus_follow_exporter_check_duration_seconds{check=\"lotus_version\",cluster_name=\"\"}",
    );
    assert!(waited >= 0.9, "the scrape gave up after {waited} s");
    let status = exporter
        .request(
            http::Method::GET,
            "/status",
            &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
        )
        .await;
    assert!(status.body.contains("timed out"), "{}", status.body);
    assert_eq!(m.value("lotus_up"), 0.0);
    assert_eq!(m.check_success("lotus_version"), Some(0.0));
    assert_eq!(m.value("lotus_status{state=\"error\"}"), 1.0);
    assert!(!m.has("lotus_synced"));
}

#[tokio::test(flavor = "multi_thread")]
async fn one_hanging_method_fails_only_its_check() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior("Filecoin.NetPeers", Behavior::Hang);
    let exporter = exporter_for(&lotus, &["--collector.timeout", "1s"]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 1.0);
    assert_eq!(m.value("lotus_synced"), 1.0);
    assert!(!m.has("lotus_peers"));
    assert_eq!(m.check_success("lotus_peers"), Some(0.0));
    assert_eq!(m.check_success("lotus_chain_head"), Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_token_is_an_error_not_a_stop() {
    let lotus = FakeLotus::start().await;
    let api = lotus.api_info_with_token("not-a-valid-token");
    let exporter = util::start(&["--lotus.api", &api]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 0.0);
    assert_eq!(m.value("lotus_status{state=\"error\"}"), 1.0);
    let errors = exporter.status().await["lotus"]["errors"].to_string();
    assert!(errors.contains("HTTP 401"), "{errors}");
    assert!(
        !errors.contains("not-a-valid-token"),
        "token leaked: {errors}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_method_is_skipped_not_failed() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior(
        "Filecoin.SyncState",
        Behavior::RpcError {
            code: -32601,
            message: "method 'Filecoin.SyncState' not found".into(),
        },
    );
    let exporter = exporter_for(&lotus, &[]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 1.0);
    assert_eq!(
        m.check_success("lotus_sync_state"),
        None,
        "skipped checks are not exported"
    );
    assert!(!m.has("lotus_sync_workers"), "unknown, not zero");
    assert_eq!(m.value("lotus_synced"), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn null_lists_mean_empty() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior("Filecoin.NetPeers", Behavior::Result(json!(null)));
    lotus.set_behavior(
        "Filecoin.SyncState",
        Behavior::Result(json!({"ActiveSyncs": null, "VMApplied": 0})),
    );
    let exporter = exporter_for(&lotus, &[]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_peers"), 0.0);
    assert_eq!(m.value("lotus_sync_workers{stage=\"complete\"}"), 0.0);
    assert_eq!(
        m.value("lotus_health{state=\"degraded\"}"),
        1.0,
        "zero peers degrades"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_answers_fail_their_own_check() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior(
        "Filecoin.ChainHead",
        Behavior::RawBody("{\"jsonrpc\":\"2.0\",\"result\":{\"Heig".into()),
    );
    lotus.set_behavior(
        "Filecoin.NetPeers",
        Behavior::Result(json!({"not": "a list"})),
    );
    let exporter = exporter_for(&lotus, &[]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 1.0);
    assert_eq!(m.check_success("lotus_chain_head"), Some(0.0));
    assert_eq!(m.check_success("lotus_peers"), Some(0.0));
    assert!(!m.has("lotus_chain_height") && !m.has("lotus_synced") && !m.has("lotus_peers"));
    assert_eq!(m.check_success("lotus_sync_state"), Some(1.0));
    let errors = exporter.status().await["lotus"]["errors"].to_string();
    assert!(
        errors.contains("invalid JSON") && errors.contains("unexpected shape"),
        "{errors}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_body_is_cut_at_the_cap() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior("Filecoin.NetPeers", Behavior::HugeBody(50 << 20));
    // Its own process: the byte counter is the process's, and in-process every other test of
    // this binary would add to it.
    let exporter = util::spawn(&[
        "--lotus.api",
        &lotus.api_info(),
        "--lotus.max-body-bytes",
        "1048576",
    ])
    .await;
    let m = exporter.metrics().await;
    assert_eq!(m.check_success("lotus_peers"), Some(0.0));
    assert_eq!(m.value("lotus_up"), 1.0);
    let read = m.value("lotus_follow_exporter_backend_body_bytes_read_total");
    assert!(read < 4.0 * 1048576.0, "read {read} bytes for a 1 MiB cap");
    let errors = exporter.status().await["lotus"]["errors"].to_string();
    assert!(
        errors.contains("exceeds the cap of 1048576 bytes"),
        "{errors}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn numbers_as_strings_and_floats_are_accepted() {
    let lotus = FakeLotus::start().await;
    let state = lotus.state();
    let ts = state.epoch_timestamp(state.head_height);
    lotus.set_behavior(
        "Filecoin.ChainHead",
        Behavior::Result(json!({"Cids": [], "Blocks": [{"Height": state.head_height.to_string(), "Timestamp": ts as f64}], "Height": state.head_height.to_string()})),
    );
    lotus.set_behavior(
        "Filecoin.Version",
        Behavior::Result(json!({"Version": "1.34.1+calibnet+git.abc", "APIVersion": "131840", "BlockDelay": 30.0, "Agent": "lotus"})),
    );
    lotus.state_mut(|s| s.network_name = "calibrationnet".into());
    let exporter = exporter_for(&lotus, &[]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_chain_height"), state.head_height as f64);
    assert_eq!(m.value("lotus_chain_head_timestamp_seconds"), ts as f64);
    assert_eq!(m.value("lotus_block_delay_seconds"), 30.0);
    assert!(m.text.contains("network=\"calibrationnet\""), "{}", m.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_scrapes_share_one_round_of_calls() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior(
        "Filecoin.Version",
        Behavior::Delay(Duration::from_millis(500)),
    );
    let exporter = std::sync::Arc::new(exporter_for(&lotus, &[]).await);
    let scrapes: Vec<_> = (0..100)
        .map(|_| {
            let exporter = exporter.clone();
            tokio::spawn(async move { exporter.metrics().await.value("lotus_up") })
        })
        .collect();
    for scrape in scrapes {
        assert_eq!(scrape.await.unwrap(), 1.0);
    }
    assert_eq!(
        lotus.calls("Filecoin.ChainHead"),
        1,
        "100 scrapes must cost Lotus one round"
    );
    assert_eq!(lotus.calls("Filecoin.Version"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiter_with_a_shorter_deadline_answers_by_its_own() {
    let lotus = FakeLotus::start().await;
    // The patient round waits 8 s for Version; the hurried scrape (0.5 s) must not wait for it.
    lotus.set_behavior("Filecoin.Version", Behavior::Delay(Duration::from_secs(8)));
    let exporter = std::sync::Arc::new(exporter_for(&lotus, &["--collector.timeout", "15s"]).await);
    let patient = {
        let exporter = exporter.clone();
        tokio::spawn(async move { exporter.metrics().await })
    };
    // Wait until the first scrape's round has reached Lotus, then join it with a short deadline.
    while lotus.calls("Filecoin.Version") == 0 {
        tokio::task::yield_now().await;
    }
    let hurried = exporter
        .request(
            http::Method::GET,
            "/metrics",
            &[("X-Prometheus-Scrape-Timeout-Seconds", "1")],
        )
        .await;
    // Answered by its own deadline: while the patient round still waits for Lotus.
    assert!(
        !patient.is_finished(),
        "the hurried scrape waited for the patient round"
    );
    let hurried = util::Metrics::parse(&hurried.body);
    assert_eq!(hurried.value("lotus_up"), 0.0);
    assert_eq!(hurried.check_success("lotus_version"), Some(0.0));
    assert_eq!(patient.await.unwrap().value("lotus_up"), 1.0);
    assert_eq!(
        lotus.calls("Filecoin.Version"),
        1,
        "the hurried scrape joined the running round"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chain_constants_are_fetched_once_per_session() {
    let lotus = FakeLotus::start().await;
    let exporter = exporter_for(&lotus, &[]).await;
    for _ in 0..3 {
        assert_eq!(exporter.metrics().await.value("lotus_synced"), 1.0);
    }
    assert_eq!(lotus.calls("Filecoin.ChainGetGenesis"), 1);
    assert_eq!(lotus.calls("Filecoin.StateNetworkName"), 1);
    assert_eq!(lotus.calls("Filecoin.ChainHead"), 3);
    lotus.restart().await;
    assert_eq!(exporter.metrics().await.value("lotus_synced"), 1.0);
    assert_eq!(
        lotus.calls("Filecoin.ChainGetGenesis"),
        2,
        "a new session refreshes the constants"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn named_wallets_are_watched_without_a_token() {
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| {
        s.add_wallet("f1hot", "1500000000000000000");
        s.add_wallet("f3cold", "123456789012345678901234567");
    });
    let exporter = exporter_for(
        &lotus,
        &["--lotus.wallet", "f1hot=hot", "--lotus.wallet", "f3cold"],
    )
    .await;
    let m = exporter.metrics().await;
    assert_eq!(
        m.value("lotus_wallet_balance_fil{address=\"f1hot\",alias=\"hot\"}"),
        1.5
    );
    assert_eq!(
        m.value("lotus_wallet_balance_fil{address=\"f3cold\",alias=\"\"}"),
        123456789.01234567
    );
    assert_eq!(m.check_success("lotus_wallets"), Some(1.0));
    let wallets = &exporter.status().await["lotus"]["wallets"];
    assert_eq!(wallets[1]["balance_attofil"], "123456789012345678901234567");
    assert_eq!(wallets[0]["balance_fil"], 1.5);
    assert!(
        lotus.auth_headers().iter().all(Option::is_none),
        "no token was given, none is sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_token_lists_the_nodes_wallets() {
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| {
        s.add_wallet("f1aaa", "2000000000000000000");
        s.wallet_default = Some("f1aaa".into());
    });
    let exporter = util::start(&["--lotus.api", &lotus.api_info_with_token(WRITE_TOKEN)]).await;
    let m = exporter.metrics().await;
    assert_eq!(
        m.value("lotus_wallet_balance_fil{address=\"f1aaa\",alias=\"\"}"),
        2.0
    );
    let sent = lotus.auth_headers();
    assert!(sent
        .iter()
        .all(|h| h.as_deref() == Some(&format!("Bearer {WRITE_TOKEN}")[..])));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_token_skips_wallet_discovery() {
    let lotus = FakeLotus::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{READ_TOKEN}\n")).unwrap();
    let exporter = exporter_for(
        &lotus,
        &["--lotus.token-file", token_file.to_str().unwrap()],
    )
    .await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 1.0);
    assert_eq!(
        m.check_success("lotus_wallets"),
        None,
        "skipped, so a read-only setup never pages"
    );
    assert!(!m.has("lotus_wallet_balance_fil"));
    assert_eq!(exporter.status().await["lotus"]["errors"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_never_appears_in_any_output() {
    const SECRET: &str = "SECRET-TOKEN-4f1d9c";
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| {
        s.tokens.insert(SECRET.into(), vec!["read".into()]);
    });
    lotus.set_behavior(
        "Filecoin.ChainHead",
        Behavior::HttpStatus(400, format!("bad request from Bearer {SECRET}")),
    );
    let api = lotus.api_info_with_token(SECRET);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"))
        .args(["check", "--lotus.api", &api, "--log.level", "trace"])
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap();
    let exporter = util::start(&["--lotus.api", &api]).await;
    let metrics = exporter.metrics().await.text;
    let status = exporter.status().await.to_string();
    let json_check = std::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"))
        .args([
            "check",
            "--json",
            "--lotus.api",
            &api,
            "--log.level",
            "trace",
        ])
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap();
    assert!(lotus
        .auth_headers()
        .iter()
        .any(|h| h.as_deref() == Some(&format!("Bearer {SECRET}")[..])));
    for (name, output) in [
        ("metrics", metrics),
        ("status", status),
        (
            "check stdout",
            String::from_utf8_lossy(&child.stdout).into_owned(),
        ),
        (
            "check logs",
            String::from_utf8_lossy(&child.stderr).into_owned(),
        ),
        (
            "check --json",
            String::from_utf8_lossy(&json_check.stdout).into_owned(),
        ),
        (
            "check --json logs",
            String::from_utf8_lossy(&json_check.stderr).into_owned(),
        ),
    ] {
        assert!(
            !output.contains(SECRET),
            "the token leaked into {name}:\n{output}"
        );
        assert!(
            !output.is_empty() || name.contains("logs"),
            "{name} is empty"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scrape_passes_promtool_and_has_the_right_content_type() {
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| s.add_wallet("f1hot", "1"));
    let exporter = exporter_for(&lotus, &["--lotus.wallet", "f1hot=hot"]).await;
    let page = exporter.get("/metrics").await;
    assert_eq!(
        page.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    util::promtool_check_metrics(&page.body);
    lotus.stop().await;
    util::promtool_check_metrics(&exporter.get("/metrics").await.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn http_routes_answer_as_documented() {
    let exporter = util::start(&["--lotus.api", "/ip4/127.0.0.1/tcp/1/http"]).await;
    let landing = exporter.get("/").await;
    assert_eq!(landing.status, 200);
    assert!(
        landing.body.contains("href=\"/metrics\"") && landing.body.contains("href=\"/status\"")
    );
    assert_eq!(exporter.get("/healthz").await.status, 200);
    assert_eq!(exporter.get("/nope").await.status, 404);
    let post = exporter.request(http::Method::POST, "/metrics", &[]).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.headers["allow"], "GET, HEAD");
    let head = exporter.request(http::Method::HEAD, "/metrics", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let bad = exporter
        .request(
            http::Method::GET,
            "/metrics",
            &[("X-Prometheus-Scrape-Timeout-Seconds", "soon")],
        )
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_command_exits_by_health() {
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| s.peers = crate::fakes::lotus::distinct_peers(12));
    let run = |api: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"))
            .args([
                "check",
                "--lotus.api",
                &api,
                "--follow.process-discovery=false",
            ])
            .env("HOME", std::env::temp_dir())
            .output()
            .unwrap()
    };
    let healthy = tokio::task::spawn_blocking({
        let api = lotus.api_info();
        move || run(api)
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&healthy.stdout);
    assert!(healthy.status.success(), "{report}");
    assert!(
        report.contains("health:   healthy") && report.contains("peers:"),
        "{report}"
    );
    lotus.stop().await;
    let down = tokio::task::spawn_blocking({
        let api = lotus.api_info();
        move || run(api)
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&down.stdout);
    assert_eq!(down.status.code(), Some(1), "{report}");
    assert!(report.contains("connection refused"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_permissions_are_exported_and_checked_once_per_session() {
    let lotus = FakeLotus::start().await;
    let exporter = util::start(&[
        "--lotus.api",
        &lotus.api_info_with_token(fakes::lotus::ADMIN_TOKEN),
    ])
    .await;
    for _ in 0..2 {
        let m = exporter.metrics().await;
        assert_eq!(
            m.value("lotus_token_permissions{permission=\"admin\"}"),
            1.0
        );
        assert_eq!(m.value("lotus_token_permissions{permission=\"read\"}"), 1.0);
        assert_eq!(m.check_success("lotus_token"), Some(1.0));
    }
    assert_eq!(lotus.calls("Filecoin.AuthVerify"), 1);

    let read_only = util::start(&["--lotus.api", &lotus.api_info_with_token(READ_TOKEN)]).await;
    let m = read_only.metrics().await;
    assert_eq!(m.value("lotus_token_permissions{permission=\"read\"}"), 1.0);
    assert_eq!(
        m.value("lotus_token_permissions{permission=\"write\"}"),
        0.0
    );
    assert_eq!(
        m.value("lotus_token_permissions{permission=\"admin\"}"),
        0.0
    );

    let no_token = exporter_for(&lotus, &[]).await;
    let m = no_token.metrics().await;
    assert!(!m.has("lotus_token_permissions"));
    assert_eq!(
        m.check_success("lotus_token"),
        None,
        "skipped without a token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn powerful_or_shared_tokens_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let lotus = FakeLotus::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, fakes::lotus::ADMIN_TOKEN).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let api = lotus.api_info();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"))
            .args([
                "check",
                "--lotus.api",
                &api,
                "--lotus.token-file",
                token_file.to_str().unwrap(),
            ])
            .env("HOME", std::env::temp_dir())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(
        logs.contains("readable by group or others (mode 644)"),
        "{logs}"
    );
    assert!(logs.contains("carries sign and admin permission"), "{logs}");
    assert!(!logs.contains(fakes::lotus::ADMIN_TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hurried_scrape_does_not_cut_short_a_patient_one_that_joins_it() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior(
        "Filecoin.Version",
        Behavior::Delay(Duration::from_millis(400)),
    );
    let exporter = std::sync::Arc::new(exporter_for(&lotus, &["--collector.timeout", "5s"]).await);
    let hurried = {
        let exporter = exporter.clone();
        tokio::spawn(async move {
            exporter
                .request(
                    http::Method::GET,
                    "/metrics",
                    &[("X-Prometheus-Scrape-Timeout-Seconds", "0.6")],
                )
                .await
        })
    };
    // Join the round the hurried scrape started.
    while lotus.calls("Filecoin.Version") == 0 {
        tokio::task::yield_now().await;
    }
    let patient = exporter.metrics().await;
    assert_eq!(
        patient.value("lotus_up"),
        1.0,
        "the patient scrape waits for the answer"
    );
    assert_eq!(patient.check_success("lotus_version"), Some(1.0));
    let hurried = util::Metrics::parse(&hurried.await.unwrap().body);
    assert_eq!(
        hurried.value("lotus_up"),
        0.0,
        "the hurried one answered by its own deadline"
    );
    assert_eq!(
        lotus.calls("Filecoin.Version"),
        2,
        "the patient scrape ran a round of its own after the shared one was cut short"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scrape_shorter_than_the_collector_timeout_keeps_what_finished() {
    // Prometheus caps scrape_timeout at the scrape interval: a 5s interval gives a 4.5s budget
    // against the 5s default collector timeout. One hung method must cost only its own check.
    let lotus = FakeLotus::start().await;
    lotus.set_behavior("Filecoin.NetPeers", Behavior::Hang);
    let exporter = exporter_for(&lotus, &["--collector.timeout", "5s"]).await;
    let page = exporter
        .request(
            http::Method::GET,
            "/metrics",
            &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
        )
        .await;
    let m = util::Metrics::parse(&page.body);
    assert_eq!(m.value("lotus_up"), 1.0, "Version answered at once");
    assert_eq!(m.check_success("lotus_version"), Some(1.0));
    assert_eq!(m.check_success("lotus_peers"), Some(0.0));
    assert_eq!(m.value("lotus_synced"), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn cached_constants_are_not_vouched_for_when_lotus_goes_down() {
    let lotus = FakeLotus::start().await;
    let exporter = util::start(&["--lotus.api", &lotus.api_info_with_token(READ_TOKEN)]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.check_success("lotus_genesis"), Some(1.0));
    assert!(m.has("lotus_token_permissions"));
    lotus.stop().await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 0.0);
    for check in ["lotus_network_name", "lotus_genesis", "lotus_token"] {
        assert_eq!(
            m.check_success(check),
            Some(0.0),
            "{check} cannot succeed while Lotus is down"
        );
    }
    assert!(
        !m.has("lotus_token_permissions"),
        "unconfirmed cached permissions are not exported"
    );
    assert!(!m.has("lotus_block_delay_seconds"));
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_not_healthy_without_evidence_of_peers_and_workers() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior(
        "Filecoin.NetPeers",
        Behavior::RpcError {
            code: 1,
            message: "boom".into(),
        },
    );
    lotus.set_behavior(
        "Filecoin.SyncState",
        Behavior::HttpStatus(500, "oops".into()),
    );
    let exporter = exporter_for(&lotus, &[]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_synced"), 1.0);
    assert_eq!(
        m.value("lotus_health{state=\"healthy\"}"),
        0.0,
        "unknown peers and workers are no evidence of health"
    );
    assert_eq!(m.value("lotus_health{state=\"degraded\"}"), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_without_session_keeps_its_chain_constants() {
    // lotus-gateway serves Version, ChainHead, ChainGetGenesis, StateNetworkName, WalletBalance,
    // but not Session, SyncState, NetPeers or AuthVerify.
    let lotus = FakeLotus::start().await;
    for method in [
        "Filecoin.Session",
        "Filecoin.SyncState",
        "Filecoin.NetPeers",
        "Filecoin.AuthVerify",
    ] {
        let message = format!("method '{method}' not found");
        lotus.set_behavior(
            method,
            Behavior::RpcError {
                code: -32601,
                message,
            },
        );
    }
    let exporter = util::start(&["--lotus.api", &lotus.api_info_with_token(READ_TOKEN)]).await;
    for _ in 0..3 {
        let m = exporter.metrics().await;
        assert_eq!(m.value("lotus_synced"), 1.0, "{}", m.text);
        assert!(m.has("lotus_chain_expected_height"));
        assert_eq!(m.check_success("lotus_genesis"), Some(1.0));
        assert_eq!(
            m.check_success("lotus_token"),
            None,
            "AuthVerify not served: skipped"
        );
    }
    assert_eq!(lotus.calls("Filecoin.ChainGetGenesis"), 1);
    assert_eq!(lotus.calls("Filecoin.AuthVerify"), 1);
}

/// The one series of a metric (its labels and value); panics when there is not exactly one.
fn only_series(m: &util::Metrics, name: &str) -> (String, f64) {
    let found: Vec<(String, f64)> = m
        .text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect();
    assert_eq!(found.len(), 1, "one {name} series expected:\n{}", m.text);
    found.into_iter().next().unwrap()
}

/// Run the built binary's `check` (text report, or `--json`) against `api`.
async fn check_output(api: String, json: bool) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let none = std::env::temp_dir().join("lotus-follow-exporter-test-none");
        let none = none.to_str().unwrap();
        let mut args = vec!["check"];
        if json {
            args.push("--json");
        }
        args.extend([
            "--lotus.api",
            &api,
            "--follow.process-discovery=false",
            "--follow.config-dir",
            none,
            "--ports.cluster-service-config",
            none,
            "--ports.kubo-config",
            none,
            "--lotus.path",
            none,
        ]);
        std::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"))
            .args(&args)
            .env("HOME", std::env::temp_dir())
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_workers_error_message_reaches_status_and_check() {
    // The case of ../shared/cases/lotus-sync-error-message: 1580 epochs behind, one worker in
    // the error stage saying why.
    const WHY: &str = "collectChain failed: fetching headers: no peer answered";
    let lotus = FakeLotus::start_with(LotusState::lagging(1580)).await;
    lotus.state_mut(|s| {
        let mut broken = SyncWorker::new(2, 5, s.head_height);
        broken.message = WHY.into();
        s.sync_workers.push(broken);
    });
    let exporter = exporter_for(&lotus, &[]).await;
    let status = exporter.status().await;
    let lotus_status = &status["lotus"];
    assert_eq!(lotus_status["sync_status"], "error");
    assert_eq!(lotus_status["sync_errors"], json!([WHY]));
    let errors = lotus_status["errors"].to_string();
    assert!(errors.contains(WHY), "{errors}");
    let reasons = lotus_status["health_reasons"].to_string();
    assert!(
        reasons.contains(WHY) && reasons.contains("1580 epochs behind"),
        "{reasons}"
    );

    let report = check_output(lotus.api_info(), false).await;
    let text = String::from_utf8_lossy(&report.stdout);
    assert_eq!(report.status.code(), Some(1), "{text}");
    assert!(text.contains(WHY), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_method_not_served_is_skipped_however_the_node_says_so() {
    type Saying = fn(&str) -> Behavior;
    let ways: [(&str, Saying); 3] = [
        ("JSON-RPC -32601", |method| Behavior::RpcError {
            code: -32601,
            message: format!("method '{method}' not found"),
        }),
        ("an error with no code", |method| {
            Behavior::ErrorWithoutCode(format!(
                "the method {method} does not exist/is not available"
            ))
        }),
        ("HTTP 404", |_| {
            Behavior::HttpStatus(404, "404 page not found".into())
        }),
    ];
    for (way, behavior) in ways {
        let lotus = FakeLotus::start().await;
        for method in ["Filecoin.SyncState", "Filecoin.NetPeers"] {
            lotus.set_behavior(method, behavior(method));
        }
        let exporter = exporter_for(&lotus, &[]).await;
        let m = exporter.metrics().await;
        for check in ["lotus_sync_state", "lotus_peers"] {
            assert_eq!(m.check_success(check), None, "{way}: {check} skipped");
        }
        assert_eq!(
            m.value("lotus_health{state=\"healthy\"}"),
            1.0,
            "{way}: no degraded health on account of a method not served\n{}",
            m.text
        );
        let status = exporter.status().await;
        assert_eq!(status["lotus"]["errors"], json!([]), "{way}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_without_a_code_gets_no_made_up_code() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior(
        "Filecoin.NetPeers",
        Behavior::ErrorWithoutCode("libp2p host is closing".into()),
    );
    let exporter = exporter_for(&lotus, &[]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.check_success("lotus_peers"), Some(0.0), "a real failure");
    let errors = exporter.status().await["lotus"]["errors"].to_string();
    assert!(errors.contains("libp2p host is closing"), "{errors}");
    assert!(
        errors.contains("carried no code") && !errors.contains("code 0"),
        "{errors}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn node_type_comes_from_what_the_node_serves() {
    let node_type = |m: &util::Metrics| {
        let (series, _) = only_series(m, "lotus_node_info");
        series
            .split("node_type=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_string()
    };
    // lotus-gateway: Version forwarded unchanged (Agent "lotus"), no SyncState nor NetPeers.
    let gateway = FakeLotus::start().await;
    for method in [
        "Filecoin.Session",
        "Filecoin.SyncState",
        "Filecoin.NetPeers",
    ] {
        gateway.set_behavior(
            method,
            Behavior::RpcError {
                code: -32601,
                message: format!("method '{method}' not found"),
            },
        );
    }
    assert_eq!(gateway.state().agent, "lotus");
    let m = exporter_for(&gateway, &[]).await.metrics().await;
    assert_eq!(node_type(&m), "gateway", "{}", m.text);

    // Neither answered nor refused: no evidence either way.
    let silent = FakeLotus::start().await;
    for method in ["Filecoin.SyncState", "Filecoin.NetPeers"] {
        silent.set_behavior(method, Behavior::HttpStatus(502, "bad gateway".into()));
    }
    let m = exporter_for(&silent, &[]).await.metrics().await;
    assert_eq!(node_type(&m), "unknown", "{}", m.text);

    let full = FakeLotus::start().await;
    let m = exporter_for(&full, &[]).await.metrics().await;
    assert_eq!(node_type(&m), "chain", "{}", m.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_head_ahead_of_the_clock_is_measured_and_degrades_health() {
    let lotus = FakeLotus::start().await;
    let exporter = exporter_for(&lotus, &[]).await;
    let m = exporter.metrics().await;
    assert!(
        m.value("lotus_chain_head_ahead_epochs") <= 1.0,
        "0 normally (1 at an epoch boundary)"
    );

    lotus.state_mut(|s| {
        let ahead = s.expected_height() + 40;
        s.set_head_height(ahead);
    });
    let m = exporter.metrics().await;
    let ahead = m.value("lotus_chain_head_ahead_epochs");
    assert!((39.0..=40.0).contains(&ahead), "ahead {ahead}");
    assert_eq!(m.value("lotus_health{state=\"degraded\"}"), 1.0);
    let status = exporter.status().await;
    let reasons = status["lotus"]["health_reasons"].to_string();
    assert!(
        reasons.contains("ahead of this host's clock: one of the two clocks is wrong"),
        "{reasons}"
    );

    let down = FakeLotus::start().await;
    down.stop().await;
    let m = exporter_for(&down, &[]).await.metrics().await;
    assert!(
        !m.has("lotus_chain_head_ahead_epochs"),
        "absent when not measured"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_height_no_chain_can_have_is_an_invalid_answer() {
    let lotus = FakeLotus::start().await;
    let exporter = exporter_for(&lotus, &[]).await;
    for (what, height) in [
        ("a week ahead", None),
        ("beyond 2^53", Some((1i64 << 53) + 1)),
    ] {
        lotus.state_mut(|s| {
            let h = height.unwrap_or(s.expected_height() + 7 * 2880);
            s.set_head_height(h);
        });
        let m = exporter.metrics().await;
        assert_eq!(m.check_success("lotus_chain_head"), Some(0.0), "{what}");
        assert!(!m.has("lotus_chain_height"), "{what}: no height figure");
        assert!(!m.has("lotus_chain_head_ahead_epochs"), "{what}");
        let errors = exporter.status().await["lotus"]["errors"].to_string();
        assert!(errors.contains("invalid answer"), "{what}: {errors}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_running_names_who_listens_on_the_api_port() {
    // Here the API port is held by this test process (the fake), not by a `lotus daemon`:
    // lotus_daemon_running 0 says so by naming the listener, as it would for Forest or
    // lotus-gateway.
    let lotus = FakeLotus::start().await;
    let exporter = exporter_for(&lotus, &[]).await;
    let m = exporter.metrics().await;
    let me = std::env::args().next().unwrap();
    let me = std::path::Path::new(&me)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let (series, running) = only_series(&m, "lotus_daemon_running");
    assert_eq!(running, 0.0);
    assert_eq!(
        series,
        format!("lotus_daemon_running{{api_listener=\"{me}\"}}"),
        "{}",
        m.text
    );
    let status = exporter.status().await;
    assert_eq!(status["lotus"]["api_listener"], json!([me]));

    lotus.stop().await;
    let m = exporter.metrics().await;
    let (series, _) = only_series(&m, "lotus_daemon_running");
    assert_eq!(series, "lotus_daemon_running{api_listener=\"none\"}");
}
