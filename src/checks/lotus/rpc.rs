//! A JSON-RPC 2.0 client for Lotus (`POST /rpc/v1`, and `/rpc/v2` beside it), over a pool of
//! keep-alive connections (http or https), with Lotus's error envelopes in words.
//!
//! The bearer token, when one is configured, is sent in the `Authorization` header and nowhere
//! else; every error message is scrubbed of it before it leaves this module.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::net::http_client::{Endpoint, HttpError, TcpPool};
use crate::secret::Scrubber;
use crate::secret::Secret;

/// JSON-RPC "method not found" (go-jsonrpc `server.go`).
const METHOD_NOT_FOUND: i64 = -32601;

/// Where the Lotus API is and how to talk to it.
#[derive(Debug, Clone)]
pub struct RpcTarget {
    pub endpoint: Endpoint,
    /// The request path, `/rpc/v1` unless the configured URL named another.
    pub path: String,
    /// The address as shown to operators (`http://127.0.0.1:1234/rpc/v1`), never with a token.
    pub display: String,
    /// TLS settings when the API is https (certificates always verified); `None`: plain HTTP.
    pub tls: Option<crate::net::tls_client::ClientTls>,
}

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    #[error("{0}")]
    Transport(String),
    #[error("{0}")]
    TimedOut(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("{display} refused the token (HTTP 401): check --lotus.token-file / FULLNODE_API_INFO, or run without a token (read methods need none)")]
    Unauthorized { display: String },
    #[error("{display} answered {method} with HTTP {status}: {body}")]
    HttpStatus {
        display: String,
        method: &'static str,
        status: u16,
        body: String,
    },
    /// The node does not serve the method; `evidence` says how it said so (`JSON-RPC -32601`,
    /// `HTTP 404`, or its own words when the error carried no code).
    #[error("{method} is not served by this node ({evidence})")]
    MethodNotFound {
        method: &'static str,
        evidence: String,
    },
    #[error(
        "{method}: {message} (give a token with that permission, or name what to watch explicitly)"
    )]
    PermissionDenied {
        method: &'static str,
        message: String,
    },
    #[error("{method} failed: {message} ({})", code_in_words(*.code))]
    Remote {
        method: &'static str,
        /// The error's code; `None` when the error object carried none (never made up).
        code: Option<i64>,
        message: String,
    },
    #[error("{method} answered with malformed JSON-RPC: {reason}")]
    Malformed {
        method: &'static str,
        reason: String,
    },
}

/// `JSON-RPC code N`, or that the error carried no code.
fn code_in_words(code: Option<i64>) -> String {
    match code {
        Some(code) => format!("JSON-RPC code {code}"),
        None => "the error carried no code".to_string(),
    }
}

impl RpcError {
    /// True when the node said it does not serve the method.
    pub fn is_not_served(&self) -> bool {
        matches!(self, RpcError::MethodNotFound { .. })
    }

    /// True when nothing listened at the address (connection refused, socket missing).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RpcError::Unreachable(_))
    }
}

/// A Lotus JSON-RPC client.
#[derive(Debug)]
pub struct RpcClient {
    target: RpcTarget,
    token: Option<Secret>,
    body_cap: usize,
    next_id: AtomicU64,
    /// Keep-alive connections, reused across calls and scrapes.
    pool: TcpPool,
    /// Removes the token (and its parts) from every answer before it is read.
    scrubber: Scrubber,
}

/// Idle connections kept to Lotus: about the calls one round makes at once (the health calls,
/// up to 8 wallet balances, the per-session constants, the F3 and finality calls).
const POOLED_CONNECTIONS: usize = 24;

/// Another JSON-RPC endpoint on the same listener as the configured one (`/rpc/v2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcPath {
    /// The request path (`/rpc/v2`).
    pub path: String,
    /// The address as shown to operators, never with a token.
    pub display: String,
}

/// The `/rpc/v2` path beside `path` (`/rpc/v1`, `/rpc/v0`, or either behind a prefix such as
/// `/lotus/rpc/v1`), with its display; `None` when `path` does not end in `/rpc/vN`.
pub fn v2_beside(path: &str, display: &str) -> Option<RpcPath> {
    let at = path.rfind("/rpc/v")?;
    let version = &path[at + "/rpc/v".len()..];
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v2 = format!("{}/rpc/v2", &path[..at]);
    let display = match display.strip_suffix(path) {
        Some(base) => format!("{base}{v2}"),
        None => display.to_string(),
    };
    Some(RpcPath { path: v2, display })
}

impl RpcClient {
    pub fn new(target: RpcTarget, token: Option<Secret>, body_cap: usize) -> RpcClient {
        let scrubber = token
            .as_ref()
            .map(|t| Scrubber::for_token(t.expose()))
            .unwrap_or_default();
        let pool = TcpPool::with_tls(POOLED_CONNECTIONS, target.tls.clone());
        RpcClient {
            target,
            token,
            scrubber,
            body_cap,
            next_id: AtomicU64::new(1),
            pool,
        }
    }

    pub fn target(&self) -> &RpcTarget {
        &self.target
    }

    /// The `/rpc/v2` endpoint beside the configured one (see [`v2_beside`]).
    pub fn v2(&self) -> Option<RpcPath> {
        v2_beside(&self.target.path, &self.target.display)
    }

    /// `Filecoin.AuthVerify` on the configured token (the token travels in the request body to
    /// Lotus only); `None` when no token is configured.
    pub fn verify_token(
        &self,
        deadline: Instant,
    ) -> Option<impl std::future::Future<Output = Result<Value, RpcError>> + '_> {
        let token = self.token.as_ref()?.expose().to_string();
        Some(async move {
            self.call("Filecoin.AuthVerify", json!([token]), deadline)
                .await
        })
    }

    /// Call `method` with `params` and return its `result`, all before `deadline`.
    pub async fn call(
        &self,
        method: &'static str,
        params: Value,
        deadline: Instant,
    ) -> Result<Value, RpcError> {
        let at = RpcPath {
            path: self.target.path.clone(),
            display: self.target.display.clone(),
        };
        self.call_at(&at, method, params, deadline).await
    }

    /// Call `method` on another endpoint of the same listener (`/rpc/v2`), over the same
    /// keep-alive connections, with the same token.
    pub async fn call_at(
        &self,
        at: &RpcPath,
        method: &'static str,
        params: Value,
        deadline: Instant,
    ) -> Result<Value, RpcError> {
        let answer = async {
            let request = self.request(at, method, params)?;
            let response = self
                .pool
                .fetch(&self.target.endpoint, request, self.body_cap, deadline)
                .await
                .map_err(transport_error)?;
            // Scrubbed before anything is parsed or cut: an answer echoing the token (an error
            // page quoting the request's headers, a node putting it in a result) carries none
            // of it on.
            let body = self.scrubber.bytes(&response.body);
            interpret(&at.display, method, response.status, &body)
        };
        answer.await.map_err(|e| self.scrub(e))
    }

    /// The JSON-RPC request for `method`, with the token (if any) in its `Authorization` header.
    fn request(
        &self,
        at: &RpcPath,
        method: &'static str,
        params: Value,
    ) -> Result<Request<Full<Bytes>>, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id});
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&at.path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", token.expose()),
            );
        }
        request
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| RpcError::Transport(format!("cannot build the {method} request: {e}")))
    }

    /// Remove the token from any text that might carry it (a server echoing headers, say).
    fn scrub(&self, error: RpcError) -> RpcError {
        let text = error.to_string();
        match self.scrubber.text(&text) {
            std::borrow::Cow::Borrowed(_) => error,
            std::borrow::Cow::Owned(clean) => RpcError::Transport(clean),
        }
    }
}

/// One timed call's outcome.
pub type Timed<T> = (Result<T, RpcError>, Duration);

/// Await a call and note how long it took.
pub async fn timed<T>(future: impl std::future::Future<Output = Result<T, RpcError>>) -> Timed<T> {
    let begun = std::time::Instant::now();
    let result = future.await;
    (result, begun.elapsed())
}

/// Read a JSON-RPC answer: the `result`, or the error in words (HTTP status, envelope, shape).
pub fn interpret(
    display: &str,
    method: &'static str,
    status: StatusCode,
    body: &[u8],
) -> Result<Value, RpcError> {
    if status == StatusCode::UNAUTHORIZED {
        return Err(RpcError::Unauthorized {
            display: display.to_string(),
        });
    }
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    // go-jsonrpc answers framework errors (-32601, ...) with HTTP 500 and a JSON envelope:
    // read the envelope whenever there is one, whatever the status.
    if let Ok(Value::Object(envelope)) = &parsed {
        if let Some(error) = envelope.get("error").filter(|e| !e.is_null()) {
            return Err(envelope_error(method, error));
        }
        if status.is_success() {
            return envelope
                .get("result")
                .cloned()
                .ok_or_else(|| RpcError::Malformed {
                    method,
                    reason: "neither result nor error in the answer".into(),
                });
        }
    }
    // An endpoint that does not exist (an old Lotus has no /rpc/v2): nothing on it is served.
    if status == StatusCode::NOT_FOUND {
        return Err(RpcError::MethodNotFound {
            method,
            evidence: format!("HTTP 404 at {display}: {}", snippet(body)),
        });
    }
    if !status.is_success() {
        return Err(RpcError::HttpStatus {
            display: display.to_string(),
            method,
            status: status.as_u16(),
            body: snippet(body),
        });
    }
    Err(RpcError::Malformed {
        method,
        reason: match parsed {
            Err(e) => format!("invalid JSON ({e}): {}", snippet(body)),
            Ok(_) => format!("not a JSON-RPC object: {}", snippet(body)),
        },
    })
}

fn envelope_error(method: &'static str, error: &Value) -> RpcError {
    let code = error.get("code").and_then(Value::as_i64);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if code == Some(METHOD_NOT_FOUND) {
        return RpcError::MethodNotFound {
            method,
            evidence: format!("JSON-RPC {METHOD_NOT_FOUND}"),
        };
    }
    if code.is_none() && says_not_served(method, &message) {
        return RpcError::MethodNotFound {
            method,
            evidence: format!("the node says \"{}\", with no error code", clip(&message)),
        };
    }
    // go-jsonrpc auth: "missing permission to invoke 'WalletList' (need 'write')", code 1.
    if message.contains("missing permission") {
        return RpcError::PermissionDenied { method, message };
    }
    RpcError::Remote {
        method,
        code,
        message,
    }
}

/// True when an error message says the method does not exist, in any of the ways Lotus-API
/// nodes other than go-jsonrpc put it ("the method X does not exist/is not available",
/// "Method not found", "unknown method", "not supported", ...). The message must be about the
/// method (name it, or say "method"), so "actor not found" is not taken for it.
fn says_not_served(method: &str, message: &str) -> bool {
    const SAYINGS: [&str; 10] = [
        "not exist",
        "doesn't exist",
        "not available",
        "unavailable",
        "not found",
        "not supported",
        "unsupported",
        "unknown",
        "not implemented",
        "no such",
    ];
    let message = message.to_ascii_lowercase();
    let short = method
        .rsplit('.')
        .next()
        .unwrap_or(method)
        .to_ascii_lowercase();
    let about_the_method = message.contains("method") || message.contains(&short);
    about_the_method && SAYINGS.iter().any(|s| message.contains(s))
}

/// A message cut to a readable length for error text.
fn clip(message: &str) -> String {
    const MAX: usize = 160;
    let message = printable(message);
    match message.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &message[..at]),
        None => message,
    }
}

/// `text` with control characters (newlines, escapes) shown as spaces, for one-line error text.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn transport_error(error: HttpError) -> RpcError {
    if matches!(error, HttpError::TimedOut { .. }) {
        RpcError::TimedOut(error.to_string())
    } else if error.is_unreachable() {
        RpcError::Unreachable(error.to_string())
    } else {
        RpcError::Transport(error.to_string())
    }
}

/// The start of a body, printable, for error messages.
fn snippet(body: &[u8]) -> String {
    const MAX: usize = 120;
    let text = printable(&String::from_utf8_lossy(&body[..body.len().min(MAX)]));
    if text.trim().is_empty() {
        "(empty body)".to_string()
    } else if body.len() > MAX {
        format!("{}...", text.trim())
    } else {
        text.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISPLAY: &str = "http://127.0.0.1:1/rpc/v1";

    fn client(token: Option<&str>) -> RpcClient {
        RpcClient::new(
            RpcTarget {
                endpoint: Endpoint::Tcp {
                    host: "127.0.0.1".into(),
                    port: 1,
                },
                path: "/rpc/v1".into(),
                display: "http://127.0.0.1:1/rpc/v1".into(),
                tls: None,
            },
            token.map(|t| Secret::new(t.to_string())),
            1024,
        )
    }

    #[test]
    fn reads_results_and_error_envelopes() {
        let ok = interpret(
            DISPLAY,
            "Filecoin.Session",
            StatusCode::OK,
            br#"{"jsonrpc":"2.0","id":1,"result":"abc"}"#,
        );
        assert_eq!(ok.unwrap(), json!("abc"));
        let missing = interpret(
            DISPLAY,
            "Filecoin.Foo",
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method 'Filecoin.Foo' not found"}}"#,
        );
        assert!(matches!(missing, Err(RpcError::MethodNotFound { .. })));
        let denied = interpret(
            DISPLAY,
            "Filecoin.WalletList",
            StatusCode::OK,
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"missing permission to invoke 'WalletList' (need 'write')"}}"#,
        );
        assert!(matches!(denied, Err(RpcError::PermissionDenied { .. })));
        let remote = interpret(
            DISPLAY,
            "Filecoin.ChainHead",
            StatusCode::OK,
            br#"{"error":{"code":1,"message":"boom"}}"#,
        );
        assert!(remote.unwrap_err().to_string().contains("boom"));
    }

    #[test]
    fn a_method_not_served_is_recognised_however_the_node_says_so() {
        let not_served = |status: StatusCode, body: &str| {
            interpret(DISPLAY, "Filecoin.SyncState", status, body.as_bytes())
        };
        for (status, body) in [
            (
                StatusCode::OK,
                r#"{"jsonrpc":"2.0","id":1,"error":{"message":"the method Filecoin.SyncState does not exist/is not available"}}"#,
            ),
            (
                StatusCode::OK,
                r#"{"error":{"message":"Method not found"}}"#,
            ),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"error":{"message":"unknown method: SyncState"}}"#,
            ),
            (
                StatusCode::OK,
                r#"{"error":{"message":"SYNCSTATE IS NOT SUPPORTED"}}"#,
            ),
            (StatusCode::NOT_FOUND, "404 page not found"),
        ] {
            let error = not_served(status, body).unwrap_err();
            assert!(error.is_not_served(), "{body}: {error}");
        }
        let no_code = not_served(
            StatusCode::OK,
            r#"{"error":{"message":"Method not found"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(no_code.contains("no error code"), "{no_code}");
        assert!(!no_code.contains("-32601"), "no code is made up: {no_code}");
        // Not about the method, or carrying a code other than -32601: a real failure.
        for body in [
            r#"{"error":{"message":"actor not found"}}"#,
            r#"{"error":{"code":1,"message":"method not found"}}"#,
        ] {
            assert!(
                !not_served(StatusCode::OK, body)
                    .unwrap_err()
                    .is_not_served(),
                "{body}"
            );
        }
        let boom = not_served(StatusCode::OK, r#"{"error":{"message":"boom"}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            boom.contains("boom") && boom.contains("carried no code") && !boom.contains("code 0"),
            "{boom}"
        );
    }

    #[test]
    fn names_http_and_shape_failures() {
        let unauthorized =
            interpret(DISPLAY, "Filecoin.Version", StatusCode::UNAUTHORIZED, b"").unwrap_err();
        assert!(
            unauthorized.to_string().contains("HTTP 401"),
            "{unauthorized}"
        );
        let bad_gateway = interpret(
            DISPLAY,
            "Filecoin.Version",
            StatusCode::BAD_GATEWAY,
            b"<html>nginx</html>",
        )
        .unwrap_err();
        assert!(
            bad_gateway
                .to_string()
                .contains("HTTP 502: <html>nginx</html>"),
            "{bad_gateway}"
        );
        let invalid =
            interpret(DISPLAY, "Filecoin.Version", StatusCode::OK, b"{not json").unwrap_err();
        assert!(invalid.to_string().contains("invalid JSON"), "{invalid}");
        let no_result = interpret(
            DISPLAY,
            "Filecoin.Version",
            StatusCode::OK,
            br#"{"jsonrpc":"2.0"}"#,
        )
        .unwrap_err();
        assert!(
            no_result.to_string().contains("neither result nor error"),
            "{no_result}"
        );
        let array = interpret(DISPLAY, "Filecoin.Version", StatusCode::OK, b"[1,2]").unwrap_err();
        assert!(
            array.to_string().contains("not a JSON-RPC object"),
            "{array}"
        );
    }

    #[test]
    fn the_v2_endpoint_sits_beside_the_configured_one() {
        let v2 = |path: &str, display: &str| v2_beside(path, display);
        assert_eq!(
            v2("/rpc/v1", "http://127.0.0.1:1234/rpc/v1"),
            Some(RpcPath {
                path: "/rpc/v2".into(),
                display: "http://127.0.0.1:1234/rpc/v2".into()
            })
        );
        assert_eq!(
            v2("/lotus/rpc/v0", "http://h:80/lotus/rpc/v0").map(|p| p.path),
            Some("/lotus/rpc/v2".into())
        );
        assert_eq!(
            v2("/rpc/v1", "unix:/run/lotus.sock:/rpc/v1").map(|p| p.display),
            Some("unix:/run/lotus.sock:/rpc/v2".into())
        );
        assert_eq!(
            v2("/rpc/v2", "http://h:1/rpc/v2").map(|p| p.path),
            Some("/rpc/v2".into())
        );
        assert_eq!(v2("/api", "http://h:1/api"), None);
        assert_eq!(v2("/rpc/vx", "http://h:1/rpc/vx"), None);
    }

    #[test]
    fn scrubs_the_token_from_errors() {
        let c = client(Some("s3cr3t-token"));
        let echoed = interpret(
            DISPLAY,
            "Filecoin.Version",
            StatusCode::BAD_REQUEST,
            b"bad header Bearer s3cr3t-token",
        );
        let scrubbed = c.scrub(echoed.unwrap_err()).to_string();
        assert!(!scrubbed.contains("s3cr3t-token"), "{scrubbed}");
        assert!(scrubbed.contains("<redacted>"), "{scrubbed}");
    }
}
