//! A fake Kubo RPC API on loopback TCP, speaking the shape the real Kubo 0.43.1 answers:
//! `POST /api/v0/id` 200 with `ID`, `PublicKey`, `Addresses`, `AgentVersion`, `Protocols`
//! (`Content-Type: application/json`, `Server: kubo/…`, `Trailer: X-Stream-Error`, chunked),
//! any GET 405 `405 - Method Not Allowed` with `Allow: OPTIONS, POST`, unknown paths 404
//! `404 page not found`. Its [`Mode`] can be changed while it serves; a refusing Kubo is a port
//! bound and never listened on ([`FakeKubo::refusing`]).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::stream;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

type Body = BoxBody<Bytes, Infallible>;

/// The peer id the fake answers with.
pub const PEER_ID: &str = "12D3KooWG7szmm1zJZ8i6737gW1Lvz3pkmmQw4kmatwA5T9hRrus";
/// The release the fake answers with.
pub const VERSION: &str = "0.43.1";

/// How the fake answers `POST /api/v0/id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// As a running Kubo: its identity.
    Up,
    /// Accepts the connection and reads the request, never answers (a SIGSTOPped daemon).
    Hung,
    /// HTTP 500 with Kubo's error body (`{"Message":…,"Code":0,"Type":"error"}`).
    Failing(String),
    /// Something else on the port: an HTTP server that is not Kubo (200, HTML).
    Impostor,
}

/// A running fake Kubo (or a refusing port); stops serving when dropped.
pub struct FakeKubo {
    port: u16,
    /// How it answers now (see [`FakeKubo::set_mode`]).
    mode: Arc<Mutex<Mode>>,
    /// Every request as `METHOD path`, in order.
    pub requests: Arc<Mutex<Vec<String>>>,
    task: Option<JoinHandle<()>>,
    /// A refusing fake's socket: bound, never listened on, so every connection is refused and
    /// no other test can take the port while this fake lives.
    _reserved: Option<tokio::net::TcpSocket>,
}

impl Drop for FakeKubo {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl FakeKubo {
    /// Serve on 127.0.0.1 in `mode`.
    pub async fn start(mode: Mode) -> FakeKubo {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
        let port = listener.local_addr().expect("local addr").port();
        let mode = Arc::new(Mutex::new(mode));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (shared_mode, shared_requests) = (mode.clone(), requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (mode, requests) = (shared_mode.clone(), shared_requests.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (mode, requests) = (mode.clone(), requests.clone());
                        async move {
                            requests.lock().unwrap().push(format!(
                                "{} {}",
                                request.method(),
                                request.uri().path()
                            ));
                            let mode = mode.lock().unwrap().clone();
                            if mode == Mode::Hung && request.uri().path() == "/api/v0/id" {
                                std::future::pending::<()>().await;
                            }
                            Ok::<_, Infallible>(answer(&request, &mode))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeKubo {
            port,
            mode,
            requests,
            task: Some(task),
            _reserved: None,
        }
    }

    /// A port where nothing listens: connections are refused (a stopped Kubo).
    pub fn refusing() -> FakeKubo {
        let reserved = tokio::net::TcpSocket::new_v4().expect("socket");
        reserved
            .bind("127.0.0.1:0".parse().expect("address"))
            .expect("bind without listening");
        let port = reserved.local_addr().expect("local addr").port();
        FakeKubo {
            port,
            mode: Arc::new(Mutex::new(Mode::Up)),
            requests: Arc::new(Mutex::new(Vec::new())),
            task: None,
            _reserved: Some(reserved),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its API as Kubo's config writes it.
    pub fn multiaddr(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}", self.port)
    }

    /// Its `kubo` label: `127.0.0.1:<port>`.
    pub fn label(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// The requests it got, `METHOD path`.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// The real daemon's answer to `request` in `mode`.
fn answer(request: &Request<Incoming>, mode: &Mode) -> Response<Body> {
    if *mode == Mode::Impostor {
        return text(
            StatusCode::OK,
            "text/html",
            "<html><body>It works!</body></html>\n",
        );
    }
    if request.uri().path() != "/api/v0/id" {
        return text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "404 page not found\n",
        );
    }
    if request.method() != Method::POST {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "405 - Method Not Allowed\n",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, "OPTIONS, POST".parse().unwrap());
        return response;
    }
    match mode {
        Mode::Failing(message) => {
            let body = serde_json::json!({"Message": message, "Code": 0, "Type": "error"});
            kubo_json(StatusCode::INTERNAL_SERVER_ERROR, format!("{body}\n"))
        }
        _ => kubo_json(StatusCode::OK, id_json()),
    }
}

/// `/api/v0/id` of an offline Kubo with one swarm address.
fn id_json() -> String {
    let body = serde_json::json!({
        "ID": PEER_ID,
        "PublicKey": "CAESIF2iuNY7HwldrmtvPPTMmBZ5nIGMqtFmG+hP8UR5TeCe",
        "Addresses": [format!("/ip4/127.0.0.1/tcp/4001/p2p/{PEER_ID}")],
        "AgentVersion": format!("kubo/{VERSION}"),
        "Protocols": ["/ipfs/bitswap/1.2.0", "/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"],
    });
    format!("{body}\n")
}

/// A JSON answer as Kubo's command library streams it: chunked, with the stream-error trailer
/// announced.
fn kubo_json(status: StatusCode, body: String) -> Response<Body> {
    let chunks = stream::iter(vec![Ok::<_, Infallible>(Frame::data(Bytes::from(body)))]);
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::SERVER, format!("kubo/{VERSION}"))
        .header(header::TRAILER, "X-Stream-Error")
        .header(header::VARY, "Origin")
        .body(BodyExt::boxed(StreamBody::new(chunks)))
        .unwrap()
}

fn text(status: StatusCode, content_type: &str, body: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header("X-Content-Type-Options", "nosniff")
        .body(Full::new(Bytes::from_static(body.as_bytes())).boxed())
        .unwrap()
}
