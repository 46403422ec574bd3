//! `lotus-follow-exporter check` as an operator runs it: its report names every configured
//! follower (stopped ones too) with the reason of each bad verdict, and its exit status agrees
//! with what would alert.

use std::path::Path;
use std::process::Output;

use crate::fakes::lotus::FakeLotus;
use crate::util;

/// Run `check` (optionally `--json`) against `lotus` with `args`, HOME in `home`, no process
/// discovery and no config file of this machine.
async fn check(lotus: &FakeLotus, home: &Path, args: &[&str]) -> Output {
    let none = home.join("none");
    let none = none.to_str().unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"));
    command
        .arg("check")
        .args(["--lotus.api", &lotus.api_info()])
        .args(["--follow.process-discovery=false"])
        .args(["--lotus.path", none])
        .args(args);
    for flag in ["--ports.cluster-service-config", "--ports.kubo-config"] {
        if !args.contains(&flag) {
            command.args([flag, none]);
        }
    }
    command
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin");
    command.output().await.expect("run check")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_healthy_exits_0() {
    let home = tempfile::tempdir().unwrap();
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| s.peers = crate::fakes::lotus::distinct_peers(12));
    let output = check(&lotus, home.path(), &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains(
            // Processes are not looked at here (--follow.process-discovery=false): not counted.
            "Cluster follow: no follower found (0 by flag, 0 by config_dir)"
        ),
        "{}",
        text(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cleanly_stopped_follower_is_named_and_exits_1() {
    let home = tempfile::tempdir().unwrap();
    let config_dir = home.path().join(".ipfs-cluster-follow");
    util::stopped_follower(&config_dir, "websites");
    let lotus = FakeLotus::start().await;
    let output = check(&lotus, home.path(), &[]).await;
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains("Cluster follow websites"), "{said}");
    assert!(said.contains("status:   stopped"), "{said}");
    assert!(
        said.contains("why:      stopped: no ipfs-cluster-follow process"),
        "{said}"
    );

    let json = check(&lotus, home.path(), &["--json"]).await;
    let status: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let follower = &status["cluster_follow"][0];
    assert_eq!(follower["cluster_name"], "websites");
    assert_eq!(follower["status"], "stopped");
    assert_eq!(follower["health"], "unhealthy");
    assert!(
        follower["reasons"][0]
            .as_str()
            .unwrap_or_default()
            .starts_with("stopped"),
        "{follower}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_follower_keeps_its_series_so_its_alerts_can_fire() {
    let home = tempfile::tempdir().unwrap();
    let config_dir = home.path().join("follow");
    util::stopped_follower(&config_dir, "websites");
    let lotus = FakeLotus::start().await;
    let exporter = util::start(&[
        "--lotus.api",
        &lotus.api_info(),
        "--follow.config-dir",
        config_dir.to_str().unwrap(),
    ])
    .await;
    let m = exporter.metrics().await;
    let name = "cluster_name=\"websites\"";
    assert_eq!(m.value(&format!("cluster_follow_running{{{name}}}")), 0.0);
    assert_eq!(
        m.value(&format!("cluster_follow_api_reachable{{{name}}}")),
        0.0
    );
    assert_eq!(
        m.value(&format!(
            "cluster_follow_status{{{name},state=\"stopped\"}}"
        )),
        1.0
    );
    assert_eq!(
        m.value(&format!(
            "cluster_follow_health{{{name},state=\"unhealthy\"}}"
        )),
        1.0
    );
    assert_eq!(
        m.value(&format!(
            "cluster_follow_health_reason{{{name},reason=\"stopped\"}}"
        )),
        1.0
    );
    for (source, n) in [("flag", 0.0), ("config_dir", 1.0)] {
        assert_eq!(
            m.value(&format!("cluster_follow_configured{{source=\"{source}\"}}")),
            n
        );
    }
    // Processes are not looked at here (--follow.process-discovery=false): no count, not 0.
    assert_eq!(m.get("cluster_follow_configured{source=\"process\"}"), None);
    assert_eq!(m.value("cluster_follow_over_cap"), 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_named_config_folder_that_does_not_exist_fails_discovery_and_exits_1() {
    let home = tempfile::tempdir().unwrap();
    let lotus = FakeLotus::start().await;
    let missing = home.path().join("no-such-folder");
    let output = check(
        &lotus,
        home.path(),
        &["--follow.config-dir", missing.to_str().unwrap()],
    )
    .await;
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains("follow_discovery: --follow.config-dir"),
        "{said}"
    );
    assert!(said.contains("no-such-folder does not exist"), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_port_conflict_exits_1() {
    let home = tempfile::tempdir().unwrap();
    let lotus = FakeLotus::start().await;
    // Kubo's API configured on Lotus's API port.
    let kubo = home.path().join("kubo-config");
    std::fs::write(
        &kubo,
        format!(
            r#"{{"Addresses": {{"API": ["/ip4/127.0.0.1/tcp/{}"], "Swarm": [], "Gateway": []}}}}"#,
            lotus.port()
        ),
    )
    .unwrap();
    let output = check(
        &lotus,
        home.path(),
        &["--ports.kubo-config", kubo.to_str().unwrap()],
    )
    .await;
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains("Port conflicts:"), "{said}");
    assert!(said.contains(&format!("{}/tcp:", lotus.port())), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_is_printed_once() {
    let home = tempfile::tempdir().unwrap();
    let lotus = FakeLotus::start().await;
    let port = lotus.port();
    // Stopped, its port stays reserved: no other test's fake can answer on it.
    lotus.stop().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"))
        .arg("check")
        .args(["--lotus.api", &format!("/ip4/127.0.0.1/tcp/{port}/http")])
        .arg("--follow.process-discovery=false")
        .env_clear()
        .env("HOME", home.path())
        .output()
        .await
        .unwrap();
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert_eq!(said.matches("connection refused").count(), 1, "{said}");
    assert_eq!(said.matches("unknown").count(), 1, "{said}");
}
