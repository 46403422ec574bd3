//! Hardening round 3 (issue 21): each attack class, with the reproducer's example and its
//! siblings. A reload that never fails open, `/probe` that cannot be turned against the host,
//! fair connection slots for Prometheus, trust in the port plan, and the small ones (gzip
//! q-values, the status page's headers, a CA used as a server certificate).

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::fakes::lotus::FakeLotus;
use crate::util;
use lotus_follow_exporter::server::web::WebConfig;

// ---------------------------------------------------------------------------------------------
// Class 1: a reload never fails open.

fn basic_auth_yaml(user: &str, password: &str) -> String {
    let hash = bcrypt::hash(password, 4).unwrap();
    format!("basic_auth_users:\n  {user}: '{hash}'\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn rewriting_the_web_config_in_place_never_lets_a_request_in_without_credentials() {
    let lotus = FakeLotus::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    let text = basic_auth_yaml("prometheus", "secret-pw");
    std::fs::write(&path, &text).unwrap();
    let mut config = util::config(&["--lotus.api", &lotus.api_info()]);
    config.web_config_file = Some(path.clone());
    let exporter = Arc::new(util::start_with_web(config, WebConfig::load(&path).unwrap()).await);
    // Requests race every rewrite, as Prometheus's scrapes and a deploy tool's `cat > web.yml` do.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut spammers = Vec::new();
    for _ in 0..4 {
        let (exporter, stop) = (exporter.clone(), stop.clone());
        spammers.push(tokio::spawn(async move {
            let mut open = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if exporter.get("/healthz").await.status == 200 {
                    open += 1;
                }
            }
            open
        }));
    }
    for round in 0..100 {
        let mut file = std::fs::File::create(&path).unwrap();
        tokio::task::yield_now().await;
        file.write_all(text.as_bytes()).unwrap();
        drop(file);
        let page = exporter.get("/metrics").await;
        assert_eq!(
            page.status, 401,
            "rewrite {round}: the complete file holds users"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for spammer in spammers {
        assert_eq!(
            spammer.await.unwrap(),
            0,
            "a request got in without credentials"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Class 8: gzip q-values, the status page's headers, a CA used as a server certificate.

#[tokio::test(flavor = "multi_thread")]
async fn gzip_is_refused_however_the_client_says_so() {
    let lotus = FakeLotus::start().await;
    let exporter = util::start(&["--lotus.api", &lotus.api_info()]).await;
    for refused in ["GZIP;Q=0", "gzip;q=0, *", "gzip;q=abc", "*;q=0", "identity"] {
        let page = exporter
            .request(
                http::Method::GET,
                "/metrics",
                &[("Accept-Encoding", refused)],
            )
            .await;
        assert_eq!(page.status, 200);
        assert!(page.headers.get("content-encoding").is_none(), "{refused}");
        assert!(page.body.contains("lotus_up"), "{refused}");
    }
    let page = exporter
        .request(
            http::Method::GET,
            "/metrics",
            &[("Accept-Encoding", "gzip;q=0.5")],
        )
        .await;
    assert_eq!(page.headers["content-encoding"], "gzip");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_forbids_scripts_framing_and_sniffing() {
    let lotus = FakeLotus::start().await;
    let exporter = util::start(&["--lotus.api", &lotus.api_info()]).await;
    let status_page = exporter
        .request(http::Method::GET, "/", &[("Accept", "text/html")])
        .await;
    let landing = exporter.get("/").await;
    for page in [&status_page, &landing] {
        assert_eq!(page.status, 200);
        assert!(page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("style-src 'unsafe-inline'"),
            "{csp}"
        );
        assert!(
            !csp.contains("script-src"),
            "no script is ever allowed: {csp}"
        );
        assert_eq!(page.headers["x-content-type-options"], "nosniff");
        assert_eq!(page.headers["x-frame-options"], "DENY");
    }
    assert!(
        status_page.body.contains("<style"),
        "the inline style the policy allows"
    );
    assert_eq!(
        exporter.get("/metrics").await.headers["x-content-type-options"],
        "nosniff"
    );
}

/// A self-signed certificate that says it is a CA (what `openssl req -x509` makes by default).
fn self_signed_ca_as_server(dir: &Path) -> (String, Arc<rustls::ServerConfig>) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let path = dir.join("self-signed.pem");
    std::fs::write(&path, cert.pem()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], der)
        .unwrap();
    (path.to_str().unwrap().to_string(), Arc::new(config))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_self_signed_ca_given_as_its_own_ca_file_is_explained_to_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, server) = self_signed_ca_as_server(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    let serving = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = acceptor.accept(stream).await;
        }
    });
    let api = format!("https://localhost:{port}/rpc/v1");
    let exporter = util::start(&["--lotus.api", &api, "--lotus.ca-file", &ca_file]).await;
    let text = exporter.get("/status").await.body;
    assert!(
        text.contains("basicConstraints CA:FALSE") && text.contains("--lotus.ca-file"),
        "{text}"
    );
    assert!(!text.contains("CaUsedAsEndEntity"), "{text}");
    serving.abort();
}

// ---------------------------------------------------------------------------------------------
// Class 3: a probe module's token goes only where the module says.

/// A listener that counts the connections it accepts (an attacker's, another local user's).
struct Trap {
    accepted: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Trap {
    fn on_tcp(listener: tokio::net::TcpListener) -> Trap {
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(stream);
            }
        });
        Trap { accepted, task }
    }

    fn on_unix(listener: tokio::net::UnixListener) -> Trap {
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(stream);
            }
        });
        Trap { accepted, task }
    }

    fn connections(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn probe_modules(dir: &Path, yaml: &str) -> String {
    std::fs::write(dir.join("fleet-token"), crate::fakes::lotus::READ_TOKEN).unwrap();
    let path = dir.join("probe.yml");
    std::fs::write(&path, yaml).unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_modules_token_never_reaches_another_listener_on_this_host() {
    let lotus = FakeLotus::start().await;
    let dir = tempfile::tempdir().unwrap();
    let modules = probe_modules(
        dir.path(),
        "modules:\n  lotus_read:\n    token_file: fleet-token\n",
    );
    let exporter = util::start(&[
        "--lotus.api",
        &lotus.api_info(),
        "--web.enable-probe",
        "--probe.config.file",
        &modules,
    ])
    .await;
    // The reproducer's two listeners: another loopback address and a unix socket.
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let loopback = Trap::on_tcp(listener);
    let socket = dir.path().join("attacker.sock");
    let unix = Trap::on_unix(tokio::net::UnixListener::bind(&socket).unwrap());
    let targets = [
        format!("http://127.0.0.2:{port}"),
        format!("127.0.0.2:{port}"),
        format!("/ip4/127.0.0.2/tcp/{port}/http"),
        format!("/unix{}", socket.display()),
        format!("http://localhost:{}", lotus.port()),
    ];
    for target in &targets {
        let page = exporter
            .get(&format!("/probe?target={target}&module=lotus_read"))
            .await;
        assert_eq!(page.status, 400, "{target}: {}", page.body);
        assert!(page.body.contains("token_targets"), "{}", page.body);
        assert!(!page.body.contains(crate::fakes::lotus::READ_TOKEN));
    }
    assert_eq!(
        loopback.connections() + unix.connections(),
        0,
        "nothing was sent"
    );
    // The same targets with module `lotus` are probed, and get no token.
    let page = exporter
        .get(&format!("/probe?target=127.0.0.2:{port}&module=lotus"))
        .await;
    assert_eq!(page.status, 200);
    assert!(loopback.connections() > 0);
    // The configured Lotus gets the module's token.
    let page = exporter
        .get(&format!(
            "/probe?target=127.0.0.1:{}&module=lotus_read",
            lotus.port()
        ))
        .await;
    assert_eq!(util::Metrics::parse(&page.body).value("probe_success"), 1.0);
    let bearer = format!("Bearer {}", crate::fakes::lotus::READ_TOKEN);
    assert!(lotus
        .auth_headers()
        .iter()
        .any(|h| h.as_deref() == Some(&bearer[..])));
}

#[tokio::test(flavor = "multi_thread")]
async fn over_https_a_verifying_certificate_is_not_enough_for_the_token() {
    let node = FakeLotus::start().await;
    let ca = crate::fakes::tls_proxy::Ca::new("fleet CA");
    let proxy =
        crate::fakes::tls_proxy::TlsProxy::start(&ca, &["localhost"], false, node.addr()).await;
    let dir = tempfile::tempdir().unwrap();
    ca.write(dir.path(), "ca.pem");
    let port = proxy.addr.port();
    let modules = probe_modules(
        dir.path(),
        &format!(
            "modules:\n  strict:\n    token_file: fleet-token\n    ca_file: ca.pem\n  fleet:\n    token_file: fleet-token\n    ca_file: ca.pem\n    token_targets: ['https://localhost:{port}']\n"
        ),
    );
    let exporter = util::start(&[
        "--lotus.api",
        "/ip4/127.0.0.1/tcp/1/http",
        "--web.enable-probe",
        "--probe.config.file",
        &modules,
    ])
    .await;
    let target = format!("https://localhost:{port}");
    let refused = exporter
        .get(&format!("/probe?target={target}&module=strict"))
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(node.auth_headers().is_empty(), "nothing reached the node");
    let page = exporter
        .get(&format!("/probe?target={target}&module=fleet"))
        .await;
    assert_eq!(
        util::Metrics::parse(&page.body).value("probe_success"),
        1.0,
        "{}",
        page.body
    );
    let bearer = format!("Bearer {}", crate::fakes::lotus::READ_TOKEN);
    assert!(node
        .auth_headers()
        .iter()
        .any(|h| h.as_deref() == Some(&bearer[..])));
}

// ---------------------------------------------------------------------------------------------
// Classes 2 and 5: what /probe may cost, and probes nobody waits for.

/// A Lotus that accepts connections, reads each request and never answers; it counts the
/// connections the exporter holds open to it.
struct HungTarget {
    port: u16,
    open: tokio::sync::watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl HungTarget {
    async fn start() -> HungTarget {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, open) = tokio::sync::watch::channel(0usize);
        let tx = Arc::new(tx);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tx.send_modify(|n| *n += 1);
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    // Read until the exporter closes its end; never answer.
                    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                    tx.send_modify(|n| *n -= 1);
                });
            }
        });
        HungTarget { port, open, task }
    }

    /// Wait until the exporter holds `test` of connections open.
    async fn until(&self, test: impl Fn(usize) -> bool, what: &str) {
        let mut open = self.open.clone();
        let reached = tokio::time::timeout(Duration::from_secs(60), open.wait_for(|n| test(*n)));
        assert!(
            reached.await.is_ok(),
            "not reached: {what} ({} open)",
            *self.open.borrow()
        );
    }
}

impl Drop for HungTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Send one request and keep the connection, without reading the answer.
async fn send(addr: std::net::SocketAddr, path: &str) -> Option<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    Some(stream)
}

/// Send one request and hang up at once, without reading the answer.
async fn fire_and_forget(addr: std::net::SocketAddr, path: String) {
    drop(send(addr, &path).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_probe_whose_client_hung_up_stops_at_once() {
    let target = HungTarget::start().await;
    let exporter = util::start(&[
        "--lotus.api",
        "/ip4/127.0.0.1/tcp/1/http",
        "--web.enable-probe",
        "--collector.timeout",
        "300s",
    ])
    .await;
    let path = format!("/probe?target=127.0.0.1:{}", target.port);
    let client = send(exporter.addr, &path).await;
    target
        .until(|n| n > 0, "the probe reached the target")
        .await;
    drop(client);
    // Its deadline is minutes away: only cancelling the run closes these connections.
    target
        .until(|n| n == 0, "the probe's connections were closed")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_beyond_max_concurrent_are_refused_at_once_and_counted() {
    let (first, second) = (HungTarget::start().await, HungTarget::start().await);
    let exporter = Arc::new(
        util::spawn(&[
            "--lotus.api",
            "/ip4/127.0.0.1/tcp/1/http",
            "--web.enable-probe",
            "--probe.max-concurrent",
            "2",
        ])
        .await,
    );
    let header = [("X-Prometheus-Scrape-Timeout-Seconds", "60")];
    let mut held = Vec::new();
    for target in [&first, &second] {
        let (exporter, path) = (
            exporter.clone(),
            format!("/probe?target=127.0.0.1:{}", target.port),
        );
        held.push(tokio::spawn(async move {
            exporter
                .request(http::Method::GET, &path, &header)
                .await
                .status
        }));
        target.until(|n| n > 0, "the probe runs").await;
    }
    let before = exporter
        .metrics()
        .await
        .value("lotus_follow_exporter_probes_refused_total");
    let lotus = FakeLotus::start().await;
    let page = exporter
        .get(&format!("/probe?target=127.0.0.1:{}", lotus.port()))
        .await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert_eq!(page.headers["retry-after"], "1");
    assert!(
        page.body.contains("--probe.max-concurrent"),
        "{}",
        page.body
    );
    assert_eq!(lotus.total_calls(), 0, "a refused probe calls nothing");
    let after = exporter
        .metrics()
        .await
        .value("lotus_follow_exporter_probes_refused_total");
    assert_eq!(after - before, 1.0);
    for probe in held {
        probe.abort();
    }
    // The slots come back once those clients are gone.
    first.until(|n| n == 0, "the first probe stopped").await;
    second.until(|n| n == 0, "the second probe stopped").await;
    let page = exporter
        .get(&format!("/probe?target=127.0.0.1:{}", lotus.port()))
        .await;
    assert_eq!(util::Metrics::parse(&page.body).value("probe_success"), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_probe_reads_no_more_than_its_memory_budget() {
    let lotus = FakeLotus::start().await;
    // Every call answers 8 MB, chunked (no length to refuse it by): the reproducer's target.
    lotus.set_default_behavior(crate::fakes::lotus::Behavior::HugeBody(8_000_000));
    // A process of its own: the bytes-read counter counts this exporter's reads only.
    let exporter = util::spawn(&[
        "--lotus.api",
        "/ip4/127.0.0.1/tcp/1/http",
        "--web.enable-probe",
    ])
    .await;
    let read = |m: &util::Metrics| m.value("lotus_follow_exporter_backend_body_bytes_read_total");
    let before = read(&exporter.metrics().await);
    let page = exporter
        .get(&format!("/probe?target=127.0.0.1:{}", lotus.port()))
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(util::Metrics::parse(&page.body).value("probe_success"), 0.0);
    let grown = read(&exporter.metrics().await) - before;
    let budget = lotus_follow_exporter::checks::lotus::probe::DEFAULT_MEMORY_BUDGET as f64;
    assert!(
        grown < 2.0 * budget,
        "one probe read {grown} bytes (budget {budget}); {} calls were made",
        lotus.total_calls()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hurried_client_never_makes_a_patient_probe_see_a_healthy_node_down() {
    let lotus = FakeLotus::start().await;
    lotus.set_behavior(
        "Filecoin.Version",
        crate::fakes::lotus::Behavior::Delay(Duration::from_millis(300)),
    );
    let exporter = Arc::new(
        util::start(&[
            "--lotus.api",
            "/ip4/127.0.0.1/tcp/1/http",
            "--web.enable-probe",
            "--probe.max-concurrent",
            "64",
            "--collector.timeout",
            "20s",
        ])
        .await,
    );
    let path = format!("/probe?target=127.0.0.1:{}", lotus.port());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Clients whose deadline (0.51 s - 0.5 s) every answer misses, probing all the time.
    let hurried: Vec<_> = (0..8)
        .map(|_| {
            let (exporter, stop, path) = (exporter.clone(), stop.clone(), path.clone());
            tokio::spawn(async move {
                let header = [("X-Prometheus-Scrape-Timeout-Seconds", "0.51")];
                let mut probes = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    exporter.request(http::Method::GET, &path, &header).await;
                    probes += 1;
                }
                probes
            })
        })
        .collect();
    let header = [("X-Prometheus-Scrape-Timeout-Seconds", "10")];
    let mut down = 0;
    for _ in 0..20 {
        let page = exporter.request(http::Method::GET, &path, &header).await;
        if util::Metrics::parse(&page.body).get("probe_success") != Some(1.0) {
            down += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in hurried {
        assert!(client.await.unwrap() > 0);
    }
    assert_eq!(down, 0, "patient probes read probe_success 0");
}

/// Open descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread")]
async fn fire_and_forget_probes_never_pile_up_descriptors() {
    let target = HungTarget::start().await;
    // The exporter as systemd runs it (LimitNOFILE=4096), a process of its own.
    let mut command = tokio::process::Command::new("prlimit");
    command
        .args([
            "--nofile=4096:4096",
            env!("CARGO_BIN_EXE_lotus-follow-exporter"),
        ])
        .args([
            "--follow.process-discovery=false",
            "--lotus.api",
            "/ip4/127.0.0.1/tcp/1/http",
        ])
        .args(["--web.enable-probe", "--collector.timeout", "300s"])
        .env_clear();
    let exporter = util::spawn_command(command).await;
    let pid = exporter.pid().expect("a child process");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    assert!(limits
        .lines()
        .any(|l| l.starts_with("Max open files") && l.contains("4096")));
    let path = format!("/probe?target=127.0.0.1:{}", target.port);
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, flooding) = (peak.clone(), flooding.clone());
        tokio::spawn(async move {
            while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(open_fds(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        })
    };
    // 1,600 requests sent and hung up on, 32 at a time.
    for _ in 0..50 {
        let batch: Vec<_> = (0..32)
            .map(|_| tokio::spawn(fire_and_forget(exporter.addr, path.clone())))
            .collect();
        for client in batch {
            client.await.unwrap();
        }
    }
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.await.unwrap();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        peak < 1000,
        "the exporter had {peak} descriptors open at the peak"
    );
    // Every probe's client hung up: every run stops, and the exporter still serves.
    target.until(|n| n == 0, "every probe stopped").await;
    assert_eq!(exporter.metrics().await.value("lotus_up"), 0.0);
}

#[test]
fn the_shipped_unit_caps_memory_and_descriptors() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/systemd/lotus-follow-exporter.service"
    ))
    .unwrap();
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} missing"))
            .to_string()
    };
    let megabytes: u64 = value("MemoryMax=").trim_end_matches('M').parse().unwrap();
    assert!((64..=1024).contains(&megabytes), "MemoryMax={megabytes}M");
    assert_eq!(value("LimitNOFILE="), "4096");
}

/// Keeps every line logged in this test binary, with its level.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<(log::Level, String)>>>);

impl log::Log for Captured {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = (record.level(), record.args().to_string());
        self.0.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_log_at_debug_and_no_line_floods_the_log() {
    use lotus_follow_exporter::host::log::{Guarded, BURST};
    let captured = Captured::default();
    log::set_boxed_logger(Box::new(Guarded::new(captured.clone()))).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let lotus = FakeLotus::start().await;
    let exporter = util::start(&[
        "--lotus.api",
        "/ip4/127.0.0.1/tcp/1/http",
        "--web.enable-probe",
    ])
    .await;
    for _ in 0..3 * BURST {
        let page = exporter
            .get(&format!("/probe?target=127.0.0.1:{}", lotus.port()))
            .await;
        assert_eq!(util::Metrics::parse(&page.body).value("probe_success"), 1.0);
    }
    let lines = captured.0.lock().unwrap().clone();
    // Each probe's Lotus check says once that it watches no wallets: at debug.
    let wallets = |level: log::Level| {
        lines
            .iter()
            .filter(|(l, text)| *l == level && text.contains("no wallets to watch"))
            .count()
    };
    assert!(
        wallets(log::Level::Debug) >= 3 * BURST as usize,
        "{lines:?}"
    );
    // At info, only the exporters' own checks (other tests of this binary), cut to a burst.
    assert!(wallets(log::Level::Info) <= BURST as usize, "{lines:?}");
}

// ---------------------------------------------------------------------------------------------
// Class 4: one client cannot lock Prometheus out.

/// One client holding `connections` keep-alive connections, each with `depth` requests for
/// `path` pipelined (a new one written as each answer arrives), reconnecting when closed: the
/// reproducer's hold_busy.py.
struct Hog {
    stop: Arc<std::sync::atomic::AtomicBool>,
    answers: Arc<std::sync::atomic::AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Hog {
    fn start(addr: std::net::SocketAddr, connections: usize, path: &str, depth: usize) -> Hog {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let answers = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let tasks = (0..connections)
            .map(|_| {
                let (stop, answers, request) = (stop.clone(), answers.clone(), request.clone());
                tokio::spawn(async move {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _ = hog_one(addr, &request, depth, &stop, &answers).await;
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        Hog {
            stop,
            answers,
            tasks,
        }
    }

    async fn stop(self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for task in self.tasks {
            task.abort();
        }
        self.answers.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// One connection of a [`Hog`], until it is closed.
async fn hog_one(
    addr: std::net::SocketAddr,
    request: &str,
    depth: usize,
    stop: &std::sync::atomic::AtomicBool,
    answers: &std::sync::atomic::AtomicUsize,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (read, mut write) = stream.into_split();
    let mut read = tokio::io::BufReader::new(read);
    write.write_all(request.repeat(depth).as_bytes()).await?;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if read.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        read.read_exact(&mut body).await?;
        answers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        write.write_all(request.as_bytes()).await?;
    }
    Ok(())
}

/// A scrape on a fresh connection, as Prometheus makes it; `None` when it is not answered
/// within a deadline far beyond Prometheus's 10 s (what the test means by "locked out").
async fn fresh_scrape(exporter: &util::Exporter) -> Option<util::Page> {
    let header = [("X-Prometheus-Scrape-Timeout-Seconds", "10")];
    let scrape = exporter.request(http::Method::GET, "/metrics", &header);
    tokio::time::timeout(Duration::from_secs(60), scrape)
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scrape_gets_through_while_one_client_holds_every_slot_with_pipelined_probes() {
    let target = HungTarget::start().await;
    let lotus = FakeLotus::start().await;
    let exporter = util::start(&[
        "--lotus.api",
        &lotus.api_info(),
        "--web.enable-probe",
        "--web.max-connections",
        "32",
    ])
    .await;
    // More connections than slots, each with probes of a target that never answers queued.
    let path = format!("/probe?target=127.0.0.1:{}", target.port);
    let hog = Hog::start(exporter.addr, 40, &path, 3);
    target.until(|n| n > 0, "the probes run").await;
    for _ in 0..3 {
        let page = fresh_scrape(&exporter)
            .await
            .expect("the scrape is answered");
        assert_eq!(page.status, 200);
        assert_eq!(util::Metrics::parse(&page.body).value("lotus_up"), 1.0);
    }
    assert!(hog.stop().await > 0, "the client was served too");
    let m = exporter.metrics().await;
    assert!(m.value("lotus_follow_exporter_connections_evicted_total") > 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scrape_gets_through_while_one_client_holds_every_slot_with_pipelined_scrapes() {
    // A follower API that never answers: every collection lasts its deadline.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api-socket");
    let hung = tokio::net::UnixListener::bind(&socket).unwrap();
    let holding = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = hung.accept().await {
            held.push(stream);
        }
    });
    let lotus = FakeLotus::start().await;
    let follow_api = format!("hung=/unix/{}", socket.display());
    let exporter = util::start(&[
        "--lotus.api",
        &lotus.api_info(),
        "--follow.api",
        &follow_api,
        "--collector.timeout",
        "2s",
        "--web.max-connections",
        "32",
    ])
    .await;
    let hog = Hog::start(exporter.addr, 40, "/metrics", 3);
    for _ in 0..3 {
        let page = fresh_scrape(&exporter)
            .await
            .expect("the scrape is answered");
        assert_eq!(page.status, 200);
        let m = util::Metrics::parse(&page.body);
        assert_eq!(m.value("lotus_up"), 1.0);
    }
    hog.stop().await;
    holding.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_pipelined_beyond_the_bound_are_refused_and_the_connection_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let lotus = FakeLotus::start().await;
    let exporter = util::start(&["--lotus.api", &lotus.api_info()]).await;
    let mut stream = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
    let request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    stream
        .write_all(request.repeat(20).as_bytes())
        .await
        .unwrap();
    let mut answers = String::new();
    stream.read_to_string(&mut answers).await.unwrap();
    let ok = answers.matches("HTTP/1.1 200").count();
    let refused = answers.matches("HTTP/1.1 503").count();
    assert!((1..20).contains(&ok), "{ok} answered");
    assert_eq!(
        refused, 1,
        "one refusal, then the connection is closed:\n{answers}"
    );
    assert!(answers.contains("connection: close"), "{answers}");
    // A client asking one thing at a time is never refused.
    for _ in 0..30 {
        assert_eq!(exporter.get("/healthz").await.status, 200);
    }
}

// ---------------------------------------------------------------------------------------------
// Class 6: another user's fake follower cannot raise a port conflict.

/// A process started by a test, stopped (by its pid) when the test ends, however it ends.
struct Started(std::process::Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process of user `nobody` calling itself `ipfs-cluster-follow fake run`, whose environment
/// says its API listens on `port` (it listens nowhere). `None` when this test cannot act as
/// another user (not root, or no setpriv).
fn fake_follower_of_nobody(port: u16) -> Option<Started> {
    use std::process::{Command, Stdio};
    // SAFETY: geteuid only reads the process's credentials.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("not root or no setpriv: cannot start another user's process; skipped");
        return None;
    }
    let api = format!("CLUSTER_RESTAPI_HTTPLISTENMULTIADDRESS=/ip4/127.0.0.1/tcp/{port}");
    let child = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "env",
            "-i",
            &api,
        ])
        .args([
            "bash",
            "-c",
            "exec -a ipfs-cluster-follow python3 -c 'import time; time.sleep(60)' fake run",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(Started(child))
}

/// Wait until the process table shows `pid` running as `ipfs-cluster-follow`.
async fn until_named(pid: u32) {
    let path = format!("/proc/{pid}/cmdline");
    let named = async {
        while !std::fs::read(&path).is_ok_and(|c| c.starts_with(b"ipfs-cluster-follow\0")) {
            tokio::task::yield_now().await;
        }
    };
    let ready = tokio::time::timeout(Duration::from_secs(30), named).await;
    assert!(ready.is_ok(), "the fake follower never ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_users_fake_follower_is_shown_as_theirs_never_as_a_conflict() {
    // The Lotus API's port (nothing listens: the listener of an in-process fake would be this
    // test's process, which is the exporter's own).
    let lotus_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(fake) = fake_follower_of_nobody(lotus_port) else {
        return;
    };
    until_named(fake.0.id()).await;
    let dir = tempfile::tempdir().unwrap();
    let none = dir.path().join("none");
    let lotus_api = format!("/ip4/127.0.0.1/tcp/{lotus_port}/http");
    let args = [
        "--lotus.api",
        lotus_api.as_str(),
        "--lotus.path",
        none.to_str().unwrap(),
        "--follow.config-dir",
        dir.path().to_str().unwrap(),
        "--ports.cluster-service-config",
        none.to_str().unwrap(),
        "--ports.kubo-config",
        none.to_str().unwrap(),
    ];
    // `ports`: exits 0, the claim shown as nobody's.
    let ports = tokio::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"))
        .arg("ports")
        .args(args)
        .env("HOME", dir.path())
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&ports.stdout);
    assert!(ports.status.success(), "ports exits 0:\n{table}");
    assert!(
        table.contains("ipfs-cluster-follow:nobody/fake (untrusted: user nobody)"),
        "{table}"
    );
    assert!(table.contains("not a conflict"), "{table}");
    // /metrics: port_conflict 0, and whose claim collides.
    let mut argv = vec![
        "lotus-follow-exporter",
        "--web.listen-address",
        "127.0.0.1:0",
    ];
    argv.extend(args);
    let flags = lotus_follow_exporter::cli::parse_flags(argv).unwrap();
    let home = dir.path().to_str().unwrap().to_string();
    let config = lotus_follow_exporter::cli::Config::resolve(flags, &|name| {
        (name == "HOME").then(|| home.clone())
    })
    .unwrap();
    let exporter = util::start_config(config).await;
    let m = exporter.metrics().await;
    let series = format!(
        "port_conflict{{port=\"{lotus_port}\",protocol=\"tcp\",untrusted_claimant=\"nobody\"}}"
    );
    assert_eq!(m.value(&series), 0.0, "{}", m.text);
    assert!(
        m.text.contains("service=\"ipfs-cluster-follow:nobody/fake\",role=\"api\",address=\"127.0.0.1\",untrusted_user=\"nobody\"} 1"),
        "{}",
        m.text
    );
    drop(fake);
}

// ---------------------------------------------------------------------------------------------
// Class 7: the owner lookup is bounded per scrape.

/// A process holding `files` open descriptors and one listening socket, until dropped.
fn many_descriptors(files: usize) -> Started {
    use std::io::BufRead;
    let script = format!(
        "import resource, socket, sys\n\
         soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n\
         resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))\n\
         held = [open('/dev/null') for _ in range(min({files}, hard - 16))]\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
         print(len(held), flush=True)\n\
         sys.stdin.read()\n"
    );
    let mut child = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let held: usize = line
        .trim()
        .parse()
        .expect("the helper says how many it holds");
    assert!(held > 2 * 4096, "only {held} descriptors could be opened");
    Started(child)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_with_many_descriptors_never_makes_a_scrape_walk_them_all() {
    let _holder = many_descriptors(20_000);
    let lotus = FakeLotus::start().await;
    let exporter = util::spawn(&["--lotus.api", &lotus.api_info()]).await;
    let cut = |m: &util::Metrics| m.value("lotus_follow_exporter_socket_owner_lookups_cut_total");
    exporter.metrics().await;
    let m = exporter.metrics().await;
    assert_eq!(m.check_success("ports_listeners"), Some(1.0), "{}", m.text);
    // Its 20,000 links take more than one scrape's budget: at least one search was cut.
    assert!(cut(&m) > 0.0, "{}", cut(&m));
}
