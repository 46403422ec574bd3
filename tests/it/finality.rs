//! The finality section of the Lotus check end to end: F3 and the node's finalized tipset, the
//! exporter served in-process against the fake Lotus in each of the states the reference names.

use crate::fakes::lotus::{Behavior, F3Certificate, FakeF3, FakeLotus, LotusState};
use crate::util;

/// Every `lotus_f3_*` series: none may appear where F3 is disabled or not served.
const F3_SERIES: [&str; 9] = [
    "lotus_f3_running",
    "lotus_f3_info",
    "lotus_f3_bootstrap_epoch",
    "lotus_f3_latest_instance",
    "lotus_f3_finalized_height",
    "lotus_f3_finality_lag_epochs",
    "lotus_f3_progress_instance",
    "lotus_f3_progress_round",
    "lotus_f3_progress_phase",
];

/// An exporter watching `lotus`, which is given enough peers (12, past --lotus.min-peers) that
/// only finality can make it less than healthy.
async fn exporter_for(lotus: &FakeLotus) -> util::Exporter {
    lotus.state_mut(|s| s.peers = crate::fakes::lotus::distinct_peers(12));
    util::start(&["--lotus.api", &lotus.api_info()]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn running_f3_and_the_v2_status_are_exported() {
    let lotus = FakeLotus::start().await;
    let exporter = exporter_for(&lotus).await;
    let m = exporter.metrics().await;
    let state = lotus.state();
    let (instance, finalized) = state.f3_finalized().unwrap();
    let head = state.head_height;
    assert_eq!(m.value("lotus_f3_running"), 1.0);
    assert_eq!(
        m.value("lotus_f3_info{f3_network=\"filecoin\",bootstrap_epoch=\"4920480\"}"),
        1.0
    );
    assert_eq!(m.value("lotus_f3_bootstrap_epoch"), 4_920_480.0);
    assert_eq!(m.value("lotus_f3_latest_instance"), instance as f64);
    assert_eq!(
        m.value("lotus_f3_finalized_height"),
        finalized as f64,
        "the last ECChain entry, not the first"
    );
    assert_eq!(m.value("lotus_f3_finality_lag_epochs"), 5.0);
    assert_eq!(m.value("lotus_f3_progress_instance"), (instance + 1) as f64);
    assert_eq!(m.value("lotus_f3_progress_round"), 0.0);
    assert_eq!(m.value("lotus_f3_progress_phase"), 1.0);
    // finalized = the later of F3 (head - 5) and EC (head - 30).
    assert_eq!(m.value("lotus_chain_finalized_height"), (head - 5) as f64);
    assert_eq!(m.value("lotus_chain_finality_lag_epochs"), 5.0);
    assert_eq!(m.value("lotus_ec_finality_threshold_depth"), 30.0);
    assert_eq!(m.check_success("lotus_f3"), Some(1.0));
    assert_eq!(m.check_success("lotus_chain_finality"), Some(1.0));
    assert_eq!(m.value("lotus_health{state=\"healthy\"}"), 1.0);
    assert_eq!(
        lotus.calls("Filecoin.ChainGetFinalizedTipSet"),
        0,
        "v2 answered: no v1 fallback"
    );

    let status = exporter.status().await;
    let f3 = &status["lotus"]["f3"];
    assert_eq!(f3["state"], "running");
    assert_eq!(f3["running"], true);
    assert_eq!(f3["network"], "filecoin");
    assert_eq!(f3["latest_instance"], instance);
    assert_eq!(f3["finalized_height"], finalized);
    assert_eq!(f3["finality_lag_epochs"], 5);
    assert_eq!(f3["progress"]["phase_name"], "QUALITY");
    assert_eq!(status["lotus"]["chain_finalized_height"], head - 5);
    assert_eq!(status["lotus"]["ec_finality_threshold_depth"], 30);
    assert_eq!(
        status["lotus"]["finality_source"],
        "ChainGetTipSetFinalityStatus"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn disabled_f3_is_skipped_and_exports_nothing() {
    let mut state = LotusState::synced_now();
    state.f3 = FakeF3::disabled();
    let lotus = FakeLotus::start_with(state).await;
    let exporter = exporter_for(&lotus).await;
    for _ in 0..2 {
        let m = exporter.metrics().await;
        for series in F3_SERIES {
            assert!(!m.has(series), "{series} must be absent:\n{}", m.text);
        }
        assert_eq!(m.check_success("lotus_f3"), None, "skipped, not failed");
        // Without F3 the node's finality is the EC calculator's.
        assert_eq!(m.value("lotus_chain_finality_lag_epochs"), 30.0);
        assert_eq!(m.value("lotus_health{state=\"healthy\"}"), 1.0);
    }
    assert_eq!(
        lotus.calls("Filecoin.F3GetManifest"),
        1,
        "a disabled F3 has no manifest to ask for again this session"
    );
    let status = exporter.status().await;
    assert_eq!(status["lotus"]["f3"]["state"], "disabled");
    assert_eq!(status["lotus"]["f3"]["running"], serde_json::Value::Null);
    assert_eq!(status["lotus"]["errors"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn enabled_but_not_running_is_a_zero_not_a_failure() {
    let mut state = LotusState::synced_now();
    state.f3 = FakeF3::not_running();
    let lotus = FakeLotus::start_with(state).await;
    let exporter = exporter_for(&lotus).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_f3_running"), 0.0);
    assert!(m.has("lotus_f3_info"), "the manifest is still known");
    for absent in [
        "lotus_f3_latest_instance",
        "lotus_f3_finalized_height",
        "lotus_f3_finality_lag_epochs",
        "lotus_f3_progress_instance",
        "lotus_f3_progress_round",
        "lotus_f3_progress_phase",
    ] {
        assert!(!m.has(absent), "{absent}: zero progress is no instance 0");
    }
    assert_eq!(m.check_success("lotus_f3"), Some(1.0));
    // Not a failure, but the condition of LotusF3NotRunning: degraded, never unhealthy.
    assert_eq!(m.value("lotus_health{state=\"degraded\"}"), 1.0);
    let status = exporter.status().await;
    assert_eq!(status["lotus"]["f3"]["state"], "not running");
    assert_eq!(
        status["lotus"]["health_reasons"],
        serde_json::json!(["F3 is enabled but not running"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_null_certificate_leaves_the_finalized_figures_absent() {
    let mut state = LotusState::synced_now();
    state.f3.certificate = F3Certificate::Null;
    let lotus = FakeLotus::start_with(state).await;
    let exporter = exporter_for(&lotus).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_f3_running"), 1.0);
    for absent in [
        "lotus_f3_latest_instance",
        "lotus_f3_finalized_height",
        "lotus_f3_finality_lag_epochs",
    ] {
        assert!(!m.has(absent), "{absent} with no certificate yet");
    }
    assert_eq!(m.value("lotus_f3_progress_instance"), 1.0);
    assert_eq!(m.check_success("lotus_f3"), Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_rpc_v2_the_v1_finalized_tipset_is_used_and_v2_asked_once() {
    let mut state = LotusState::synced_now();
    state.rpc_v2 = false;
    let lotus = FakeLotus::start_with(state).await;
    let exporter = exporter_for(&lotus).await;
    for _ in 0..3 {
        let m = exporter.metrics().await;
        assert_eq!(
            m.value("lotus_chain_finality_lag_epochs"),
            5.0,
            "F3's tipset"
        );
        assert!(
            !m.has("lotus_ec_finality_threshold_depth"),
            "only v2 gives the EC depth"
        );
        assert_eq!(m.check_success("lotus_chain_finality"), Some(1.0));
    }
    assert_eq!(lotus.calls("Filecoin.ChainGetFinalizedTipSet"), 3);
    assert_eq!(
        lotus.requests_to("/rpc/v2"),
        1,
        "three scrapes, one 404: what the node serves is learned once per session"
    );
    lotus.restart().await;
    exporter.metrics().await;
    assert_eq!(
        lotus.requests_to("/rpc/v2"),
        2,
        "a new session probes /rpc/v2 again"
    );
    assert_eq!(
        exporter.status().await["lotus"]["finality_source"],
        "ChainGetFinalizedTipSet"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn neither_finality_call_served_is_skipped() {
    let mut state = LotusState::synced_now();
    state.rpc_v2 = false;
    let lotus = FakeLotus::start_with(state).await;
    lotus.set_behavior(
        "ChainGetFinalizedTipSet",
        Behavior::RpcError {
            code: -32601,
            message: "method 'Filecoin.ChainGetFinalizedTipSet' not found".into(),
        },
    );
    let exporter = exporter_for(&lotus).await;
    for _ in 0..3 {
        let m = exporter.metrics().await;
        assert!(!m.has("lotus_chain_finalized_height"));
        assert!(!m.has("lotus_chain_finality_lag_epochs"));
        assert_eq!(m.check_success("lotus_chain_finality"), None);
        assert_eq!(m.value("lotus_health{state=\"healthy\"}"), 1.0);
    }
    assert_eq!(lotus.calls("Filecoin.ChainGetFinalizedTipSet"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_method_not_found_falls_back_to_v1() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior(
        "ChainGetTipSetFinalityStatus",
        Behavior::ErrorWithoutCode(
            "the method Filecoin.ChainGetTipSetFinalityStatus does not exist/is not available"
                .into(),
        ),
    );
    let exporter = exporter_for(&lotus).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_chain_finality_lag_epochs"), 5.0);
    assert_eq!(m.check_success("lotus_chain_finality"), Some(1.0));
    assert_eq!(lotus.calls("Filecoin.ChainGetFinalizedTipSet"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn f3_methods_not_served_are_skipped_however_the_node_says_so() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior(
        "F3IsRunning",
        Behavior::RpcError {
            code: -32601,
            message: "method 'Filecoin.F3IsRunning' not found".into(),
        },
    );
    lotus.set_behavior(
        "F3GetLatestCertificate",
        Behavior::ErrorWithoutCode("Method not found".into()),
    );
    lotus.set_behavior(
        "F3GetProgress",
        Behavior::ErrorWithoutCode("unknown method F3GetProgress".into()),
    );
    lotus.set_behavior(
        "F3GetManifest",
        Behavior::ErrorWithoutCode("F3GetManifest is not supported".into()),
    );
    let exporter = exporter_for(&lotus).await;
    let m = exporter.metrics().await;
    for series in F3_SERIES {
        assert!(!m.has(series), "{series} must be absent");
    }
    assert_eq!(m.check_success("lotus_f3"), None);
    assert_eq!(m.value("lotus_health{state=\"healthy\"}"), 1.0);
    assert_eq!(
        exporter.status().await["lotus"]["f3"]["state"],
        "not served"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_f3_shows_a_frozen_instance_and_a_growing_lag_without_hurting_health() {
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| s.stall_f3());
    let (instance, finalized) = lotus.state().f3_finalized().unwrap();
    let exporter = exporter_for(&lotus).await;
    let mut lags = Vec::new();
    for _ in 0..3 {
        let m = exporter.metrics().await;
        assert_eq!(m.value("lotus_f3_latest_instance"), instance as f64);
        assert_eq!(m.value("lotus_f3_finalized_height"), finalized as f64);
        assert_eq!(m.value("lotus_f3_progress_round"), 7.0);
        assert_eq!(m.value("lotus_f3_running"), 1.0);
        lags.push(m.value("lotus_f3_finality_lag_epochs"));
        assert_ne!(
            m.value("lotus_health{state=\"unhealthy\"}"),
            1.0,
            "an F3 stall is the network's, not this node's"
        );
        assert_eq!(m.check_success("lotus_f3"), Some(1.0));
        // The chain moves on: 60 epochs between scrapes.
        lotus.state_mut(|s| {
            let head = s.head_height + 60;
            s.set_head_height(head);
        });
    }
    assert_eq!(lags, vec![5.0, 65.0, 125.0], "the lag grows");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_degraded_ec_chain_shows_depth_minus_one() {
    let mut state = LotusState::synced_now();
    state.ec_finality_depth = -1;
    let lotus = FakeLotus::start_with(state).await;
    let exporter = exporter_for(&lotus).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_ec_finality_threshold_depth"), -1.0);
    assert_eq!(
        m.value("lotus_chain_finality_lag_epochs"),
        5.0,
        "F3 still finalizes"
    );
    assert_eq!(m.check_success("lotus_chain_finality"), Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifest_is_read_once_per_session_and_f3_every_scrape() {
    let lotus = FakeLotus::start().await;
    let exporter = exporter_for(&lotus).await;
    for _ in 0..3 {
        assert!(exporter.metrics().await.has("lotus_f3_info"));
    }
    assert_eq!(lotus.calls("Filecoin.F3GetManifest"), 1);
    for method in ["F3IsRunning", "F3GetLatestCertificate", "F3GetProgress"] {
        assert_eq!(lotus.calls(method), 3, "{method} every scrape");
    }
    assert_eq!(lotus.calls("Filecoin.ChainGetTipSetFinalityStatus"), 3);
    lotus.state_mut(|s| s.f3.network_name = "calibrationnet2".into());
    lotus.restart().await;
    let m = exporter.metrics().await;
    assert_eq!(
        lotus.calls("Filecoin.F3GetManifest"),
        2,
        "a new session reads it again"
    );
    assert!(m.has("lotus_f3_info{f3_network=\"calibrationnet2\",bootstrap_epoch=\"4920480\"}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_f3_call_fails_only_the_f3_check() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior("F3GetProgress", Behavior::Hang);
    let exporter = util::start(&[
        "--lotus.api",
        &lotus.api_info(),
        "--collector.timeout",
        "2s",
    ])
    .await;
    let m = exporter.metrics().await;
    assert_eq!(m.check_success("lotus_f3"), Some(0.0));
    assert_eq!(m.check_success("lotus_chain_finality"), Some(1.0));
    assert_eq!(m.value("lotus_f3_running"), 1.0, "what answered is kept");
    assert!(!m.has("lotus_f3_progress_instance"));
    assert_eq!(m.value("lotus_up"), 1.0);
    let status = exporter.status().await;
    assert!(
        status["lotus"]["errors"].to_string().contains("lotus_f3"),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_prints_one_finality_line() {
    let lotus = FakeLotus::start().await;
    let out = tokio::task::spawn_blocking({
        let api = lotus.api_info();
        move || {
            let none = std::env::temp_dir().join("lotus-follow-exporter-test-none");
            let none = none.to_str().unwrap().to_string();
            std::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"))
                .args([
                    "check",
                    "--lotus.api",
                    &api,
                    "--follow.process-discovery=false",
                    "--follow.config-dir",
                    &none,
                    "--ports.cluster-service-config",
                    &none,
                    "--ports.kubo-config",
                    &none,
                    "--lotus.path",
                    &none,
                ])
                .env("HOME", std::env::temp_dir())
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("finality:")).collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line = lines[0];
    assert!(
        line.contains("F3 running")
            && line.contains("5 epochs behind the head")
            && line.contains("EC depth 30"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_finality_series_pass_promtool() {
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| s.ec_finality_depth = -1);
    let exporter = exporter_for(&lotus).await;
    let page = exporter.get("/metrics").await;
    util::promtool_check_metrics(&page.body);
}
