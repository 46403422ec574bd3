//! The load itself (shared by `tools/loadgen` and `tools/bench`): sequential scrapes over one keep-alive connection, or waves of simultaneous scrapes.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// What a run of requests saw: counts, the first few errors and latency figures in milliseconds
/// (`null` in JSON when no request succeeded).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Requests sent, failed ones included.
    pub requests: usize,
    /// Non-200 answers and transport failures.
    pub errors: usize,
    /// Up to three distinct errors, in order.
    pub first_errors: Vec<String>,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// `seq`: wall time of the whole run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_s: Option<f64>,
    /// `burst`: wall time of each wave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave_ms: Option<Vec<f64>>,
}

impl Summary {
    /// Nothing could be sent at all (the first connection failed).
    fn unreachable(error: String) -> Summary {
        Summary {
            requests: 0,
            errors: 1,
            first_errors: vec![error],
            ..summary(Vec::new(), Vec::new())
        }
    }
}

type Sender = SendRequest<Empty<Bytes>>;

async fn connect(url: &Uri) -> Result<Sender, String> {
    let host = url.host().ok_or("the URL has no host")?;
    let port = url.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connect {host}:{port}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One GET, body read to the end; the latency, or why it failed.
async fn get(sender: &mut Sender, url: &Uri) -> Result<Duration, String> {
    let path = url.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let authority = url.authority().map(|a| a.as_str()).unwrap_or("localhost");
    let request = Request::get(path)
        .header(hyper::header::HOST, authority)
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    sender.ready().await.map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    if status != hyper::StatusCode::OK {
        return Err(format!("HTTP {status}"));
    }
    Ok(elapsed)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn summary(mut latencies_ms: Vec<f64>, errors: Vec<String>) -> Summary {
    latencies_ms.sort_by(f64::total_cmp);
    let mean = latencies_ms.iter().sum::<f64>() / latencies_ms.len().max(1) as f64;
    let mut first_errors = errors.clone();
    first_errors.dedup();
    first_errors.truncate(3);
    Summary {
        requests: latencies_ms.len() + errors.len(),
        errors: errors.len(),
        first_errors,
        min_ms: latencies_ms.first().copied().unwrap_or(f64::NAN),
        p50_ms: percentile(&latencies_ms, 0.50),
        p99_ms: percentile(&latencies_ms, 0.99),
        max_ms: latencies_ms.last().copied().unwrap_or(f64::NAN),
        mean_ms: mean,
        total_s: None,
        wave_ms: None,
    }
}

/// Up to `count` GETs one after another over one connection, stopping after `max_seconds` once
/// at least `min_count` were sent (a broken connection is replaced).
pub async fn sequential(url: Uri, count: usize, max_seconds: f64, min_count: usize) -> Summary {
    let mut sender = match connect(&url).await {
        Ok(sender) => sender,
        Err(e) => return Summary::unreachable(e),
    };
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for done in 0..count {
        if done >= min_count && started.elapsed().as_secs_f64() >= max_seconds {
            break;
        }
        match get(&mut sender, &url).await {
            Ok(latency) => latencies.push(latency.as_secs_f64() * 1e3),
            Err(e) => {
                errors.push(e);
                match connect(&url).await {
                    Ok(fresh) => sender = fresh,
                    Err(e) => {
                        errors.push(e);
                        break;
                    }
                }
            }
        }
    }
    let mut out = summary(latencies, errors);
    out.total_s = Some(started.elapsed().as_secs_f64());
    out
}

/// `waves` times: `concurrency` GETs at once over pre-opened connections, every answer awaited,
/// then `pause` (so a wave never joins the previous one's collection).
pub async fn burst(url: Uri, concurrency: usize, waves: usize, pause: Duration) -> Summary {
    let mut senders = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        match connect(&url).await {
            Ok(sender) => senders.push(sender),
            Err(e) => return Summary::unreachable(e),
        }
    }
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    let mut wave_ms = Vec::new();
    for _ in 0..waves {
        let (go, start) = watch::channel(false);
        let mut tasks = Vec::with_capacity(concurrency);
        for mut sender in senders.drain(..) {
            let url = url.clone();
            let mut start = start.clone();
            tasks.push(tokio::spawn(async move {
                let _ = start.wait_for(|go| *go).await;
                let result = get(&mut sender, &url).await;
                (sender, result)
            }));
        }
        // Let every task reach the starting line before the clock starts.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        let _ = go.send(true);
        for task in tasks {
            match task.await {
                Ok((sender, result)) => {
                    match result {
                        Ok(latency) => latencies.push(latency.as_secs_f64() * 1e3),
                        Err(e) => errors.push(e),
                    }
                    senders.push(sender);
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        wave_ms.push(started.elapsed().as_secs_f64() * 1e3);
        // Replace connections that broke, so the next wave has all of them.
        for sender in senders.iter_mut() {
            if sender.is_closed() {
                if let Ok(fresh) = connect(&url).await {
                    *sender = fresh;
                }
            }
        }
        tokio::time::sleep(pause).await;
    }
    let mut out = summary(latencies, errors);
    out.wave_ms = Some(wave_ms);
    out
}
