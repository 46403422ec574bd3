//! One small HTTP/1.1 client for every backend: TCP or unix socket, one deadline per call,
//! a cap on every body.
//!
//! [`fetch`] and [`send`] open a connection per call (the follower REST APIs: a handful of calls
//! per scrape), so a hung or misbehaving peer can never poison a pool; [`TcpPool`] keeps
//! keep-alive connections for Lotus, which is called once per method and wallet. Every call ends
//! by its deadline, and a call cut short by the deadline always reads as timed out, whatever
//! the connection said as it closed.
//!
//! # Caveats
//! `https` is spoken only by [`TcpPool::with_tls`] (Lotus); the one-shot calls refuse a TLS
//! endpoint with [`HttpError::TlsUnsupported`] rather than silently downgrading it.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, UnixStream};
use tokio::time::{timeout_at, Instant};

use crate::net::multiaddr::{Host, Multiaddr, Transport};

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP host (name or IP) and port.
    Tcp { host: String, port: u16 },
    /// A unix domain socket.
    Unix(PathBuf),
}

impl Endpoint {
    /// True when the endpoint is on this host (so the daemon process can be looked for here).
    pub fn is_local(&self) -> bool {
        match self {
            Endpoint::Unix(_) => true,
            Endpoint::Tcp { host, .. } => {
                host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .map(|ip| ip.is_loopback() || ip.is_unspecified())
                        .unwrap_or(false)
            }
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl Endpoint {
    /// The endpoint a multiaddr names; TLS multiaddrs are refused.
    pub fn from_multiaddr(addr: &Multiaddr) -> Result<Endpoint, HttpError> {
        if addr.wants_tls() {
            return Err(HttpError::TlsUnsupported(format!("{addr:?}")));
        }
        Endpoint::socket_of(addr)
    }

    /// The TCP or unix endpoint a multiaddr names, whether or not it says TLS (the caller
    /// speaks TLS over it when [`Multiaddr::wants_tls`]).
    pub fn socket_of(addr: &Multiaddr) -> Result<Endpoint, HttpError> {
        match addr {
            Multiaddr::Unix(path) => Ok(Endpoint::Unix(path.clone())),
            Multiaddr::Socket {
                host,
                transport: Transport::Tcp,
                port,
                ..
            } => Ok(Endpoint::Tcp {
                host: match host {
                    Host::Ip(ip) => ip.to_string(),
                    Host::Dns(name) => name.clone(),
                },
                port: *port,
            }),
            Multiaddr::Socket { .. } => Err(HttpError::NotTcp(format!("{addr:?}"))),
        }
    }

    /// The `Host` header value for requests to this endpoint.
    fn host_header(&self) -> String {
        match self {
            Endpoint::Unix(_) => "localhost".to_string(),
            other => other.to_string(),
        }
    }
}

/// Why an HTTP call failed. Messages name the endpoint and say what happened in an operator's words.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connection refused by {0} (is the daemon running and listening there?)")]
    Refused(Endpoint),
    #[error("permission denied opening {endpoint}{hint}")]
    PermissionDenied { endpoint: Endpoint, hint: String },
    #[error("{0} does not exist (daemon not running, or another path?)")]
    NotFound(Endpoint),
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: Endpoint,
        source: io::Error,
    },
    #[error("timed out waiting for {endpoint} ({stage})")]
    TimedOut {
        endpoint: Endpoint,
        stage: &'static str,
    },
    #[error("HTTP protocol error talking to {endpoint}: {source}")]
    Protocol {
        endpoint: Endpoint,
        source: hyper::Error,
    },
    #[error("response body from {endpoint} exceeds the cap of {cap} bytes")]
    BodyTooLarge { endpoint: Endpoint, cap: usize },
    #[error("TLS endpoints are not supported yet: {0}")]
    TlsUnsupported(String),
    /// The TLS handshake failed; a certificate that did not verify says "certificate".
    #[error("TLS with {endpoint} failed: {reason}")]
    Tls { endpoint: Endpoint, reason: String },
    #[error("not a TCP address: {0}")]
    NotTcp(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("request to {endpoint} failed: {reason}")]
    Request { endpoint: Endpoint, reason: String },
}

impl HttpError {
    /// True when the peer could not be reached at all (nothing listens there).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, HttpError::Refused(_) | HttpError::NotFound(_))
    }
}

/// A response whose body has been read in full (within its cap).
#[derive(Debug)]
pub struct FullResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Open a connection and send one request; the response body is left to the caller to stream.
pub async fn send(
    endpoint: &Endpoint,
    mut request: Request<Full<Bytes>>,
    deadline: Instant,
) -> Result<Response<Incoming>, HttpError> {
    let host = http::HeaderValue::from_str(&endpoint.host_header())
        .map_err(|e| HttpError::InvalidRequest(e.to_string()))?;
    request
        .headers_mut()
        .entry(http::header::HOST)
        .or_insert(host);
    let timed_out = |stage| HttpError::TimedOut {
        endpoint: endpoint.clone(),
        stage,
    };
    let mut sender = timeout_at(deadline, handshake(endpoint, deadline))
        .await
        .map_err(|_| timed_out("connecting"))??;
    timeout_at(deadline, sender.send_request(request))
        .await
        .map_err(|_| timed_out("waiting for response headers"))?
        .map_err(|source| {
            protocol_error(endpoint, source, deadline, "waiting for response headers")
        })
}

/// A failure of the HTTP exchange, or a timeout when it surfaced at or after the deadline: a
/// call cut short by the scrape deadline may surface as the connection's end ("dispatch task
/// is gone", "connection closed before message completed") rather than as the call's own
/// timeout, and must read as what it is.
pub fn protocol_error(
    endpoint: &Endpoint,
    source: hyper::Error,
    deadline: Instant,
    stage: &'static str,
) -> HttpError {
    if Instant::now() >= deadline || source.is_timeout() {
        HttpError::TimedOut {
            endpoint: endpoint.clone(),
            stage,
        }
    } else {
        HttpError::Protocol {
            endpoint: endpoint.clone(),
            source,
        }
    }
}

/// Send one request and read the whole body, failing once it passes `cap` bytes.
pub async fn fetch(
    endpoint: &Endpoint,
    request: Request<Full<Bytes>>,
    cap: usize,
    deadline: Instant,
) -> Result<FullResponse, HttpError> {
    let response = send(endpoint, request, deadline).await?;
    read_full(endpoint, response, cap, deadline).await
}

/// Read a response's whole body (at most `cap` bytes, before `deadline`).
async fn read_full(
    endpoint: &Endpoint,
    response: Response<Incoming>,
    cap: usize,
    deadline: Instant,
) -> Result<FullResponse, HttpError> {
    let (parts, body) = response.into_parts();
    let body = read_body(endpoint, body, cap, deadline).await?;
    Ok(FullResponse {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// Read a body to its end, at most `cap` bytes, before `deadline`.
pub async fn read_body(
    endpoint: &Endpoint,
    mut body: Incoming,
    cap: usize,
    deadline: Instant,
) -> Result<Bytes, HttpError> {
    use hyper::body::Body;
    // A declared length over the cap fails before a single byte is read.
    if body.size_hint().lower() > cap as u64 {
        return Err(HttpError::BodyTooLarge {
            endpoint: endpoint.clone(),
            cap,
        });
    }
    let mut buf = BytesMut::new();
    loop {
        let frame = timeout_at(deadline, body.frame())
            .await
            .map_err(|_| HttpError::TimedOut {
                endpoint: endpoint.clone(),
                stage: "reading the response body",
            })?;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|source| {
            protocol_error(endpoint, source, deadline, "reading the response body")
        })?;
        if let Ok(data) = frame.into_data() {
            count_bytes_read(data.len());
            if buf.len() + data.len() > cap {
                return Err(HttpError::BodyTooLarge {
                    endpoint: endpoint.clone(),
                    cap,
                });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// A keep-alive pool of TCP connections, for a backend called many times per scrape (Lotus: a
/// call per method and per wallet). Connections are reused across calls and scrapes instead of
/// leaving one TIME_WAIT socket per call; a call that times out drops its connection.
#[derive(Clone)]
pub struct TcpPool {
    client: hyper_util::client::legacy::Client<crate::net::tls_client::Connector, Full<Bytes>>,
    /// `https` or `http`, for the pool's request URIs.
    scheme: &'static str,
}

impl fmt::Debug for TcpPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TcpPool")
    }
}

/// How long a direct connection may outlive its call's deadline (see [`spawn_connection`]).
const CONNECTION_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// How long an idle pooled connection is kept (below common server and proxy idle timeouts).
const POOL_IDLE: std::time::Duration = std::time::Duration::from_secs(20);

/// The longest a pooled connect may take, even outside a call.
const POOL_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl TcpPool {
    /// A pool keeping at most `max_idle` idle connections per host, speaking TLS over each
    /// when `tls` is given (certificates always verified).
    pub fn with_tls(max_idle: usize, tls: Option<crate::net::tls_client::ClientTls>) -> TcpPool {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        // A connect the pool finishes in the background (when an idle connection won the race)
        // has no scrape deadline: bound it here.
        connector.set_connect_timeout(Some(POOL_CONNECT_TIMEOUT));
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE)
                .pool_max_idle_per_host(max_idle)
                .pool_timer(hyper_util::rt::TokioTimer::new())
                .build(crate::net::tls_client::Connector::new(connector, tls));
        TcpPool { client, scheme }
    }

    /// Send one request to a TCP `endpoint` over a pooled connection and read the whole body,
    /// failing once it passes `cap` bytes, all before `deadline`.
    pub async fn fetch(
        &self,
        endpoint: &Endpoint,
        mut request: Request<Full<Bytes>>,
        cap: usize,
        deadline: Instant,
    ) -> Result<FullResponse, HttpError> {
        let Endpoint::Tcp { .. } = endpoint else {
            return fetch(endpoint, request, cap, deadline).await;
        };
        let path = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| "/".to_string());
        *request.uri_mut() = format!("{}://{endpoint}{path}", self.scheme)
            .parse()
            .map_err(|e: http::uri::InvalidUri| HttpError::InvalidRequest(e.to_string()))?;
        let timed_out = || HttpError::TimedOut {
            endpoint: endpoint.clone(),
            stage: "connecting or waiting for response headers",
        };
        // A failure surfacing at the deadline is the deadline's doing (see `protocol_error`).
        let response = timeout_at(deadline, self.client.request(request))
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| {
                if Instant::now() >= deadline {
                    timed_out()
                } else {
                    pool_error(endpoint, e)
                }
            })?;
        read_full(endpoint, response, cap, deadline).await
    }
}

/// A pooled request's failure in the same words as a direct one's.
fn pool_error(endpoint: &Endpoint, error: hyper_util::client::legacy::Error) -> HttpError {
    use std::error::Error as _;
    if let Some(failure) = crate::net::tls_client::find_failure(&error) {
        return HttpError::Tls {
            endpoint: endpoint.clone(),
            reason: failure.to_string(),
        };
    }
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            if error.is_connect() {
                return connect_error(endpoint, io::Error::new(io.kind(), io.to_string()));
            }
        }
        source = cause.source();
    }
    let reason = match error.source() {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    };
    HttpError::Request {
        endpoint: endpoint.clone(),
        reason,
    }
}

/// Account for body bytes read by any client (the fault tests assert on this figure).
pub fn count_bytes_read(n: usize) {
    crate::counters::BODY_BYTES_READ.fetch_add(n as u64, Ordering::Relaxed);
}

async fn handshake(
    endpoint: &Endpoint,
    deadline: Instant,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, HttpError> {
    match endpoint {
        Endpoint::Tcp { host, port } => {
            let stream = TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(|e| connect_error(endpoint, e))?;
            let _ = stream.set_nodelay(true);
            spawn_connection(endpoint, TokioIo::new(stream), deadline).await
        }
        Endpoint::Unix(path) => {
            let stream = UnixStream::connect(path)
                .await
                .map_err(|e| connect_error(endpoint, e))?;
            spawn_connection(endpoint, TokioIo::new(stream), deadline).await
        }
    }
}

async fn spawn_connection<T>(
    endpoint: &Endpoint,
    io: TokioIo<T>,
    deadline: Instant,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, HttpError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|source| protocol_error(endpoint, source, deadline, "connecting"))?;
    // The connection ends when the call drops its sender and body (at the latest at the
    // call's deadline); this bound is only a safety net, a little later than the deadline so
    // that the call's own timeout always fires first and a late answer reads as "timed out".
    tokio::spawn(async move {
        let _ = timeout_at(deadline + CONNECTION_GRACE, connection).await;
    });
    Ok(sender)
}

fn connect_error(endpoint: &Endpoint, error: io::Error) -> HttpError {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => HttpError::Refused(endpoint.clone()),
        io::ErrorKind::NotFound => HttpError::NotFound(endpoint.clone()),
        io::ErrorKind::PermissionDenied => HttpError::PermissionDenied {
            endpoint: endpoint.clone(),
            hint: permission_hint(endpoint),
        },
        _ => HttpError::Connect {
            endpoint: endpoint.clone(),
            source: error,
        },
    }
}

/// For a unix socket, what refused (the socket's mode or a folder above it) and the fix.
fn permission_hint(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Unix(path) => crate::host::permissions::socket_hint(path),
        Endpoint::Tcp { .. } => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_from_multiaddr() {
        let tcp = Multiaddr::parse("/ip4/127.0.0.1/tcp/1234/http").unwrap();
        assert_eq!(
            Endpoint::from_multiaddr(&tcp).unwrap(),
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 1234
            }
        );
        let unix = Multiaddr::parse("/unix//tmp/api-socket").unwrap();
        assert_eq!(
            Endpoint::from_multiaddr(&unix).unwrap().to_string(),
            "unix:/tmp/api-socket"
        );
        let tls = Multiaddr::parse("/dns/h/tcp/443/wss").unwrap();
        assert!(matches!(
            Endpoint::from_multiaddr(&tls),
            Err(HttpError::TlsUnsupported(_))
        ));
        let udp = Multiaddr::parse("/ip4/1.2.3.4/udp/1").unwrap();
        assert!(Endpoint::from_multiaddr(&udp).is_err());
    }

    #[test]
    fn ipv6_endpoints_are_bracketed() {
        let e = Endpoint::Tcp {
            host: "::1".into(),
            port: 1234,
        };
        assert_eq!(e.to_string(), "[::1]:1234");
    }

    #[tokio::test]
    async fn refused_connection_is_named() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let endpoint = Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        let req = Request::get("/").body(Full::new(Bytes::new())).unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(2);
        let err = fetch(&endpoint, req, 1024, deadline).await.unwrap_err();
        assert!(err.is_unreachable(), "{err}");
        assert!(err.to_string().contains("connection refused"), "{err}");
    }
}
