//! HTTP routing only: `/metrics`, `/status`, `/healthz`, `/` (the status page for browsers, else
//! the landing page); content types,
//! connection limits and graceful shutdown. Verdicts come from the collector and renderers.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::collector::{scrape_budget, Collector};
use crate::render;
use crate::web::auth::Verdict;
use crate::web::{LiveWebConfig, WebConfig};

mod slots;

use slots::{Slot, Slots};

/// A client must finish its TLS handshake, and send each request head, within this time of the
/// connection opening or going idle: idle keep-alive connections close after it too (hyper
/// starts this timer whenever it waits for a request head).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// When every slot is busy with a request, a new connection waits this long for one, then is
/// closed (and counted as refused).
const ADMIT_WAIT: Duration = Duration::from_secs(2);

/// Largest request head (request line and headers) accepted.
const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;

/// How long shutdown waits for in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What the handlers need.
pub struct App {
    pub collector: Collector,
    /// TLS, basic auth and extra headers from `--web.config.file`, re-read when it changes.
    pub web: LiveWebConfig,
    pub telemetry_path: String,
    pub collector_timeout: Duration,
    /// At most this many connections are served at once; when all are taken, the longest-idle
    /// one is closed for a new one.
    pub max_connections: usize,
    /// `/probe`, when enabled (`--web.enable-probe`).
    pub prober: Option<crate::probe::Prober>,
}

impl App {
    /// The application for a configuration and its web settings.
    pub fn new(config: &crate::config::Config, web: WebConfig) -> App {
        let web = match &config.web_config_file {
            Some(path) => LiveWebConfig::watching(path.clone(), web),
            None => LiveWebConfig::fixed(web),
        };
        App {
            web,
            collector: Collector::new(
                config.lotus.clone(),
                config.follow.clone(),
                config.ports.clone(),
            ),
            telemetry_path: config.telemetry_path.clone(),
            collector_timeout: config.collector_timeout,
            max_connections: config.max_connections,
            prober: config.probe_enabled.then(|| {
                // `serve` has checked the file at start; a file broken since keeps module lotus.
                let modules = crate::probe::load_modules(config.probe_config_file.as_deref())
                    .unwrap_or_else(|reason| {
                        log::error!("{reason}; /probe serves only module lotus");
                        crate::probe::load_modules(None).unwrap_or_default()
                    });
                crate::probe::Prober::new(config, modules)
            }),
        }
    }
}

/// Which page a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Landing,
    Metrics,
    Status,
    Healthz,
    Probe,
    NotFound,
    MethodNotAllowed,
}

/// Route a request by method and path.
pub fn route(method: &Method, path: &str, telemetry_path: &str) -> Route {
    let page = if path == telemetry_path {
        Route::Metrics
    } else {
        match path {
            "/" => Route::Landing,
            "/probe" => Route::Probe,
            "/status" => Route::Status,
            "/healthz" => Route::Healthz,
            _ => return Route::NotFound,
        }
    };
    if method == Method::GET || method == Method::HEAD {
        page
    } else {
        Route::MethodNotAllowed
    }
}

/// Bind a `--web.listen-address` value: `:10234` (every address, IPv6 and IPv4),
/// `127.0.0.1:10234`, `[::1]:10234` or `localhost:10234`.
pub async fn bind(address: &str) -> Result<TcpListener, String> {
    let candidates: Vec<SocketAddr> = match address.strip_prefix(':') {
        Some(port) => {
            let port: u16 = port
                .parse()
                .map_err(|_| format!("--web.listen-address {address:?}: {port:?} is not a port"))?;
            vec![SocketAddr::from(([0u16; 8], port)), SocketAddr::from(([0u8; 4], port))]
        }
        None => match address.parse::<SocketAddr>() {
            Ok(addr) => vec![addr],
            Err(_) => tokio::net::lookup_host(address)
                .await
                .map_err(|e| {
                    format!("--web.listen-address {address:?} is not HOST:PORT, [IPv6]:PORT or :PORT ({e})")
                })?
                .collect(),
        },
    };
    let mut last_error = format!("--web.listen-address {address:?} names no address");
    for candidate in candidates {
        match TcpListener::bind(candidate).await {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                let holder = port_holder(candidate).await;
                last_error = format!("cannot listen on {candidate} (--web.listen-address): the port is in use by {holder}; stop it or choose another port");
            }
            Err(e) => last_error = format!("cannot listen on {candidate}: {e}"),
        }
    }
    Err(last_error)
}

/// How long naming the holder of a busy port may take at start.
const PORT_HOLDER_DEADLINE: Duration = Duration::from_secs(3);

/// Who holds TCP `address`'s port, in words: `node_exporter (pid 812)`, or why it cannot be said.
async fn port_holder(address: SocketAddr) -> String {
    use crate::ports::listeners;
    let port = address.port();
    let unseen =
        format!("a process this user cannot see (`ss -ltnp 'sport = :{port}'` as root names it)");
    let scan = tokio::task::spawn_blocking(|| {
        listeners::read_listening_sockets(std::path::Path::new("/proc"), Default::default())
    });
    let scan = match tokio::time::timeout(PORT_HOLDER_DEADLINE, scan).await {
        Ok(Ok(Ok(scan))) => scan,
        _ => return unseen,
    };
    let named = listeners::name_holders(&scan, &Default::default(), std::process::id());
    let mut holders: Vec<String> = named
        .iter()
        .filter(|l| l.protocol == crate::multiaddr::Transport::Tcp && l.port == port)
        .filter(|l| {
            let ip = address.ip();
            l.address == ip || l.address.is_unspecified() || ip.is_unspecified()
        })
        .flat_map(|l| l.holders.iter())
        .map(|h| format!("{} (pid {})", h.program, h.pid))
        .collect();
    holders.sort();
    holders.dedup();
    if holders.is_empty() {
        unseen
    } else {
        holders.join(", ")
    }
}

/// Serve on every listener until `shutdown` resolves, then let in-flight requests finish.
pub async fn serve(listeners: Vec<TcpListener>, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let slots = Slots::new(fit_to_fd_limit(app.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut acceptors = tokio::task::JoinSet::new();
    for listener in listeners {
        acceptors.spawn(accept_loop(
            listener,
            app.clone(),
            slots.clone(),
            stop_rx.clone(),
        ));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    while acceptors.join_next().await.is_some() {}
    // Every open connection holds a slot: when all slots are free, every connection has finished.
    if !slots
        .wait_empty(tokio::time::Instant::now() + SHUTDOWN_GRACE)
        .await
    {
        log::warn!("some connections did not finish within {SHUTDOWN_GRACE:?}; closing them");
    }
}

/// File descriptors kept for everything but client connections (backends, `/proc`, files).
const RESERVED_FDS: u64 = 128;

/// Raise the soft open-files limit to the hard one (as Go programs do) and return how many
/// connections fit under it: with a soft limit of 1024, 1024 connections would make `accept`
/// fail before every slot is taken, and then no idle connection would ever be closed for a
/// new one.
fn fit_to_fd_limit(max_connections: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return max_connections;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    let room = usize::try_from(limit.rlim_cur.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX);
    if max_connections > room {
        log::warn!(
            "--web.max-connections {max_connections} does not fit the open-files limit ({}): \
             serving at most {room} connections",
            limit.rlim_cur
        );
        return room.max(1);
    }
    max_connections
}

async fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    slots: Arc<Slots>,
    mut stop: watch::Receiver<bool>,
) {
    let tls = app.web.tls_at_start();
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => (stream, peer.ip()),
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        // Full: the longest-idle connection is closed for this one; none idle: wait a little.
        let slot = tokio::select! {
            slot = slots.admit(ADMIT_WAIT) => slot,
            _ = stop.changed() => return,
        };
        let Some(slot) = slot else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            // The certificate as it is now: a renewed one is served from the next handshake.
            let acceptor = match tls {
                true => match app.web.current().await.tls.clone() {
                    Some(config) => Some(config),
                    // Never plain on a TLS port (a reload cannot turn TLS off).
                    None => return,
                },
                false => None,
            };
            match acceptor.map(tokio_rustls::TlsAcceptor::from) {
                None => serve_connection(TokioIo::new(stream), app, client, slot, stop).await,
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    let closed = slot.close.clone();
                    tokio::select! {
                        done = tokio::time::timeout(CLIENT_TIMEOUT, handshake) => match done {
                            Ok(Ok(tls_stream)) => {
                                serve_connection(TokioIo::new(tls_stream), app, client, slot, stop).await
                            }
                            Ok(Err(e)) => log::debug!("TLS handshake failed: {e}"),
                            Err(_) => log::debug!("TLS handshake timed out"),
                        },
                        _ = closed.notified() => log::debug!("TLS handshake cut: its slot was needed"),
                    }
                }
            }
        });
    }
}

/// Serve one connection until it closes, or finish its request and close it at shutdown.
async fn serve_connection<T>(
    io: TokioIo<T>,
    app: Arc<App>,
    client: IpAddr,
    slot: Slot,
    mut stop: watch::Receiver<bool>,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let slot = Arc::new(slot);
    let close = slot.close.clone();
    let tracked = slot.clone();
    let service = service_fn(move |request| {
        let busy = tracked.busy();
        let app = app.clone();
        async move {
            let response = handle(app, request, client).await;
            drop(busy);
            response
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(CLIENT_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD_BYTES)
        .serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = async { stop.wait_for(|stopping| *stopping).await.map(|_| ()) } => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
        }
        _ = close.notified() => {
            // Its slot is needed and it waits for its client: an idle connection closes at once;
            // a response being written is finished first.
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(CLIENT_TIMEOUT, connection).await;
        }
    }
    drop(slot);
}

async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
    client: IpAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = respond(&app, request, client).await;
    for (name, value) in &app.web.current().await.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(response)
}

/// Authenticate (when basic auth is configured), route, and answer.
async fn respond(app: &App, request: Request<Incoming>, client: IpAddr) -> Response<Full<Bytes>> {
    if let Some(auth) = &app.web.current().await.basic_auth {
        match auth
            .authorize(request.headers().get(header::AUTHORIZATION), client)
            .await
        {
            Verdict::Allowed => {}
            Verdict::Denied => {
                let mut response = plain(StatusCode::UNAUTHORIZED, "401 unauthorized\n");
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
                return response;
            }
            Verdict::Busy => {
                let mut response = plain(
                    StatusCode::TOO_MANY_REQUESTS,
                    "429 too many login attempts being checked: try again\n",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return response;
            }
        }
    }
    let is_head = request.method() == Method::HEAD;
    let response = match route(request.method(), request.uri().path(), &app.telemetry_path) {
        Route::Landing if wants_html(&request) => {
            let refresh = render::html::refresh_from_query(request.uri().query());
            scrape(app, &request, |s| {
                let page = render::html::render(s, &app.telemetry_path, refresh);
                (render::html::CONTENT_TYPE, page)
            })
            .await
        }
        Route::Landing => html(landing_page(&app.telemetry_path)),
        Route::Healthz => plain(StatusCode::OK, "ok\n"),
        Route::Probe => probe(app, &request).await,
        Route::NotFound => plain(StatusCode::NOT_FOUND, "404 page not found\n"),
        Route::MethodNotAllowed => {
            let mut response = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "405 method not allowed: use GET or HEAD\n",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            response
        }
        Route::Metrics => {
            let gzip = crate::web::gzip::accepted(request.headers());
            let mut response = scrape(app, &request, |s| {
                (
                    render::prometheus::CONTENT_TYPE,
                    render::prometheus::render(s),
                )
            })
            .await;
            crate::web::gzip::vary(&mut response);
            if gzip {
                response = crate::web::gzip::compress(response);
            }
            response
        }
        Route::Status => {
            scrape(app, &request, |s| {
                (
                    "application/json",
                    format!("{:#}\n", render::status::render(s)),
                )
            })
            .await
        }
    };
    if is_head {
        strip_body(response)
    } else {
        response
    }
}

/// Collect within the scrape's budget and render the snapshot.
async fn scrape(
    app: &App,
    request: &Request<Incoming>,
    render: impl FnOnce(&crate::snapshot::Snapshot) -> (&'static str, String),
) -> Response<Full<Bytes>> {
    let header = request
        .headers()
        .get("X-Prometheus-Scrape-Timeout-Seconds")
        .map(|v| v.to_str().unwrap_or("invalid"));
    let budget = match scrape_budget(app.collector_timeout, header) {
        Ok(budget) => budget,
        Err(reason) => return plain(StatusCode::BAD_REQUEST, &format!("{reason}\n")),
    };
    let snapshot = app.collector.collect(budget).await;
    let (content_type, body) = render(&snapshot);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `/probe`: 404 unless enabled, 400 for a missing target or an unknown module.
async fn probe(app: &App, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(prober) = &app.prober else {
        return plain(
            StatusCode::NOT_FOUND,
            "404 /probe is off: start the exporter with --web.enable-probe\n",
        );
    };
    let bad = |reason: String| plain(StatusCode::BAD_REQUEST, &format!("{reason}\n"));
    let probe = match crate::probe::parse_query(request.uri().query()) {
        Ok(probe) => probe,
        Err(e) => return bad(e.to_string()),
    };
    let header = request
        .headers()
        .get("X-Prometheus-Scrape-Timeout-Seconds")
        .map(|v| v.to_str().unwrap_or("invalid"));
    let budget = match prober.budget(&probe.module, header) {
        Ok(budget) => budget,
        Err(reason) => return bad(reason),
    };
    match prober.probe(&probe, budget).await {
        Ok(text) => {
            let mut response = Response::new(Full::new(Bytes::from(text)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(render::prometheus::CONTENT_TYPE),
            );
            response
        }
        Err(e) => bad(e.to_string()),
    }
}

/// True when the client asks for HTML (a browser): `/` is then the status page.
fn wants_html(request: &Request<Incoming>) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn html(page: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(page)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn strip_body(response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, Full::new(Bytes::new()))
}

fn landing_page(telemetry_path: &str) -> String {
    let path = html_escape(telemetry_path);
    format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>lotus-follow-exporter</title></head>\n<body>\n\
         <h1>lotus-follow-exporter</h1>\n\
         <p>Prometheus exporter for a Filecoin Lotus daemon, ipfs-cluster-follow peers and the host's port plan. Version {}.</p>\n\
         <ul>\n<li><a href=\"{path}\">Metrics</a></li>\n<li><a href=\"/status\">Status (JSON)</a></li>\n<li><a href=\"/healthz\">Exporter health</a></li>\n</ul>\n\
         </body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path_then_method() {
        let m = "/metrics";
        assert_eq!(route(&Method::GET, "/metrics", m), Route::Metrics);
        assert_eq!(route(&Method::HEAD, "/metrics", m), Route::Metrics);
        assert_eq!(route(&Method::GET, "/", m), Route::Landing);
        assert_eq!(route(&Method::GET, "/status", m), Route::Status);
        assert_eq!(route(&Method::GET, "/healthz", m), Route::Healthz);
        assert_eq!(route(&Method::GET, "/nope", m), Route::NotFound);
        assert_eq!(route(&Method::POST, "/metrics", m), Route::MethodNotAllowed);
        assert_eq!(route(&Method::DELETE, "/", m), Route::MethodNotAllowed);
        assert_eq!(route(&Method::GET, "/custom", "/custom"), Route::Metrics);
        assert_eq!(route(&Method::GET, "/metrics", "/custom"), Route::NotFound);
    }

    #[test]
    fn landing_page_links_metrics_and_status() {
        let page = landing_page("/m<x>");
        assert!(page.contains("href=\"/m&lt;x&gt;\""));
        assert!(page.contains("href=\"/status\""));
    }

    #[tokio::test]
    async fn binds_all_addresses_for_a_bare_port() {
        let listener = bind(":0").await.unwrap();
        assert!(listener.local_addr().unwrap().ip().is_unspecified());
        assert!(bind("nonsense").await.is_err());
        assert!(bind(":notaport").await.is_err());
        let named = bind("localhost:0").await.unwrap();
        assert!(named.local_addr().unwrap().ip().is_loopback());
    }
}
