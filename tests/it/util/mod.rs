//! Helpers shared by the integration tests: run the exporter in-process or as a child process,
//! scrape it, read metrics, hand out free ports.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use lotus_follow_exporter::cli::{parse_flags, Config};
use lotus_follow_exporter::net::http_client::{self, Endpoint};
use lotus_follow_exporter::server::web::WebConfig;
use lotus_follow_exporter::server::{self, App};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// An exporter on a loopback port: served in-process ([`start`]), or the built binary run as a
/// child process ([`spawn`]), killed when dropped.
pub struct Exporter {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    /// Spawned with kill_on_drop: dropping it kills the process.
    child: Option<tokio::process::Child>,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The folder given as HOME (it is never created), so nothing of this machine's own setup leaks in.
fn empty_home() -> PathBuf {
    std::env::temp_dir().join("lfe-test-empty-home")
}

/// Resolve a config from exporter flags, with an empty HOME so nothing of this machine leaks in.
pub fn config(args: &[&str]) -> Config {
    // Followers come only from the test's own flags and folders, never from this host's processes.
    let mut argv = vec![
        "lotus-follow-exporter",
        "--web.listen-address",
        "127.0.0.1:0",
        "--follow.process-discovery=false",
    ];
    argv.extend_from_slice(args);
    let flags = parse_flags(argv).expect("flags parse");
    let home = empty_home().to_string_lossy().to_string();
    Config::resolve(flags, &|name| (name == "HOME").then(|| home.clone())).expect("config resolves")
}

/// Start the exporter with these flags.
pub async fn start(args: &[&str]) -> Exporter {
    start_config(config(args)).await
}

pub async fn start_config(config: Config) -> Exporter {
    start_with_web(config, WebConfig::default()).await
}

/// Start the exporter with a web configuration (TLS, basic auth).
pub async fn start_with_web(config: Config, web: WebConfig) -> Exporter {
    let listener = server::bind(&config.listen_addresses[0])
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let app = Arc::new(App::new(&config, web));
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(server::serve(vec![listener], app, async {
        let _ = rx.await;
    }));
    Exporter {
        addr,
        stop: Some(tx),
        child: None,
    }
}

/// Run the exporter binary with these flags, as [`start`] configures it (loopback port, no
/// process discovery, the same empty HOME and no other environment), in its own process.
///
/// For a test that reads what the library keeps per process: its counters (body bytes read,
/// connections evicted), its file descriptors, its caps on process scans and file reads.
/// In-process, every other test running beside it in this binary would add to them.
pub async fn spawn(args: &[&str]) -> Exporter {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"));
    command
        .arg("--follow.process-discovery=false")
        .args(args)
        .env_clear()
        .env("HOME", empty_home());
    spawn_command(command).await
}

/// Run `command` (the exporter binary, with its flags and environment) on a free loopback port
/// (`--web.listen-address 127.0.0.1:0` is added) and return once it says it listens.
pub async fn spawn_command(command: tokio::process::Command) -> Exporter {
    spawn_command_logged(command).await.0
}

/// [`spawn_command`], keeping the exporter's log: the task resolves to everything it wrote on
/// stderr once the process has ended ([`Exporter::kill`]).
pub async fn spawn_command_logged(
    mut command: tokio::process::Command,
) -> (Exporter, tokio::task::JoinHandle<String>) {
    command
        .args(["--web.listen-address", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("start the exporter binary");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    let port = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("the exporter did not listen within 30 s:\n{seen}"))
            .expect("read the exporter's log")
            .unwrap_or_else(|| panic!("the exporter exited before listening:\n{seen}"));
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            break digits.parse::<u16>().expect("port in the listening line");
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    let log = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    let exporter = Exporter {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        stop: None,
        child: Some(child),
    };
    (exporter, log)
}

/// A response from the exporter.
pub struct Page {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Exporter {
    /// Kill the child process ([`spawn`]) and wait until it has gone, so that its log is
    /// complete.
    pub async fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill().await;
        }
    }

    /// The child process's pid ([`spawn`]); `None` in-process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|child| child.id())
    }

    pub async fn get(&self, path: &str) -> Page {
        self.request(http::Method::GET, path, &[]).await
    }

    pub async fn request(
        &self,
        method: http::Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Page {
        let endpoint = Endpoint::Tcp {
            host: self.addr.ip().to_string(),
            port: self.addr.port(),
        };
        let mut builder = http::Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(Bytes::new())).expect("request");
        let deadline = Instant::now() + Duration::from_secs(30);
        let response = http_client::fetch(&endpoint, request, 64 << 20, deadline)
            .await
            .expect("exporter answers");
        Page {
            status: response.status.as_u16(),
            headers: response.headers,
            body: String::from_utf8_lossy(&response.body).into_owned(),
        }
    }

    pub async fn metrics(&self) -> Metrics {
        let page = self.get("/metrics").await;
        assert_eq!(page.status, 200, "{}", page.body);
        Metrics::parse(&page.body)
    }

    pub async fn status(&self) -> serde_json::Value {
        let page = self.get("/status").await;
        assert_eq!(page.status, 200, "{}", page.body);
        serde_json::from_str(&page.body).expect("status is JSON")
    }
}

/// Samples of a Prometheus text exposition, keyed by `name{labels}` exactly as printed.
pub struct Metrics {
    pub text: String,
    samples: HashMap<String, f64>,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                Some((series.to_string(), value.parse().ok()?))
            })
            .collect();
        Metrics {
            text: text.to_string(),
            samples,
        }
    }

    /// The value of a series, e.g. `get("lotus_up")` or `get("lotus_sync_workers{stage=\"error\"}")`.
    pub fn get(&self, series: &str) -> Option<f64> {
        self.samples.get(series).copied()
    }

    /// The value of a series that must be there.
    pub fn value(&self, series: &str) -> f64 {
        self.get(series)
            .unwrap_or_else(|| panic!("series {series} missing from:\n{}", self.text))
    }

    /// True when any series of this metric name is present.
    pub fn has(&self, name: &str) -> bool {
        self.samples
            .keys()
            .any(|k| k == name || k.starts_with(&format!("{name}{{")))
    }

    /// `lotus_follow_exporter_check_success` for a host-level check.
    pub fn check_success(&self, check: &str) -> Option<f64> {
        self.get(&format!(
            "lotus_follow_exporter_check_success{{check=\"{check}\",cluster_name=\"\"}}"
        ))
    }
}

/// Run `promtool check metrics` on a scrape; panics with promtool's complaints.
pub fn promtool_check_metrics(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/test installs Debian's prometheus package)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let output = child.wait_with_output().expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Ports handed out in this test process, never handed out twice: every test module shares the
/// process, and the kernel may give a port just closed to the next bind of port 0.
fn handed_out() -> &'static Mutex<HashSet<(bool, u16)>> {
    static PORTS: OnceLock<Mutex<HashSet<(bool, u16)>>> = OnceLock::new();
    PORTS.get_or_init(Default::default)
}

/// A loopback TCP port that was free a moment ago, never handed out before in this process.
pub fn free_tcp_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind a free TCP port")
            .port();
        if handed_out().lock().unwrap().insert((true, port)) {
            return port;
        }
    }
}

/// A loopback UDP port that was free a moment ago, never handed out before in this process.
pub fn free_udp_port() -> u16 {
    loop {
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("bind a free UDP port")
            .port();
        if handed_out().lock().unwrap().insert((false, port)) {
            return port;
        }
    }
}

/// A follower folder holding only its `service.json`: configured, stopped cleanly (Go removes
/// the socket on close).
pub fn stopped_follower(config_dir: &Path, name: &str) {
    std::fs::create_dir_all(config_dir.join(name)).expect("follower folder");
    std::fs::write(
        config_dir.join(name).join("service.json"),
        r#"{"source": "http://127.0.0.1:8080/ipns/websites.example.org"}"#,
    )
    .expect("service.json");
}

/// The path of `program` on PATH, if it is there.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
