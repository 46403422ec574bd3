//! Helpers shared by the integration tests: run the exporter in-process, scrape it, read metrics.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use lotus_follow_exporter::cli::{parse_flags, Config};
use lotus_follow_exporter::net::http_client::{self, Endpoint};
use lotus_follow_exporter::server::web::WebConfig;
use lotus_follow_exporter::server::{self, App};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// An exporter served in-process on a loopback port.
pub struct Exporter {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
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
    let home = std::env::temp_dir().join("lfe-test-empty-home");
    let home = home.to_string_lossy().to_string();
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
    }
}

/// A response from the exporter.
pub struct Page {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Exporter {
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
