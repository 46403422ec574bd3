//! The test fakes (Lotus JSON-RPC, ipfs-cluster-follow REST API) as a standalone process, for
//! whole-process benchmarks (`scripts/bench`).
//!
//! ```sh
//! cargo run --release --example fake_backends -- \
//!     --lotus-latency SyncState=200ms --follow-latency /id=50ms \
//!     --wallets 10 --pins pin_queued=10000 --socket-dir /tmp/fakes
//! ```
//!
//! Prints one JSON line on stdout once everything listens:
//! `{"lotus":"127.0.0.1:P","followers":["follower-0=/unix/..."],"wallets":["f01000",...],"counters":"127.0.0.1:Q"}`,
//! then serves until killed. The counters address answers `GET /counters` with the requests seen
//! per Lotus method and per follower path (JSON) and `POST /reset` zeroes them, so a benchmark can
//! compute backend requests per method per round.

#[path = "../tests/it/fakes/mod.rs"]
#[allow(dead_code, reason = "the test fakes, of which this uses a part")]
mod fakes;

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

use fakes::cluster::{self, ClusterState, FakeServer};
use fakes::lotus::{Behavior, FakeLotus, LotusState};

/// Every Lotus method the exporter may call (counted one by one; the rest land in `other`).
const LOTUS_METHODS: [&str; 20] = [
    "Filecoin.Version",
    "Filecoin.Session",
    "Filecoin.ChainHead",
    "Filecoin.SyncState",
    "Filecoin.NetPeers",
    "Filecoin.WalletBalance",
    "Filecoin.StateNetworkName",
    "Filecoin.ChainGetGenesis",
    "Filecoin.WalletDefaultAddress",
    "Filecoin.WalletList",
    "Filecoin.F3IsRunning",
    "Filecoin.F3GetLatestCertificate",
    "Filecoin.F3GetProgress",
    "Filecoin.F3GetManifest",
    "Filecoin.ChainGetTipSetFinalityStatus",
    "Filecoin.ChainGetFinalizedTipSet",
    "Filecoin.MpoolGetNonce",
    "Filecoin.StateGetActor",
    "Filecoin.StateGetNetworkParams",
    "Filecoin.StateNetworkVersion",
];

/// Fake Lotus and ipfs-cluster-follow daemons for benchmarks.
#[derive(Parser)]
struct Args {
    /// `METHOD=DURATION` (e.g. `ChainHead=100ms`): answer this Lotus method after a delay (repeatable).
    #[arg(long = "lotus-latency", value_parser = parse_latency)]
    lotus_latency: Vec<(String, Duration)>,
    /// Delay of every Lotus method without its own `--lotus-latency`.
    #[arg(long = "lotus-default-latency", value_parser = humantime::parse_duration)]
    lotus_default_latency: Option<Duration>,
    /// `PATH=DURATION` (e.g. `/id=50ms`, `/pins=100ms`): answer this follower path after a delay (repeatable).
    #[arg(long = "follow-latency", value_parser = parse_latency)]
    follow_latency: Vec<(String, Duration)>,
    /// Wallets the fake node knows (`f01000`, `f01001`, ...), each with a balance.
    #[arg(long, default_value_t = 1)]
    wallets: usize,
    /// `STATUS=COUNT` pins every follower holds (repeatable; default `pinned=1000`).
    #[arg(long = "pins", value_parser = parse_pins)]
    pins: Vec<(String, usize)>,
    /// Make `Filecoin.Version`'s `Version` string this many bytes long (a hostile or broken node).
    #[arg(long = "lotus-version-bytes")]
    lotus_version_bytes: Option<usize>,
    /// Number of fake followers.
    #[arg(long, default_value_t = 1)]
    followers: usize,
    /// Serve the followers on unix sockets in this folder (as ipfs-cluster-follow does) instead of TCP.
    #[arg(long = "socket-dir")]
    socket_dir: Option<PathBuf>,
}

fn parse_latency(text: &str) -> Result<(String, Duration), String> {
    let (name, delay) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=DURATION"))?;
    let delay = humantime::parse_duration(delay).map_err(|e| format!("{delay:?}: {e}"))?;
    Ok((name.to_string(), delay))
}

fn parse_pins(text: &str) -> Result<(String, usize), String> {
    let (status, count) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not STATUS=COUNT"))?;
    let count = count.parse().map_err(|e| format!("{count:?}: {e}"))?;
    Ok((status.to_string(), count))
}

/// A wallet address the fake knows, `f0<1000 + index>` (an ID address: always valid).
fn wallet_address(index: usize) -> String {
    format!("f0{}", 1000 + index)
}

struct Backends {
    lotus: FakeLotus,
    followers: Vec<(String, FakeServer)>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut state = LotusState::synced_now();
    let wallets: Vec<String> = (0..args.wallets).map(wallet_address).collect();
    for (i, wallet) in wallets.iter().enumerate() {
        state.add_wallet(wallet, &format!("{}000000000000000", 1500 + i));
    }
    if let Some(bytes) = args.lotus_version_bytes {
        state.version = format!("1.28.0{}", "v".repeat(bytes.saturating_sub(6)));
    }
    let lotus = FakeLotus::start_with(state).await;
    if let Some(delay) = args.lotus_default_latency {
        lotus.set_default_behavior(Behavior::Delay(delay));
    }
    for (method, delay) in &args.lotus_latency {
        lotus.set_behavior(method, Behavior::Delay(*delay));
    }

    let pins = if args.pins.is_empty() {
        vec![("pinned".to_string(), 1000)]
    } else {
        args.pins.clone()
    };
    let mut followers = Vec::new();
    let mut follower_specs = Vec::new();
    for i in 0..args.followers {
        let name = format!("follower-{i}");
        let state = ClusterState {
            pins: pins.clone(),
            latency: args.follow_latency.clone(),
            chunk_size: 64 * 1024,
            ..ClusterState::default()
        };
        let (server, spec) = match &args.socket_dir {
            Some(dir) => {
                let path = dir.join(format!("{name}.sock"));
                let _ = std::fs::remove_file(&path);
                let server = cluster::serve_unix(&path, state).await;
                (server, format!("{name}=/unix{}", path.display()))
            }
            None => {
                let (server, port) = cluster::serve_tcp(state).await;
                (server, format!("{name}=/ip4/127.0.0.1/tcp/{port}"))
            }
        };
        followers.push((name, server));
        follower_specs.push(spec);
    }

    let counters = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind counters");
    let counters_addr = counters.local_addr().expect("counters addr");
    let backends = Arc::new(Backends { lotus, followers });
    println!(
        "{}",
        json!({
            "lotus": backends.lotus.addr().to_string(),
            "followers": follower_specs,
            "wallets": wallets,
            "counters": counters_addr.to_string(),
        })
    );

    let serve = {
        let backends = backends.clone();
        async move {
            while let Ok((stream, _)) = counters.accept().await {
                let backends = backends.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let backends = backends.clone();
                        async move { Ok::<_, Infallible>(answer(&backends, &request)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    };
    tokio::select! {
        _ = serve => {}
        _ = shutdown_signal() => {}
    }
    eprintln!(
        "fake_backends: counters at exit: {}",
        counters_json(&backends)
    );
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn answer(backends: &Backends, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let body = match (request.method(), request.uri().path()) {
        (&Method::GET, "/counters") => counters_json(backends).to_string(),
        (&Method::POST, "/reset") => {
            backends.lotus.reset_counters();
            for (_, server) in &backends.followers {
                server.requests.lock().unwrap().clear();
            }
            "{}".to_string()
        }
        _ => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"not found\n")));
            *response.status_mut() = hyper::StatusCode::NOT_FOUND;
            return response;
        }
    };
    Response::new(Full::new(Bytes::from(body)))
}

/// `{"lotus": {method: n, ..., "other": n}, "lotus_http_requests": n, "follow": {name: {path: n}}}`.
fn counters_json(backends: &Backends) -> Value {
    let lotus = &backends.lotus;
    let mut methods = Map::new();
    let mut known = 0;
    for method in LOTUS_METHODS {
        let n = lotus.calls(method);
        known += n;
        methods.insert(method.to_string(), n.into());
    }
    methods.insert("other".to_string(), (lotus.total_calls() - known).into());
    let mut follow = Map::new();
    for (name, server) in &backends.followers {
        let mut paths = Map::new();
        for request in server.requests.lock().unwrap().iter() {
            let n = paths.get(request).and_then(Value::as_u64).unwrap_or(0);
            paths.insert(request.clone(), (n + 1).into());
        }
        follow.insert(name.clone(), Value::Object(paths));
    }
    json!({
        "lotus": methods,
        "lotus_http_requests": lotus.http_requests(),
        "follow": follow,
    })
}
