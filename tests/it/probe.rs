//! `/probe` for a fleet: two fake Lotus nodes in different states probed through one exporter,
//! no token with module `lotus`, a module's token, 400s, off by default, and coalescing.

use std::time::Duration;

use crate::fakes::lotus::{Behavior, FakeLotus, LotusState, READ_TOKEN};
use crate::util;

fn probe_path(target: &str, module: Option<&str>) -> String {
    let mut path = format!("/probe?target={target}");
    if let Some(module) = module {
        path.push_str(&format!("&module={module}"));
    }
    path
}

/// The node's address as an operator writes it in file_sd (`host:port`).
fn host_port(lotus: &FakeLotus) -> String {
    format!("127.0.0.1:{}", lotus.port())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_in_different_states_each_report_their_own_figures() {
    let synced = FakeLotus::start().await;
    let lagging = FakeLotus::start_with(LotusState::lagging(100)).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), READ_TOKEN).unwrap();
    let modules = dir.path().join("probe.yml");
    // The token may go to the lagging node (and the configured Lotus), nowhere else.
    std::fs::write(
        &modules,
        format!(
            "modules:\n  lotus_read:\n    token_file: token\n    timeout: 20s\n    token_targets: ['http://127.0.0.1:{}']\n",
            lagging.port()
        ),
    )
    .unwrap();
    // The exporter's own Lotus is the synced node, with a token: probes must not reuse it.
    let own = synced.api_info_with_token(READ_TOKEN);
    let exporter = util::start(&[
        "--lotus.api",
        &own,
        "--web.enable-probe",
        "--probe.config.file",
        modules.to_str().unwrap(),
    ])
    .await;

    let page = exporter
        .get(&probe_path(&host_port(&synced), Some("lotus")))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let m = util::Metrics::parse(&page.body);
    assert_eq!(m.value("probe_success"), 1.0);
    assert_eq!(m.value("lotus_synced"), 1.0);
    assert_eq!(
        m.value("lotus_chain_height"),
        synced.state().head_height as f64
    );
    for local in [
        "cluster_follow_",
        "port_",
        "lotus_daemon_running",
        "lotus_follow_exporter_build_info",
    ] {
        assert!(
            !page.body.contains(local),
            "host-local {local} in a probe:\n{}",
            page.body
        );
    }

    let url = format!("http://127.0.0.1:{}/rpc/v1", lagging.port());
    let page = exporter.get(&probe_path(&url, None)).await;
    let m = util::Metrics::parse(&page.body);
    assert_eq!(m.value("probe_success"), 1.0);
    assert_eq!(m.value("lotus_synced"), 0.0, "{}", page.body);
    assert!(m.value("lotus_chain_sync_lag_epochs") >= 100.0);
    assert_eq!(
        m.value("lotus_chain_height"),
        lagging.state().head_height as f64
    );
    assert!(
        lagging.auth_headers().iter().all(Option::is_none),
        "module lotus sends no token"
    );

    let page = exporter
        .get(&probe_path(&host_port(&lagging), Some("lotus_read")))
        .await;
    assert_eq!(util::Metrics::parse(&page.body).value("probe_success"), 1.0);
    let bearer = format!("Bearer {READ_TOKEN}");
    assert!(lagging
        .auth_headers()
        .iter()
        .any(|h| h.as_deref() == Some(bearer.as_str())));

    // A stopped node: the probe answers, with probe_success 0 and no figures.
    lagging.stop().await;
    let page = exporter.get(&probe_path(&host_port(&lagging), None)).await;
    let m = util::Metrics::parse(&page.body);
    assert_eq!(m.value("probe_success"), 0.0);
    assert!(!m.has("lotus_chain_height"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_400_and_probe_is_off_by_default() {
    let lotus = FakeLotus::start().await;
    let exporter = util::start(&["--lotus.api", &lotus.api_info(), "--web.enable-probe"]).await;
    let page = exporter.get("/probe").await;
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("target parameter is missing"),
        "{}",
        page.body
    );
    let page = exporter
        .get(&probe_path(&host_port(&lotus), Some("http_2xx")))
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("unknown module \"http_2xx\""),
        "{}",
        page.body
    );
    let page = exporter.get(&probe_path("ftp://x", None)).await;
    assert_eq!(page.status, 400, "{}", page.body);

    let off = util::start(&["--lotus.api", &lotus.api_info()]).await;
    let page = off.get(&probe_path(&host_port(&lotus), None)).await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("--web.enable-probe"));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_probes_of_one_target_share_one_run() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior("Filecoin.Version", Behavior::Hang);
    let exporter = std::sync::Arc::new(
        util::start(&[
            "--lotus.api",
            "/ip4/127.0.0.1/tcp/1/http",
            "--web.enable-probe",
            "--collector.timeout",
            "30s",
        ])
        .await,
    );
    let path = probe_path(&host_port(&lotus), None);
    let header = [("X-Prometheus-Scrape-Timeout-Seconds", "6")];
    let first = {
        let (exporter, path) = (exporter.clone(), path.clone());
        tokio::spawn(async move { exporter.request(http::Method::GET, &path, &header).await })
    };
    // Wait for the first probe's call to reach the node (it hangs until the probe's deadline).
    while lotus.calls("Filecoin.Version") == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let others: Vec<_> = (0..4)
        .map(|_| {
            let (exporter, path) = (exporter.clone(), path.clone());
            tokio::spawn(async move { exporter.request(http::Method::GET, &path, &header).await })
        })
        .collect();
    let mut pages = vec![first.await.unwrap()];
    for other in others {
        pages.push(other.await.unwrap());
    }
    for page in &pages {
        let m = util::Metrics::parse(&page.body);
        assert_eq!(m.value("probe_success"), 0.0);
    }
    assert_eq!(lotus.calls("Filecoin.Version"), 1, "five probes, one run");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_probed_targets_strings_are_bounded_like_a_scrapes() {
    let lotus = FakeLotus::start().await;
    // 100 KiB: within what one call of a probe may read (its memory budget's share).
    lotus.state_mut(|s| s.version = format!("1.28.0{}", "v".repeat(100 << 10)));
    let exporter = util::start(&["--lotus.api", &lotus.api_info(), "--web.enable-probe"]).await;
    let page = exporter.get(&probe_path(&host_port(&lotus), None)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains(lotus_follow_exporter::contract::limits::CUT_MARK),
        "the version is cut and marked:\n{}",
        &page.body[..page.body.len().min(2000)]
    );
    assert!(
        page.body.len() < 64 * 1024,
        "a probe page with a 100 KiB version is {} bytes",
        page.body.len()
    );
}
