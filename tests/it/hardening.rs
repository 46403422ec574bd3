//! Backend strings reach labels, `/status` and `check` bounded, and secrets never come back:
//! the Lotus token (whole or any part) and the follow credentials, in errors and in answers.

use base64::Engine;
use lotus_follow_exporter::contract::limits::{CUT_MARK, MAX_LABEL_BYTES};

use crate::fakes::cluster::{self, ClusterState};
use crate::fakes::lotus::{Behavior, FakeLotus, READ_TOKEN};
use crate::util;

/// The token and each of its dot-separated parts (all 8 characters or more).
fn token_pieces() -> Vec<&'static str> {
    let mut pieces = vec![READ_TOKEN];
    pieces.extend(READ_TOKEN.split('.'));
    assert!(pieces.iter().all(|p| p.len() >= 8));
    pieces
}

fn assert_no_token(what: &str, text: &str) {
    for piece in token_pieces() {
        assert!(!text.contains(piece), "{what} carries {piece:?}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seven_mib_version_string_keeps_every_page_small() {
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| s.version = format!("1.28.0{}", "v".repeat(7 << 20)));
    let exporter = util::start(&[
        "--lotus.api",
        &lotus.api_info(),
        "--lotus.max-body-bytes",
        "16777216",
    ])
    .await;
    let page = exporter.get("/metrics").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.len() < 256 * 1024,
        "/metrics is {} bytes",
        page.body.len()
    );
    let line = page
        .body
        .lines()
        .find(|l| l.starts_with("lotus_node_info{"))
        .expect("the version was read");
    assert!(line.contains(CUT_MARK), "{line}");
    let status = exporter.status().await;
    let version = status["lotus"]["version"].as_str().unwrap();
    assert!(version.len() <= MAX_LABEL_BYTES && version.ends_with(CUT_MARK));
    assert!(exporter.get("/status").await.body.len() < 256 * 1024);
}

#[tokio::test(flavor = "multi_thread")]
async fn control_characters_never_reach_a_label() {
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| s.version = "1.28.0\n# HELP fake\u{7}x".to_string());
    let exporter = util::start(&["--lotus.api", &lotus.api_info()]).await;
    let m = exporter.metrics().await;
    let line = m
        .text
        .lines()
        .find(|l| l.starts_with("lotus_node_info{"))
        .expect("the version was read");
    assert!(
        line.contains("1.28.0\u{fffd}# HELP fake\u{fffd}x"),
        "{line}"
    );
    util::promtool_check_metrics(&m.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_is_scrubbed_from_error_and_success_bodies_before_any_cut() {
    let lotus = FakeLotus::start().await;
    // The token in a label: the network label is the chain's name (StateNetworkName, read once
    // per session), the build type in Version only while that is unknown.
    lotus.state_mut(|s| s.network_name = READ_TOKEN.to_string());
    let exporter = util::start(&["--lotus.api", &lotus.api_info_with_token(READ_TOKEN)]).await;
    // A proxy echoing the request's headers in an error page, the token where a 120-byte
    // snippet would cut it.
    let echo = format!("{}Authorization: Bearer {READ_TOKEN}", "x".repeat(90));
    lotus.set_behavior("Filecoin.Version", Behavior::HttpStatus(500, echo));
    // A node echoing the token inside a successful answer.
    lotus.set_behavior(
        "Filecoin.ChainHead",
        Behavior::RpcError {
            code: 1,
            message: format!("bad tipset for {READ_TOKEN}"),
        },
    );
    let status = exporter.get("/status").await;
    assert!(status.body.contains("HTTP 500"), "{}", status.body);
    assert!(status.body.contains("<redacted>"), "{}", status.body);
    assert_no_token("/status", &status.body);
    assert_no_token("/metrics", &exporter.get("/metrics").await.body);

    lotus.clear_behaviors();
    lotus.state_mut(|s| s.version = format!("1.28.0+{READ_TOKEN}"));
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 1.0);
    assert!(m.text.contains("\"<redacted>\""), "{}", m.text);
    assert_no_token("/metrics label", &m.text);
    assert_no_token("/status", &exporter.get("/status").await.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_and_trace_logs_never_carry_the_token() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior(
        "Filecoin.Version",
        Behavior::HttpStatus(502, format!("upstream said: Bearer {READ_TOKEN}")),
    );
    lotus.state_mut(|s| s.peer_id = format!("12D3{READ_TOKEN}"));
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, READ_TOKEN).unwrap();
    let api = lotus.api_info();
    for json in [false, true] {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"));
        command
            .env_clear()
            .env("HOME", dir.path())
            .args(["--log.level", "trace", "--follow.process-discovery=false"])
            .args(["--lotus.api", &api])
            .args(["--lotus.token-file", token_file.to_str().unwrap()])
            .arg("check");
        if json {
            command.arg("--json");
        }
        let output = command.output().await.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stdout.contains("HTTP 502"), "{stdout}");
        assert!(stdout.contains("<redacted>"), "{stdout}");
        assert_no_token("check output", &stdout);
        assert_no_token("trace logs", &stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_credentials_are_scrubbed_in_every_form() {
    let credentials = "prom:correct-horse-battery";
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api-socket");
    let auth_file = dir.path().join("auth");
    std::fs::write(&auth_file, credentials).unwrap();
    let _follower = cluster::serve_unix(
        &socket,
        ClusterState {
            basic_auth: Some(credentials.to_string()),
            peername: credentials.to_string(),
            version: format!("1.1.6 Basic {encoded}"),
            ipfs_error: format!("echo {credentials}"),
            stream_error: Some(format!("Authorization: Basic {encoded}")),
            ..ClusterState::default()
        },
    )
    .await;
    let lotus = FakeLotus::start().await;
    let exporter = util::start(&[
        "--lotus.api",
        &lotus.api_info(),
        "--follow.api",
        &format!("scrub=/unix/{}", socket.display()),
        "--follow.basic-auth-file",
        auth_file.to_str().unwrap(),
    ])
    .await;
    let m = exporter.metrics().await;
    assert_eq!(
        m.value("cluster_follow_api_reachable{cluster_name=\"scrub\"}"),
        1.0,
        "{}",
        m.text
    );
    let status = exporter.get("/status").await.body;
    for (what, text) in [("/metrics", &m.text), ("/status", &status)] {
        for secret in [credentials, "correct-horse-battery", encoded.as_str()] {
            assert!(!text.contains(secret), "{what} carries {secret:?}:\n{text}");
        }
    }
    assert!(m.text.contains("<redacted>"), "{}", m.text);
}
