//! Plumbing for the end-to-end test: child daemons killed on drop, free ports, HTTP calls to
//! Prometheus and Alertmanager, polling, and a webhook receiver that records notifications.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use lotus_follow_exporter::net::http_client::{self, Endpoint};
use serde_json::Value;
use tokio::time::Instant;

/// How often a condition is polled.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// Largest answer read from Prometheus or Alertmanager.
const MAX_BODY: usize = 16 << 20;

/// A child process, killed (and reaped) when dropped, so a failing test leaves nothing behind.
/// On a failing test its log is printed.
pub struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Spawn `program` with `args`, stdout and stderr into `<log_dir>/<name>.log`.
    pub fn spawn(name: &str, mut command: Command, log_dir: &Path) -> Daemon {
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("create daemon log");
        let err = out.try_clone().expect("clone log handle");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Daemon {
            name: name.to_string(),
            child,
            log,
        }
    }

    /// Panics (with the log) when the process has already exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited with {status}:\n{}", self.name, self.log_tail());
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- last lines of {} ----\n{}", self.name, self.log_tail());
        }
    }
}

/// The path of `program` on PATH; the test fails (never skips) when it is missing.
pub fn require_program(program: &str) -> PathBuf {
    crate::util::find_on_path(program).unwrap_or_else(|| {
        panic!(
            "`{program}` is not installed: run scripts/test, which installs Debian's \
                 prometheus and prometheus-alertmanager packages"
        )
    })
}

/// An HTTP API on a loopback port.
#[derive(Clone, Copy)]
pub struct Api {
    pub port: u16,
}

impl Api {
    /// GET `path` and parse the JSON answer; `None` while the server does not answer 2xx.
    pub async fn get_json(&self, path: &str) -> Option<Value> {
        let (status, body) = self.call(http::Method::GET, path, Bytes::new()).await?;
        status
            .is_success()
            .then(|| serde_json::from_slice(&body).ok())?
    }

    /// GET `path` and return the body as text when the answer is 2xx.
    pub async fn get_text(&self, path: &str) -> Option<String> {
        let (status, body) = self.call(http::Method::GET, path, Bytes::new()).await?;
        status
            .is_success()
            .then(|| String::from_utf8_lossy(&body).into_owned())
    }

    /// POST a JSON document; true on a 2xx answer.
    pub async fn post_json(&self, path: &str, document: &Value) -> bool {
        let body = Bytes::from(document.to_string());
        self.call(http::Method::POST, path, body)
            .await
            .is_some_and(|(status, _)| status.is_success())
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Bytes,
    ) -> Option<(http::StatusCode, Bytes)> {
        let endpoint = Endpoint::Tcp {
            host: "127.0.0.1".to_string(),
            port: self.port,
        };
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(Full::new(body))
            .expect("request");
        let deadline = Instant::now() + Duration::from_secs(5);
        let response = http_client::fetch(&endpoint, request, MAX_BODY, deadline)
            .await
            .ok()?;
        Some((response.status, response.body))
    }
}

/// Percent-encode a query-string value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Poll `probe` until it returns `Some`, or panic naming `what` after `timeout`.
pub async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// One alert of an Alertmanager webhook notification, with the notification's status.
#[derive(Debug, Clone)]
pub struct Notice {
    /// `firing` or `resolved` (the alert's own status in the notification).
    pub status: String,
    pub labels: Value,
    pub annotations: Value,
}

/// An Alertmanager webhook receiver on a loopback port; records every alert it is sent.
pub struct Webhook {
    pub addr: SocketAddr,
    notices: Arc<Mutex<Vec<Notice>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Webhook {
    pub async fn start() -> Webhook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook");
        let addr = listener.local_addr().expect("webhook addr");
        let notices = Arc::new(Mutex::new(Vec::new()));
        let recorded = notices.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let recorded = recorded.clone();
                let service = service_fn(move |request| record(request, recorded.clone()));
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Webhook {
            addr,
            notices,
            task,
        }
    }

    /// Every alert received so far, in order.
    pub fn notices(&self) -> Vec<Notice> {
        self.notices.lock().expect("webhook lock").clone()
    }

    /// The first received alert named `alertname` with this status.
    pub fn find(&self, alertname: &str, status: &str) -> Option<Notice> {
        self.notices()
            .into_iter()
            .find(|n| n.labels["alertname"] == alertname && n.status == status)
    }
}

async fn record(
    request: Request<Incoming>,
    notices: Arc<Mutex<Vec<Notice>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let alerts = payload["alerts"].as_array().cloned().unwrap_or_default();
    let mut notices = notices.lock().expect("webhook lock");
    for alert in alerts {
        notices.push(Notice {
            status: alert["status"].as_str().unwrap_or("").to_string(),
            labels: alert["labels"].clone(),
            annotations: alert["annotations"].clone(),
        });
    }
    Ok(Response::new(Full::new(Bytes::new())))
}
