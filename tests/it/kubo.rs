//! The Kubo check against the fake Kubo (`tests/it/fakes/kubo.rs`): up, hung, refusing, failing
//! and impostor Kubos, found through `--kubo.api`, Kubo's config and a follower's
//! `service.json`, in `/metrics`, `/status` and `check`; and nothing at all when nothing names a
//! Kubo.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::fakes::cluster::{self, ClusterState};
use crate::fakes::kubo::{FakeKubo, Mode, PEER_ID, VERSION};
use crate::fakes::lotus::{distinct_peers, FakeLotus};
use crate::util;

/// `args`, plus flags that keep this host's configs out (those `args` do not set).
fn flags<'a>(none: &'a str, api: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![
        "--lotus.api",
        api,
        "--lotus.path",
        none,
        "--collector.timeout",
        "2s",
    ];
    for flag in ["--ports.cluster-service-config", "--ports.kubo-config"] {
        if !args.contains(&flag) {
            all.extend([flag, none]);
        }
    }
    all.extend_from_slice(args);
    all
}

/// `/metrics` (promtool-checked) and `/status` of an exporter started with these extra flags.
async fn scrape(args: &[&str]) -> (util::Metrics, Value) {
    let (metrics, status, _) = scrape_all(args).await;
    (metrics, status)
}

/// [`scrape`], and the status page.
async fn scrape_all(args: &[&str]) -> (util::Metrics, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let none = dir.path().join("none");
    let lotus = FakeLotus::start().await;
    let api = lotus.api_info();
    let exporter = util::start(&flags(none.to_str().unwrap(), &api, args)).await;
    let page = exporter.get("/metrics").await;
    util::promtool_check_metrics(&page.body);
    let metrics = util::Metrics::parse(&page.body);
    let status = exporter.status().await;
    let html = exporter
        .request(http::Method::GET, "/", &[("Accept", "text/html")])
        .await
        .body;
    (metrics, status, html)
}

fn up(label: &str) -> String {
    format!("kubo_up{{kubo=\"{label}\"}}")
}

fn api_success(label: &str) -> String {
    format!("lotus_follow_exporter_check_success{{check=\"kubo_api\",cluster_name=\"{label}\"}}")
}

/// The one Kubo of `/status`.
fn only_kubo(status: &Value) -> &Value {
    let all = status["kubo"].as_array().expect("/status has a kubo list");
    assert_eq!(all.len(), 1, "{status:#}");
    &all[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answering_kubo_is_up_with_its_version_and_peer_id() {
    let kubo = FakeKubo::start(Mode::Up).await;
    let (m, status) = scrape(&["--kubo.api", &kubo.multiaddr()]).await;
    let label = kubo.label();
    assert_eq!(m.value(&up(&label)), 1.0);
    let info = format!("kubo_info{{kubo=\"{label}\",version=\"{VERSION}\",peer_id=\"{PEER_ID}\"}}");
    assert_eq!(m.value(&info), 1.0);
    assert_eq!(m.value(&api_success(&label)), 1.0);
    assert_eq!(m.check_success("kubo_discovery"), Some(1.0));
    let asked = kubo.requests();
    assert!(
        !asked.is_empty() && asked.iter().all(|r| r == "POST /api/v0/id"),
        "Kubo's RPC API is POST-only: {asked:?}"
    );
    let entry = only_kubo(&status);
    assert_eq!(entry["address"], label);
    assert_eq!(entry["up"], true);
    assert_eq!(entry["version"], VERSION);
    assert_eq!(entry["peer_id"], PEER_ID);
    assert_eq!(entry["health"], "healthy");
    assert_eq!(entry["found_by"], serde_json::json!([{"source": "flag"}]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_kubo_reads_timed_out_naming_kubo() {
    let kubo = FakeKubo::start(Mode::Hung).await;
    let (m, status) = scrape(&["--kubo.api", &kubo.multiaddr()]).await;
    let label = kubo.label();
    assert_eq!(m.value(&up(&label)), 0.0);
    assert_eq!(m.value(&api_success(&label)), 0.0);
    assert!(!m.has("kubo_info"), "nothing measured: no identity");
    let entry = only_kubo(&status);
    assert_eq!(entry["health"], "unhealthy");
    let reason = entry["reasons"][0].as_str().unwrap();
    assert!(
        reason.starts_with(&format!("Kubo {label} timed out:")),
        "{reason}"
    );
    assert!(entry["errors"][0]
        .as_str()
        .unwrap()
        .contains("timed out before the scrape deadline"));
    assert_eq!(status["health"], "unhealthy");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_kubo_is_down_with_connection_refused() {
    let kubo = FakeKubo::refusing();
    let (m, status, page) = scrape_all(&["--kubo.api", &kubo.multiaddr()]).await;
    assert_eq!(m.value(&up(&kubo.label())), 0.0);
    assert!(
        page.contains(
            "<a href=\"#kubo\">Kubo</a> <span class=\"badge unhealthy\">0 of 1 up</span>"
        ),
        "{page}"
    );
    assert!(page.contains("<h2 id=\"kubo\">Kubo (1)</h2>"), "{page}");
    let reason = only_kubo(&status)["reasons"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains(&format!(
            "Kubo {} is down: connection refused",
            kubo.label()
        )),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_kubo_reads_its_own_message() {
    let kubo = FakeKubo::start(Mode::Failing("context canceled".into())).await;
    let (m, status) = scrape(&["--kubo.api", &kubo.multiaddr()]).await;
    assert_eq!(m.value(&up(&kubo.label())), 0.0);
    let reason = only_kubo(&status)["reasons"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("is failing"), "{reason}");
    assert!(
        reason.contains("HTTP 500 Internal Server Error: context canceled"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kubo_back_up_reads_up_on_the_next_scrape() {
    let kubo = FakeKubo::start(Mode::Failing("repo is locked".into())).await;
    let dir = tempfile::tempdir().unwrap();
    let none = dir.path().join("none");
    let lotus = FakeLotus::start().await;
    let api = lotus.api_info();
    let multiaddr = kubo.multiaddr();
    let args = ["--kubo.api", multiaddr.as_str()];
    let exporter = util::start(&flags(none.to_str().unwrap(), &api, &args)).await;
    let label = kubo.label();
    assert_eq!(exporter.metrics().await.value(&up(&label)), 0.0);
    kubo.set_mode(Mode::Up);
    assert_eq!(exporter.metrics().await.value(&up(&label)), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn something_else_on_the_port_is_not_a_kubo() {
    let kubo = FakeKubo::start(Mode::Impostor).await;
    let (m, status) = scrape(&["--kubo.api", &kubo.multiaddr()]).await;
    assert_eq!(m.value(&up(&kubo.label())), 0.0);
    let reason = only_kubo(&status)["reasons"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("not a Kubo RPC API"), "{reason}");
    assert!(reason.starts_with("no Kubo answers on"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kubo_named_by_its_config_and_a_follower_is_watched_once() {
    let kubo = FakeKubo::start(Mode::Up).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ipfs-config");
    std::fs::write(
        &config,
        format!(
            r#"{{"Addresses":{{"API":"/ip4/0.0.0.0/tcp/{}","Gateway":"/ip4/127.0.0.1/tcp/8080","Swarm":[]}}}}"#,
            kubo.port()
        ),
    )
    .unwrap();
    let follow = dir.path().join("follow");
    std::fs::create_dir_all(follow.join("websites")).unwrap();
    let service_json = follow.join("websites").join("service.json");
    std::fs::write(
        &service_json,
        format!(
            r#"{{"ipfs_connector":{{"ipfshttp":{{"node_multiaddress":"{}"}}}}}}"#,
            kubo.multiaddr()
        ),
    )
    .unwrap();
    // A follower configured from a URL names no Kubo here.
    std::fs::create_dir_all(follow.join("remote")).unwrap();
    std::fs::write(
        follow.join("remote").join("service.json"),
        r#"{"source":"http://127.0.0.1:8080/ipns/example.org"}"#,
    )
    .unwrap();
    let (m, status) = scrape(&[
        "--ports.kubo-config",
        config.to_str().unwrap(),
        "--follow.config-dir",
        follow.to_str().unwrap(),
    ])
    .await;
    let label = kubo.label();
    assert_eq!(m.value(&up(&label)), 1.0);
    assert_eq!(
        m.value(&format!(
            "kubo_follower_info{{kubo=\"{label}\",cluster_name=\"websites\"}}"
        )),
        1.0
    );
    assert_eq!(
        m.get(&format!(
            "kubo_follower_info{{kubo=\"{label}\",cluster_name=\"remote\"}}"
        )),
        None
    );
    let entry = only_kubo(&status);
    assert_eq!(
        entry["found_by"],
        serde_json::json!([
            {"source": "kubo_config", "path": config.to_str().unwrap()},
            {"source": "follower", "cluster_name": "websites", "path": service_json.to_str().unwrap()},
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follower_waiting_on_its_hung_kubo_is_not_blamed() {
    // ipfs-cluster asks Kubo before it answers /id: with Kubo hung, /id hangs too.
    let kubo = FakeKubo::start(Mode::Hung).await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("follow").join("websites");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("service.json"),
        format!(
            r#"{{"ipfs_connector":{{"ipfshttp":{{"node_multiaddress":"{}"}}}}}}"#,
            kubo.multiaddr()
        ),
    )
    .unwrap();
    let hung_id = ClusterState {
        latency: vec![("/id".to_string(), std::time::Duration::from_secs(3600))],
        ..ClusterState::default()
    };
    let _follower = cluster::serve_unix(&folder.join("api-socket"), hung_id).await;
    let follow_dir = dir.path().join("follow");
    let (m, status) = scrape(&["--follow.config-dir", follow_dir.to_str().unwrap()]).await;
    let label = kubo.label();
    assert_eq!(m.value(&up(&label)), 0.0);
    assert_eq!(
        m.get("cluster_follow_api_reachable{cluster_name=\"websites\"}"),
        None,
        "not measured: its answer waits on Kubo"
    );
    assert_eq!(
        m.value("cluster_follow_health{cluster_name=\"websites\",state=\"degraded\"}"),
        1.0
    );
    let follower = &status["cluster_follow"][0];
    let why = follower["reasons"][0].as_str().unwrap();
    assert!(
        why.contains(&format!(
            "Kubo {label}, which its service.json names, timed out too"
        )),
        "{follower:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_to_watch_renders_nothing() {
    let (m, status, page) = scrape_all(&[]).await;
    assert!(
        !page.contains("#kubo") && !page.contains("id=\"kubo\""),
        "no Kubo badge nor section: {page}"
    );
    assert!(
        !m.text.contains("kubo_"),
        "no Kubo series, no kubo_* check:\n{}",
        m.text
    );
    assert_eq!(status["kubo"], serde_json::json!([]));
}

/// Run `check` with these flags, HOME in `home`.
async fn check(home: &Path, args: &[&str]) -> Output {
    let none = home.join("none");
    let lotus = FakeLotus::start().await;
    // A healthy Lotus: at least --lotus.min-peers (10) peers.
    lotus.state_mut(|s| s.peers = distinct_peers(12));
    let api = lotus.api_info();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"));
    command
        .arg("check")
        .arg("--follow.process-discovery=false")
        .args(flags(none.to_str().unwrap(), &api, args))
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin");
    command.output().await.expect("run check")
}

#[tokio::test(flavor = "multi_thread")]
async fn check_prints_a_block_per_kubo_and_exits_1_when_one_is_down() {
    let home = tempfile::tempdir().unwrap();
    let good = FakeKubo::start(Mode::Up).await;
    let down = FakeKubo::refusing();
    let output = check(
        home.path(),
        &[
            "--kubo.api",
            &good.multiaddr(),
            "--kubo.api",
            &down.multiaddr(),
        ],
    )
    .await;
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("Kubo {}\n", good.label())), "{said}");
    assert!(said.contains(&format!("  version:  {VERSION}")), "{said}");
    assert!(said.contains(&format!("Kubo {}\n", down.label())), "{said}");
    assert!(
        said.contains(&format!("  why:      Kubo {} is down", down.label())),
        "{said}"
    );
    assert!(
        said.contains(&format!("kubo_api ({}): connection refused", down.label())),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_says_nothing_of_kubo_when_none_is_named() {
    let home = tempfile::tempdir().unwrap();
    let output = check(home.path(), &[]).await;
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{said}");
    assert!(!said.contains("Kubo"), "{said}");
    assert!(!said.contains("kubo"), "{said}");
}
