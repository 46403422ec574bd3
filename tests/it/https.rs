//! Lotus over https: a TLS-terminating proxy (as nginx in front of the daemon) with a private
//! CA made by rcgen, trusted with `--lotus.ca-file`; a wrong CA, a name mismatch and an
//! expired certificate fail the check with a reason that says "certificate", never "stopped".

use crate::fakes::lotus::{FakeLotus, READ_TOKEN};
use crate::fakes::tls_proxy::{Ca, TlsProxy};
use crate::util;

struct Setup {
    lotus: FakeLotus,
    proxy: TlsProxy,
    dir: tempfile::TempDir,
    ca: Ca,
}

async fn setup(names: &[&str], expired: bool) -> Setup {
    let lotus = FakeLotus::start().await;
    let ca = Ca::new("private test CA");
    let proxy = TlsProxy::start(&ca, names, expired, lotus.addr()).await;
    Setup {
        lotus,
        proxy,
        dir: tempfile::tempdir().unwrap(),
        ca,
    }
}

/// The Lotus failure reasons the exporter gives (`/status` errors), and its status states.
async fn failure(exporter: &util::Exporter) -> (String, util::Metrics) {
    let status = exporter.status().await;
    (
        status["lotus"]["errors"].to_string(),
        exporter.metrics().await,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_a_private_ca_is_up_and_sends_the_token() {
    let s = setup(&["localhost"], false).await;
    let ca = s.ca.write(s.dir.path(), "ca.pem");
    let api = format!(
        "{READ_TOKEN}:https://localhost:{}/rpc/v1",
        s.proxy.addr.port()
    );
    let exporter = util::start(&["--lotus.api", &api, "--lotus.ca-file", &ca]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 1.0, "{}", m.text);
    assert_eq!(m.value("lotus_synced"), 1.0);
    assert!(s
        .lotus
        .auth_headers()
        .iter()
        .any(|h| h.as_deref() == Some(&format!("Bearer {READ_TOKEN}")[..])));
    let status = exporter.status().await;
    assert_eq!(
        status["lotus"]["api_address"],
        format!("https://localhost:{}/rpc/v1", s.proxy.addr.port())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wss_and_tls_multiaddrs_speak_https() {
    let s = setup(&["127.0.0.1"], false).await;
    let ca = s.ca.write(s.dir.path(), "ca.pem");
    let port = s.proxy.addr.port();
    for api in [
        format!("wss://127.0.0.1:{port}/rpc/v1"),
        format!("/ip4/127.0.0.1/tcp/{port}/https"),
        format!("/ip4/127.0.0.1/tcp/{port}/tls/http"),
    ] {
        let exporter = util::start(&["--lotus.api", &api, "--lotus.ca-file", &ca]).await;
        let m = exporter.metrics().await;
        assert_eq!(m.value("lotus_up"), 1.0, "{api}: {}", m.text);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_ca_fails_with_unknown_issuer_not_stopped() {
    let s = setup(&["localhost"], false).await;
    let wrong = Ca::new("some other CA").write(s.dir.path(), "wrong.pem");
    let api = format!("https://localhost:{}", s.proxy.addr.port());
    let exporter = util::start(&["--lotus.api", &api, "--lotus.ca-file", &wrong]).await;
    let (errors, m) = failure(&exporter).await;
    assert!(
        errors.contains("certificate") && errors.contains("unknown issuer"),
        "{errors}"
    );
    assert_eq!(m.value("lotus_up"), 0.0);
    assert!(!m.has("lotus_chain_height"));
    assert_eq!(
        m.get("lotus_status{state=\"stopped\"}"),
        Some(0.0),
        "{}",
        m.text
    );
    assert_eq!(s.lotus.total_calls(), 0, "nothing reached Lotus");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_system_roots_do_not_trust_a_private_ca() {
    let s = setup(&["localhost"], false).await;
    let api = format!("https://localhost:{}", s.proxy.addr.port());
    let exporter = util::start(&["--lotus.api", &api]).await;
    let (errors, _) = failure(&exporter).await;
    // Either no system roots at all (said at start and on every scrape), or unknown issuer.
    assert!(
        errors.contains("certificate") || errors.contains("CA"),
        "{errors}"
    );
    assert_eq!(s.lotus.total_calls(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_mismatch_and_an_expired_certificate_are_named() {
    let s = setup(&["lotus.example"], false).await;
    let ca = s.ca.write(s.dir.path(), "ca.pem");
    let api = format!("https://localhost:{}", s.proxy.addr.port());
    let exporter = util::start(&["--lotus.api", &api, "--lotus.ca-file", &ca]).await;
    let (errors, _) = failure(&exporter).await;
    assert!(errors.contains("certificate name mismatch"), "{errors}");

    let s = setup(&["localhost"], true).await;
    let ca = s.ca.write(s.dir.path(), "ca.pem");
    let api = format!("https://localhost:{}", s.proxy.addr.port());
    let exporter = util::start(&["--lotus.api", &api, "--lotus.ca-file", &ca]).await;
    let (errors, _) = failure(&exporter).await;
    assert!(errors.contains("certificate expired"), "{errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handshake_that_never_completes_reads_as_timed_out() {
    // Accepts TCP, never speaks TLS.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let api = format!("https://127.0.0.1:{port}");
    let exporter = util::start(&["--lotus.api", &api, "--collector.timeout", "2s"]).await;
    let status = exporter.status().await;
    let errors = status["lotus"]["errors"].to_string();
    assert!(errors.contains("timed out"), "{errors}");
    holder.abort();
}
