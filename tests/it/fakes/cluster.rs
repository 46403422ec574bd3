//! A fake ipfs-cluster REST API (as ipfs-cluster-follow serves it) and a fake pinning-service API
//! impostor, served in-process on a unix socket or loopback TCP.
//!
//! The REST fake answers like `api/rest/restapi.go`: `/id` an ID object, `/pins` an NDJSON stream
//! (204 when empty, `Trailer: X-Stream-Error`, sent in chunks that cut lines anywhere and are
//! generated lazily so 100k pins never sit in memory), `/health/graph` a ConnectGraph, `/health`
//! 204, anything else 404 `{"code":404,"message":"not found"}`. The impostor answers like
//! ipfs-cluster-service's pinsvcapi: `/health` 204, `/pins` `{"count":0,"results":[]}`, `/id` 404
//! with the pinning-service error body `{"error":{"reason":"not found"}}` (as the real v1.1.6 answers).

use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::stream;
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinHandle;

type Body = BoxBody<Bytes, Infallible>;

/// What the fake cluster peer says about itself and its pins.
#[derive(Debug, Clone)]
pub struct ClusterState {
    pub peer_id: String,
    pub peername: String,
    pub version: String,
    /// Cluster peers it sees besides itself (`/id` adds itself, as ipfs-cluster does).
    pub other_peers: Vec<String>,
    /// `ipfs.error` of `/id`.
    pub ipfs_error: String,
    /// Pins by status, generated lazily in this order.
    pub pins: Vec<(String, usize)>,
    /// A non-empty `X-Stream-Error` trailer after the pins.
    pub stream_error: Option<String>,
    /// Bytes per body chunk of the pin stream.
    pub chunk_size: usize,
    /// `cluster_trust_links` besides itself.
    pub trust_links: Vec<(String, bool)>,
    /// Required `user:password`, when set.
    pub basic_auth: Option<String>,
    /// Sleep this long before answering a request to this path (`/id`, `/pins`, ...).
    pub latency: Vec<(String, Duration)>,
    /// `created` of the newest pin (when it entered the cluster pinset); pin k of n is n - k
    /// seconds older, as pins added one after another are.
    pub newest_created: SystemTime,
    /// The per-peer `timestamp` of the pins in a status: when they entered it. A status not
    /// named here: an operation state is "now" at each answer (a fresh operation, as
    /// `optracker` stamps every phase change), a state at rest is the pin's `created` (the
    /// stateless tracker's `TS: p.Timestamp`).
    pub status_since: Vec<(String, SystemTime)>,
    /// `attempt_count` of the pins in a status; 0 for a status not named.
    pub attempts: Vec<(String, u64)>,
}

impl Default for ClusterState {
    fn default() -> ClusterState {
        ClusterState {
            peer_id: "12D3KooWFollowerPeer".to_string(),
            peername: "follower-host".to_string(),
            version: "1.1.6".to_string(),
            other_peers: vec!["12D3KooWTrustedPeer".to_string()],
            ipfs_error: String::new(),
            pins: vec![("pinned".to_string(), 3), ("pin_error".to_string(), 1)],
            stream_error: None,
            chunk_size: 4096,
            trust_links: vec![("12D3KooWTrustedPeer".to_string(), true)],
            basic_auth: None,
            latency: Vec::new(),
            newest_created: UNIX_EPOCH + Duration::new(1_735_689_600, 500_000_000),
            status_since: Vec::new(),
            // A pin being pinned is on its first attempt; one in error has been retried.
            attempts: vec![("pinning".to_string(), 1), ("pin_error".to_string(), 3)],
        }
    }
}

/// A running fake; stops serving when dropped.
pub struct FakeServer {
    /// Change to alter later answers.
    pub state: Arc<Mutex<ClusterState>>,
    /// Every request's path and query, in order.
    pub requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    /// How many requests started with `prefix` (e.g. `/pins?local=true&filter=`).
    pub fn count(&self, exact_or_prefix: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.starts_with(exact_or_prefix))
            .count()
    }

    /// Requests to the full listing (no filter).
    pub fn full_listings(&self) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.as_str() == "/pins?local=true")
            .count()
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Cluster,
    PinningService,
}

/// Serve the fake cluster API on a unix socket at `path`.
pub async fn serve_unix(path: &Path, state: ClusterState) -> FakeServer {
    let listener = UnixListener::bind(path).expect("bind unix socket");
    let (state, requests) = shared(state);
    let handler = Handler {
        kind: Kind::Cluster,
        state: state.clone(),
        requests: requests.clone(),
    };
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            spawn_connection(TokioIo::new(stream), handler.clone());
        }
    });
    FakeServer {
        state,
        requests,
        task,
    }
}

/// Serve the fake cluster API on 127.0.0.1; returns the port.
pub async fn serve_tcp(state: ClusterState) -> (FakeServer, u16) {
    serve_tcp_kind(Kind::Cluster, state).await
}

/// Serve the pinning-service API impostor on 127.0.0.1; returns the port.
pub async fn serve_pinning_service_tcp() -> (FakeServer, u16) {
    serve_tcp_kind(Kind::PinningService, ClusterState::default()).await
}

async fn serve_tcp_kind(kind: Kind, state: ClusterState) -> (FakeServer, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
    let port = listener.local_addr().expect("local addr").port();
    let (state, requests) = shared(state);
    let handler = Handler {
        kind,
        state: state.clone(),
        requests: requests.clone(),
    };
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            spawn_connection(TokioIo::new(stream), handler.clone());
        }
    });
    (
        FakeServer {
            state,
            requests,
            task,
        },
        port,
    )
}

/// What every connection of one fake shares.
#[derive(Clone)]
struct Handler {
    kind: Kind,
    state: Arc<Mutex<ClusterState>>,
    requests: Arc<Mutex<Vec<String>>>,
}

type Shared = (Arc<Mutex<ClusterState>>, Arc<Mutex<Vec<String>>>);

fn shared(state: ClusterState) -> Shared {
    (
        Arc::new(Mutex::new(state)),
        Arc::new(Mutex::new(Vec::new())),
    )
}

fn spawn_connection<T>(io: TokioIo<T>, handler: Handler)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    tokio::spawn(async move {
        let service = service_fn(move |request: Request<Incoming>| {
            let Handler {
                kind,
                state,
                requests,
            } = handler.clone();
            async move {
                let target = request
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default();
                requests.lock().unwrap().push(target);
                let state = state.lock().unwrap().clone();
                let path = request.uri().path();
                if let Some((_, delay)) = state.latency.iter().find(|(p, _)| p == path) {
                    tokio::time::sleep(*delay).await;
                }
                Ok::<_, Infallible>(match kind {
                    Kind::Cluster => cluster_answer(&request, &state),
                    Kind::PinningService => pinning_service_answer(&request),
                })
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await;
    });
}

fn cluster_answer(request: &Request<Incoming>, state: &ClusterState) -> Response<Body> {
    let path = request.uri().path();
    if path == "/health" {
        return empty(StatusCode::NO_CONTENT);
    }
    if !authorized(request.headers(), state) {
        return json(
            StatusCode::UNAUTHORIZED,
            r#"{"code":401,"message":"Unauthorized"}"#.into(),
        );
    }
    match path {
        "/id" => json(StatusCode::OK, id_json(state)),
        "/health/graph" => json(StatusCode::OK, graph_json(state)),
        "/pins" => pins_answer(request.uri().query().unwrap_or(""), state),
        _ => not_found(),
    }
}

fn pinning_service_answer(request: &Request<Incoming>) -> Response<Body> {
    match request.uri().path() {
        "/health" => empty(StatusCode::NO_CONTENT),
        "/pins" => json(StatusCode::OK, r#"{"count":0,"results":[]}"#.into()),
        _ => pinning_service_not_found(),
    }
}

/// The pinning-service API's error shape (`api/pinsvcapi/pinsvc`: `{"error":{"reason"[,"details"]}}`),
/// not the REST API's `{"code","message"}`; a real v1.1.6 answers unknown paths with exactly this.
fn pinning_service_not_found() -> Response<Body> {
    json(
        StatusCode::NOT_FOUND,
        r#"{"error":{"reason":"not found"}}"#.into(),
    )
}

fn authorized(headers: &HeaderMap, state: &ClusterState) -> bool {
    let Some(creds) = &state.basic_auth else {
        return true;
    };
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, creds.as_bytes())
    );
    headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()) == Some(expected.as_bytes())
}

fn id_json(state: &ClusterState) -> String {
    let mut peers = state.other_peers.clone();
    peers.push(state.peer_id.clone());
    peers.sort();
    serde_json::json!({
        "id": state.peer_id,
        // A real peer listens on TCP only (ipfs-cluster's host has no QUIC transport).
        "addresses": [format!("/ip4/127.0.0.1/tcp/9096/p2p/{}", state.peer_id)],
        "cluster_peers": peers,
        "cluster_peers_addresses": [],
        "version": state.version,
        "commit": "",
        "rpc_protocol_version": "/ipfscluster/1.0/rpc",
        "error": "",
        // With IPFS down a real peer sends no `id` and `"addresses": null`.
        "ipfs": if state.ipfs_error.is_empty() {
            serde_json::json!({"id": "12D3KooWKubo", "addresses": [], "error": ""})
        } else {
            serde_json::json!({"addresses": null, "error": state.ipfs_error})
        },
        "peername": state.peername,
    })
    .to_string()
}

fn graph_json(state: &ClusterState) -> String {
    let mut links = serde_json::Map::new();
    links.insert(state.peer_id.clone(), true.into());
    for (peer, trusted) in &state.trust_links {
        links.insert(peer.clone(), (*trusted).into());
    }
    serde_json::json!({
        "cluster_id": state.peer_id,
        "id_to_peername": {},
        "ipfs_links": {},
        "cluster_links": {},
        "cluster_trust_links": links,
        "cluster_to_ipfs": {},
    })
    .to_string()
}

fn pins_answer(query: &str, state: &ClusterState) -> Response<Body> {
    let filter: Option<Vec<&str>> = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("filter="))
        .map(|f| f.split(',').collect());
    let pins: Vec<(String, usize)> = state
        .pins
        .iter()
        .filter(|(status, n)| {
            *n > 0 && filter.as_ref().is_none_or(|f| f.contains(&status.as_str()))
        })
        .cloned()
        .collect();
    if pins.is_empty() {
        return match &state.stream_error {
            Some(error) => json(
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({"code": 500, "message": error}).to_string(),
            ),
            None => empty(StatusCode::NO_CONTENT),
        };
    }
    let total = pins.iter().map(|(_, n)| n).sum();
    let chunks = PinChunks::new(
        pins,
        state.peer_id.clone(),
        state.peername.clone(),
        state.chunk_size,
        PinTimes::of(state, total),
    );
    let mut trailers = HeaderMap::new();
    let error = state.stream_error.clone().unwrap_or_default();
    trailers.insert(
        "x-stream-error",
        HeaderValue::from_str(&error).expect("header value"),
    );
    let frames = chunks
        .map(|chunk| Ok::<_, Infallible>(Frame::data(Bytes::from(chunk))))
        .chain(std::iter::once(Ok(Frame::trailers(trailers))));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRAILER, "X-Stream-Error")
        .body(StreamBody::new(stream::iter(frames)).boxed())
        .expect("response")
}

/// Lazily generated NDJSON pin lines, cut into fixed-size chunks regardless of line ends.
struct PinChunks {
    pins: std::vec::IntoIter<(String, usize)>,
    current: Option<(String, usize)>,
    serial: usize,
    peer_id: String,
    peername: String,
    chunk_size: usize,
    pending: Vec<u8>,
    times: PinTimes,
}

/// The times and attempts of one answer's pins.
struct PinTimes {
    newest_created: SystemTime,
    total: usize,
    now: SystemTime,
    status_since: Vec<(String, SystemTime)>,
    attempts: Vec<(String, u64)>,
}

/// The operation states: `optracker`'s, stamped at each phase change.
const OPERATION_STATES: [&str; 7] = [
    "pin_queued",
    "pinning",
    "pin_error",
    "unpin_queued",
    "unpinning",
    "unpin_error",
    "cluster_error",
];

impl PinTimes {
    fn of(state: &ClusterState, total: usize) -> PinTimes {
        PinTimes {
            newest_created: state.newest_created,
            total,
            now: SystemTime::now(),
            status_since: state.status_since.clone(),
            attempts: state.attempts.clone(),
        }
    }

    fn line(&self, serial: usize, status: &str, peer_id: &str, peername: &str) -> String {
        let older = Duration::from_secs(self.total.saturating_sub(serial) as u64);
        let created = self.newest_created - older;
        let since = self
            .status_since
            .iter()
            .find(|(s, _)| s == status)
            .map(|(_, at)| *at)
            .unwrap_or(if OPERATION_STATES.contains(&status) {
                self.now
            } else {
                created
            });
        let attempts = self
            .attempts
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n);
        let times = LineTimes {
            // The pinset's times in UTC, the follower's own operation times in its zone
            // (here one hour east of UTC): Go writes a time in the zone it holds.
            created: go_time(created, 0),
            timestamp: go_time(since, if since == created { 0 } else { 60 }),
            attempts,
        };
        pin_line_with(serial, status, peer_id, peername, &times)
    }
}

impl PinChunks {
    fn new(
        pins: Vec<(String, usize)>,
        peer_id: String,
        peername: String,
        chunk_size: usize,
        times: PinTimes,
    ) -> PinChunks {
        PinChunks {
            pins: pins.into_iter(),
            current: None,
            serial: 0,
            peer_id,
            peername,
            chunk_size: chunk_size.max(1),
            pending: Vec::new(),
            times,
        }
    }

    fn next_line(&mut self) -> Option<String> {
        loop {
            match &mut self.current {
                Some((status, left)) if *left > 0 => {
                    *left -= 1;
                    self.serial += 1;
                    return Some(self.times.line(
                        self.serial,
                        status,
                        &self.peer_id,
                        &self.peername,
                    ));
                }
                _ => self.current = Some(self.pins.next()?),
            }
        }
    }
}

impl Iterator for PinChunks {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        while self.pending.len() < self.chunk_size {
            match self.next_line() {
                Some(line) => self.pending.extend_from_slice(line.as_bytes()),
                None => break,
            }
        }
        if self.pending.is_empty() {
            return None;
        }
        let take = self.pending.len().min(self.chunk_size);
        Some(self.pending.drain(..take).collect())
    }
}

/// The times and attempts of one pin line, as the follower writes them.
pub struct LineTimes {
    /// `created`, RFC 3339 as Go writes it.
    pub created: String,
    /// The own entry's `timestamp`.
    pub timestamp: String,
    /// The own entry's `attempt_count`.
    pub attempts: u64,
}

/// One `GlobalPinInfo` line as ipfs-cluster v1.x streams it (a pin at rest, created
/// 2025-01-01T00:00:00.5Z; its `timestamp` the same, no attempt).
pub fn pin_line(serial: usize, status: &str, peer_id: &str, peername: &str) -> String {
    let at = go_time(UNIX_EPOCH + Duration::new(1_735_689_600, 500_000_000), 0);
    let times = LineTimes {
        created: at.clone(),
        timestamp: at,
        attempts: 0,
    };
    pin_line_with(serial, status, peer_id, peername, &times)
}

/// One `GlobalPinInfo` line with the given times (fields in Go struct order, as v1.1.6 writes
/// them: `allocations` and `origins` empty arrays, an error text only in an error state).
pub fn pin_line_with(
    serial: usize,
    status: &str,
    peer_id: &str,
    peername: &str,
    times: &LineTimes,
) -> String {
    let LineTimes {
        created,
        timestamp,
        attempts,
    } = times;
    let error = if status.ends_with("error") {
        "context deadline exceeded"
    } else {
        ""
    };
    format!(
        "{{\"cid\":\"bafkreifake{serial:012}\",\"name\":\"pin-{serial}\",\"allocations\":[],\"origins\":[],\"created\":\"{created}\",\"metadata\":null,\"peer_map\":{{\"{peer_id}\":{{\"peername\":\"{peername}\",\"ipfs_peer_id\":\"12D3KooWKubo\",\"ipfs_peer_addresses\":[],\"status\":\"{status}\",\"timestamp\":\"{timestamp}\",\"error\":\"{error}\",\"attempt_count\":{attempts},\"priority_pin\":false}}}}}}\n"
    )
}

/// `at` as Go's `time.Time` marshals to JSON (RFC 3339, nanoseconds without trailing zeros)
/// in a zone `offset_minutes` east of UTC (`Z` for UTC).
pub fn go_time(at: SystemTime, offset_minutes: i64) -> String {
    let since = at.duration_since(UNIX_EPOCH).expect("after 1970");
    let local = since.as_secs() as i64 + offset_minutes * 60;
    let (days, rest) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    let nanos = since.subsec_nanos();
    if nanos > 0 {
        out.push_str(format!(".{nanos:09}").trim_end_matches('0'));
    }
    if offset_minutes == 0 {
        out.push('Z');
    } else {
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let off = offset_minutes.abs();
        out.push_str(&format!("{sign}{:02}:{:02}", off / 60, off % 60));
    }
    out
}

/// The date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)).boxed())
        .expect("response")
}

fn empty(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()).boxed())
        .expect("response")
}

fn not_found() -> Response<Body> {
    json(
        StatusCode::NOT_FOUND,
        r#"{"code":404,"message":"not found"}"#.into(),
    )
}
