//! A small HTTP/1.1 load generator for `scripts/bench`: sequential scrapes over one keep-alive
//! connection, or waves of N simultaneous scrapes over N pre-opened connections.
//!
//! ```sh
//! cargo run --release --example loadgen -- seq --url http://127.0.0.1:10234/metrics --count 50
//! cargo run --release --example loadgen -- burst --url http://127.0.0.1:10234/metrics --concurrency 100 --waves 5
//! ```
//!
//! Prints one JSON object: request count, errors (non-200 or transport failures), latency
//! percentiles in milliseconds, and for `burst` the wall time of each wave. Connections are opened
//! before the clock starts, so a wave's requests reach the server within a few milliseconds of
//! each other.

use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, Subcommand};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::watch;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// One request after another over one connection.
    Seq {
        #[arg(long)]
        url: Uri,
        /// Stop after this many requests...
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// ...or after this long, whichever comes first (at least `min-count` requests).
        #[arg(long = "max-seconds", default_value_t = 10.0)]
        max_seconds: f64,
        #[arg(long = "min-count", default_value_t = 5)]
        min_count: usize,
    },
    /// `waves` times: send `concurrency` requests at once, wait for every answer.
    Burst {
        #[arg(long)]
        url: Uri,
        #[arg(long)]
        concurrency: usize,
        #[arg(long, default_value_t = 3)]
        waves: usize,
        /// Pause between waves, so a wave never joins the previous one's collection.
        #[arg(long = "pause-ms", default_value_t = 50)]
        pause_ms: u64,
    },
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

fn summary(mut latencies_ms: Vec<f64>, errors: Vec<String>) -> serde_json::Value {
    latencies_ms.sort_by(f64::total_cmp);
    let mean = latencies_ms.iter().sum::<f64>() / latencies_ms.len().max(1) as f64;
    let mut first_errors = errors.clone();
    first_errors.dedup();
    first_errors.truncate(3);
    json!({
        "requests": latencies_ms.len() + errors.len(),
        "errors": errors.len(),
        "first_errors": first_errors,
        "min_ms": latencies_ms.first().copied().unwrap_or(f64::NAN),
        "p50_ms": percentile(&latencies_ms, 0.50),
        "p99_ms": percentile(&latencies_ms, 0.99),
        "max_ms": latencies_ms.last().copied().unwrap_or(f64::NAN),
        "mean_ms": mean,
    })
}

async fn sequential(
    url: Uri,
    count: usize,
    max_seconds: f64,
    min_count: usize,
) -> serde_json::Value {
    let mut sender = match connect(&url).await {
        Ok(sender) => sender,
        Err(e) => return json!({"requests": 0, "errors": 1, "first_errors": [e]}),
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
    out["total_s"] = json!(started.elapsed().as_secs_f64());
    out
}

async fn burst(url: Uri, concurrency: usize, waves: usize, pause: Duration) -> serde_json::Value {
    let mut senders = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        match connect(&url).await {
            Ok(sender) => senders.push(sender),
            Err(e) => return json!({"requests": 0, "errors": 1, "first_errors": [e]}),
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
    out["wave_ms"] = json!(wave_ms);
    out
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let out = match args.mode {
        Mode::Seq {
            url,
            count,
            max_seconds,
            min_count,
        } => sequential(url, count, max_seconds, min_count).await,
        Mode::Burst {
            url,
            concurrency,
            waves,
            pause_ms,
        } => burst(url, concurrency, waves, Duration::from_millis(pause_ms)).await,
    };
    println!("{out}");
}
