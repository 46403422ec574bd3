//! What the exporter logs, as an operator reads it on stderr: the start-up lines at the default
//! level (version, revision, where Lotus is and where that came from, the followers found,
//! TLS and basic auth), each state change of Lotus or a follower once with its reason,
//! `--log.format json`, a `check` that prints only its report, and a `--lotus.path` that does
//! not exist named in a warning.

use std::process::Stdio;

use crate::fakes::cluster::{serve_unix, ClusterState};
use crate::fakes::lotus::FakeLotus;
use crate::util;

const BIN: &str = env!("CARGO_BIN_EXE_lotus-follow-exporter");

/// The exporter binary with no RUST_LOG and no --log.level (the default level), followers only
/// from `config_dir`, nothing of this host's configs.
fn exporter(
    tmp: &std::path::Path,
    config_dir: &std::path::Path,
    args: &[&str],
) -> tokio::process::Command {
    let none = tmp.join("none");
    let none = none.to_str().expect("utf-8 path");
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(["--follow.process-discovery=false"])
        .args([
            "--follow.config-dir",
            config_dir.to_str().expect("utf-8 path"),
        ])
        .args(["--ports.cluster-service-config", none])
        .args(["--ports.kubo-config", none])
        .args(args)
        .env_clear()
        .env("HOME", tmp)
        .stdin(Stdio::null());
    command
}

fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn start_up_says_version_revision_lotus_followers_and_tls_at_the_default_level() {
    let lotus = FakeLotus::start().await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let config_dir = tmp.path().join("follow");
    util::stopped_follower(&config_dir, "mycluster");
    let api = lotus.url();
    let command = exporter(tmp.path(), &config_dir, &["--lotus.api", &api]);
    let (mut exporter, log) = util::spawn_command_logged(command).await;
    // Answering proves the start-up lines were written: the server starts after them.
    exporter.status().await;
    exporter.kill().await;
    let log = log.await.expect("the log");
    let start = lines_with(&log, "msg=\"starting lotus-follow-exporter ");
    assert_eq!(start.len(), 1, "{log}");
    assert!(
        start[0].contains("level=INFO")
            && start[0].contains(&format!("version={}", env!("CARGO_PKG_VERSION")))
            && start[0].contains("revision=")
            && start[0].contains("build_date=")
            && start[0].contains("rustc="),
        "{}",
        start[0]
    );
    let watching = lines_with(&log, "watching Lotus at ");
    assert!(
        watching.len() == 1
            && watching[0].contains(&format!("address={api}"))
            && watching[0].contains("address_source=--lotus.api"),
        "{log}"
    );
    let followers = lines_with(
        &log,
        "ipfs-cluster follower found: mycluster (config_dir, unix:",
    );
    assert_eq!(followers.len(), 1, "{log}");
    assert!(
        followers[0].contains("process discovery off"),
        "{}",
        followers[0]
    );
    let serving = lines_with(&log, "msg=\"serving http: TLS off, basic auth off");
    assert!(
        serving.len() == 1 && serving[0].contains("tls=off basic_auth=off"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_state_change_is_logged_once_with_its_reason() {
    let lotus = FakeLotus::start().await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let config_dir = tmp.path().join("follow");
    util::stopped_follower(&config_dir, "mycluster");
    let command = exporter(tmp.path(), &config_dir, &["--lotus.api", &lotus.url()]);
    let (mut exporter, log) = util::spawn_command_logged(command).await;

    // Lotus up, the follower stopped; then Lotus down for two scrapes; then both up.
    exporter.metrics().await;
    exporter.metrics().await;
    lotus.stop().await;
    exporter.metrics().await;
    exporter.metrics().await;
    lotus.restart().await;
    let _follower = serve_unix(
        &config_dir.join("mycluster").join("api-socket"),
        ClusterState::default(),
    )
    .await;
    exporter.metrics().await;
    exporter.metrics().await;
    exporter.kill().await;
    let log = log.await.expect("the log");

    let subject = format!("Lotus at {}", lotus.url());
    let lotus_lines = lines_with(&log, &subject);
    let changes: Vec<&&str> = lotus_lines
        .iter()
        .filter(|l| l.contains(" is up") || l.contains(" is down"))
        .collect();
    assert_eq!(changes.len(), 3, "up, down, up again, each once:\n{log}");
    assert!(changes[0].contains("level=INFO") && changes[0].contains("is up (running)"));
    assert!(
        changes[1].contains("level=WARN")
            && changes[1].contains("is down (")
            && changes[1].contains("refused"),
        "the reason is given: {}",
        changes[1]
    );
    assert!(changes[2].contains("level=INFO") && changes[2].contains("is up again (running)"));

    let follower: Vec<&str> = lines_with(&log, "follower mycluster at unix:")
        .into_iter()
        .filter(|l| l.contains(" is up") || l.contains(" is down"))
        .collect();
    assert_eq!(follower.len(), 2, "down, then up again:\n{log}");
    assert!(
        follower[0].contains("level=WARN")
            && follower[0].contains("is down (stopped)")
            && follower[0].contains("stopped"),
        "{}",
        follower[0]
    );
    assert!(follower[1].contains("level=INFO") && follower[1].contains("is up again (running)"));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config_dir = tmp.path().join("follow");
    let lotus_port = util::free_tcp_port();
    let api = format!("http://127.0.0.1:{lotus_port}");
    let command = exporter(
        tmp.path(),
        &config_dir,
        &["--lotus.api", &api, "--log.format", "json"],
    );
    let (mut exporter, log) = util::spawn_command_logged(command).await;
    exporter.status().await;
    exporter.kill().await;
    let log = log.await.expect("the log");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for line in &lines {
        for key in ["time", "level", "source", "msg"] {
            assert!(line[key].is_string(), "{key} in {line}");
        }
    }
    let start = lines
        .iter()
        .find(|l| {
            l["msg"]
                .as_str()
                .is_some_and(|m| m.starts_with("starting "))
        })
        .expect("a start-up line");
    assert_eq!(start["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(start["level"], "INFO");
}

#[test]
fn check_prints_only_its_report_and_names_a_missing_lotus_path() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let none = tmp.path().join("none");
    let none = none.to_str().expect("utf-8 path");
    let typo = tmp.path().join("lotsu");
    let lotus_port = util::free_tcp_port();
    let output = std::process::Command::new(BIN)
        .args(["check", "--follow.process-discovery=false"])
        .args(["--follow.config-dir", none])
        .args(["--ports.cluster-service-config", none])
        .args(["--ports.kubo-config", none])
        .args(["--lotus.path", typo.to_str().expect("utf-8 path")])
        .env_clear()
        .env("HOME", tmp.path())
        .env(
            "FULLNODE_API_INFO",
            format!("http://127.0.0.1:{lotus_port}"),
        )
        .stdin(Stdio::null())
        .output()
        .expect("run check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "Lotus is down:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("lotus"),
        "the report is on stdout: {stdout}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "only the warning about --lotus.path, no INFO line:\n{stderr}"
    );
    assert!(
        lines[0].contains("level=WARN")
            && lines[0].contains(&format!("--lotus.path {} does not exist", typo.display())),
        "{stderr}"
    );
}
