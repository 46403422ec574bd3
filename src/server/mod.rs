//! HTTP serving: `/metrics`, `/status`, `/healthz`, `/probe`, `/` (the status page for browsers,
//! else the landing page), with connection limits and graceful shutdown. Verdicts come from the
//! collector and renderers.
//!
//! This file accepts connections and serves them until shutdown; the pages and their content
//! types are in `routes.rs`, binding the listen addresses in `listen.rs`, and the connection
//! slots of `--web.max-connections` in `slots.rs`.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::exporter::collector::Collector;
use crate::server::web::{LiveWebConfig, WebConfig};

mod listen;
pub mod probe;
mod routes;
mod slots;
mod traffic;
pub mod web;

pub use listen::bind;
use routes::handle;
pub use routes::{route, Route};
use slots::{Slot, Slots};
use traffic::Counted;

/// A client must finish its TLS handshake, and send each request head, within this time of the
/// connection opening or going idle: idle keep-alive connections close after it too (hyper
/// starts this timer whenever it waits for a request head).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A request may take its deadline and this much more (to be written out) before its
/// connection counts as busy beyond its bounds.
const BUSY_GRACE: Duration = Duration::from_secs(2);

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
    /// At most this many connections are served at once; when all are taken, one beyond its
    /// bounds is closed for a new one (see `slots.rs`).
    pub max_connections: usize,
    /// Longer than any request may take (the longest deadline, plus [`BUSY_GRACE`]).
    pub busy_limit: Duration,
    /// `/probe`, when enabled (`--web.enable-probe`).
    pub prober: Option<crate::server::probe::Probes>,
}

impl App {
    /// The application for a configuration and its web settings.
    pub fn new(config: &crate::cli::Config, web: WebConfig) -> App {
        let web = match &config.web_config_file {
            Some(path) => LiveWebConfig::watching(path.clone(), web),
            None => LiveWebConfig::fixed(web),
        };
        let prober = config.probe_enabled.then(|| {
            // `serve` has checked the file at start; a file broken since keeps the
            // default module only.
            let prober = crate::checks::prober(&config.checks, config.probe_config_file.as_deref())
                .unwrap_or_else(|reason| {
                    log::error!("{reason}; /probe serves only its default module");
                    crate::checks::prober(&config.checks, None)
                        .expect("the default modules need no file")
                });
            crate::server::probe::Probes::new(
                prober,
                config.collector_timeout,
                config.probe_max_concurrent,
            )
        });
        let longest = prober
            .as_ref()
            .map_or(config.collector_timeout, |p| p.longest_timeout());
        App {
            web,
            collector: Collector::new(crate::checks::registry(&config.checks)).logging_changes(),
            telemetry_path: config.telemetry_path.clone(),
            collector_timeout: config.collector_timeout,
            max_connections: config.max_connections,
            busy_limit: longest.max(config.collector_timeout) + BUSY_GRACE,
            prober,
        }
    }
}

/// Serve on every listener until `shutdown` resolves, then let in-flight requests finish.
pub async fn serve(listeners: Vec<TcpListener>, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let slots = Slots::new(fit_to_fd_limit(app.max_connections), app.busy_limit);
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
        // Full: a connection beyond its bounds is closed for this one; none: refused at once.
        let Some(slot) = slots.admit() else {
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
            let traffic = slot.traffic.clone();
            match acceptor.map(tokio_rustls::TlsAcceptor::from) {
                None => {
                    let io = TokioIo::new(Counted::new(stream, traffic));
                    serve_connection(io, app, client, slot, stop).await
                }
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    let closed = slot.close.clone();
                    tokio::select! {
                        done = tokio::time::timeout(CLIENT_TIMEOUT, handshake) => match done {
                            Ok(Ok(tls_stream)) => {
                                let io = TokioIo::new(Counted::new(tls_stream, traffic));
                                serve_connection(io, app, client, slot, stop).await
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
        let begun = tracked.begin(traffic::head_bytes(&request));
        let app = app.clone();
        async move {
            let busy = match begun {
                Ok(busy) => busy,
                Err(beyond) => return Ok(routes::beyond_bounds(beyond)),
            };
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
            // Its slot is needed. Beyond its bounds while busy: closed now, its answer
            // abandoned. Idle: it closes at once; a response being written is finished first.
            if !slot.close_now() {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(CLIENT_TIMEOUT, connection).await;
            }
        }
    }
    drop(slot);
}
