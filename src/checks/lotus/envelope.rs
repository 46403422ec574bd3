//! Reading a Lotus JSON-RPC answer: the `result`, or why there is none in words ([`RpcError`]):
//! the HTTP status (401, a front's 429 or 503, 404), go-jsonrpc's error envelope (HTTP 500 for
//! framework errors such as -32601, 200 and code 1 for a method's own), or the shape.
//!
//! A method the node does not serve is recognised however it says so: `-32601`, HTTP 404, or
//! the words ("does not exist", "is not available", "method not found", ...) under no code or
//! under a wrong one, except a permission error, which stays one.

use http::StatusCode;
use serde_json::Value;

use crate::net::http_client::HttpError;

/// JSON-RPC "method not found" (go-jsonrpc `server.go`).
const METHOD_NOT_FOUND: i64 = -32601;

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
    /// HTTP 429 from whatever answers at the address (lotus-gateway's per-host limit, a proxy's
    /// rate limit, a hosted endpoint's quota): Lotus's front is there and says "later".
    #[error("rate limited: {display} answered {method} with HTTP 429 Too Many Requests (a proxy or gateway in front of Lotus limits the exporter's calls){}", body_part(.body))]
    RateLimited {
        display: String,
        method: &'static str,
        body: String,
    },
    /// HTTP 503 from whatever answers at the address: there, but unavailable (overloaded, in
    /// maintenance, or limiting requests: nginx's `limit_req` answers 503).
    #[error("unavailable: {display} answered {method} with HTTP 503 Service Unavailable (the proxy or gateway in front of Lotus, or Lotus, is overloaded, in maintenance or limiting requests){}", body_part(.body))]
    Unavailable {
        display: String,
        method: &'static str,
        body: String,
    },
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

/// `: BODY` for an answer that said something, nothing for an empty one.
fn body_part(body: &str) -> String {
    if body == EMPTY_BODY {
        String::new()
    } else {
        format!(": {body}")
    }
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

    /// True when Lotus's front (a proxy, a gateway, a hosted endpoint) answered and said
    /// "later": HTTP 429 (rate limited) or 503 (unavailable). Something is there: not a stop.
    pub fn is_front_refusal(&self) -> bool {
        matches!(
            self,
            RpcError::RateLimited { .. } | RpcError::Unavailable { .. }
        )
    }

    /// True when an endpoint answered in a way that says it serves nothing of this API there:
    /// a method not served (HTTP 404, "method not found" in any words), a reverse proxy's
    /// refusal of the path (HTTP 403, 405, 410, 501), or a page that is not JSON-RPC at all.
    /// Asked of the `/rpc/v2` endpoint beside the configured one, which the operator never named.
    pub fn is_endpoint_refusal(&self) -> bool {
        match self {
            RpcError::MethodNotFound { .. } | RpcError::Malformed { .. } => true,
            RpcError::HttpStatus { status, .. } => matches!(status, 403 | 405 | 410 | 501),
            _ => false,
        }
    }
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
    // go-jsonrpc never answers 429 or 503 (its errors are 200, 400 and 500): these come from
    // what stands in front of Lotus, whatever the body says.
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(RpcError::RateLimited {
            display: display.to_string(),
            method,
            body: snippet(body),
        });
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        return Err(RpcError::Unavailable {
            display: display.to_string(),
            method,
            body: snippet(body),
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
    // go-jsonrpc auth: "missing permission to invoke 'WalletList' (need 'write')", code 1. A
    // permission error is never taken for a method not served, whatever else it says.
    if message.contains("missing permission") {
        return RpcError::PermissionDenied { method, message };
    }
    if code == Some(METHOD_NOT_FOUND) {
        return RpcError::MethodNotFound {
            method,
            evidence: format!("JSON-RPC {METHOD_NOT_FOUND}"),
        };
    }
    // The words count whatever the code: nodes answer a method they lack under no code, or a
    // wrong one (seen: "does not exist/is not available" under -32700, parse error).
    if says_not_served(method, &message) {
        let evidence = match code {
            None => format!("the node says \"{}\", with no error code", clip(&message)),
            Some(code) => format!(
                "the node says \"{}\", under JSON-RPC code {code}",
                clip(&message)
            ),
        };
        return RpcError::MethodNotFound { method, evidence };
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

pub(crate) fn transport_error(error: HttpError) -> RpcError {
    if matches!(error, HttpError::TimedOut { .. }) {
        RpcError::TimedOut(error.to_string())
    } else if error.is_unreachable() {
        RpcError::Unreachable(error.to_string())
    } else {
        RpcError::Transport(error.to_string())
    }
}

/// What [`snippet`] says of a body with nothing in it.
const EMPTY_BODY: &str = "(empty body)";

/// The start of a body, printable, for error messages.
fn snippet(body: &[u8]) -> String {
    const MAX: usize = 120;
    let text = printable(&String::from_utf8_lossy(&body[..body.len().min(MAX)]));
    if text.trim().is_empty() {
        EMPTY_BODY.to_string()
    } else if body.len() > MAX {
        format!("{}...", text.trim())
    } else {
        text.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DISPLAY: &str = "http://127.0.0.1:1/rpc/v1";

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
        // Not about the method: a real failure, code or none.
        for body in [
            r#"{"error":{"message":"actor not found"}}"#,
            r#"{"error":{"code":1,"message":"actor not found"}}"#,
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
    fn the_words_count_whatever_the_code_except_a_permission_error() {
        let answer = |status: StatusCode, body: &str| {
            interpret(DISPLAY, "Filecoin.F3IsRunning", status, body.as_bytes()).unwrap_err()
        };
        // Seen: the JSON-RPC spec's words for -32601 under -32700 (parse error), HTTP 500.
        for (status, body) in [
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32700,"message":"the method Filecoin.F3IsRunning does not exist/is not available"}}"#,
            ),
            (
                StatusCode::OK,
                r#"{"error":{"code":1,"message":"method not found"}}"#,
            ),
            (
                StatusCode::OK,
                r#"{"error":{"code":-32000,"message":"Method not found"}}"#,
            ),
            (
                StatusCode::BAD_REQUEST,
                r#"{"error":{"code":-32600,"message":"unknown method F3IsRunning"}}"#,
            ),
            (
                StatusCode::OK,
                r#"{"error":{"code":0,"message":"F3IsRunning is not supported"}}"#,
            ),
        ] {
            let error = answer(status, body);
            assert!(error.is_not_served(), "{body}: {error}");
        }
        let shown = answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":{"code":-32700,"message":"the method Filecoin.F3IsRunning does not exist/is not available"}}"#,
        )
        .to_string();
        assert!(
            shown.contains("not served") && shown.contains("under JSON-RPC code -32700"),
            "the code it came with is said, not hidden: {shown}"
        );
        // A permission error stays one, whatever words it carries.
        let denied = answer(
            StatusCode::OK,
            r#"{"error":{"code":1,"message":"missing permission to invoke 'F3IsRunning' (need 'admin'): method not available"}}"#,
        );
        assert!(
            matches!(denied, RpcError::PermissionDenied { .. }),
            "{denied}"
        );
    }

    #[test]
    fn a_front_that_says_later_is_named_and_is_no_stop() {
        let answer = |status: StatusCode, body: &[u8]| {
            interpret(DISPLAY, "Filecoin.Version", status, body).unwrap_err()
        };
        // lotus-gateway's per-host limit: WriteHeader(429), no body (gateway/handler.go).
        let limited = answer(StatusCode::TOO_MANY_REQUESTS, b"");
        assert!(limited.is_front_refusal(), "{limited}");
        let text = limited.to_string();
        assert!(
            text.starts_with("rate limited: ")
                && text.contains("HTTP 429")
                && !text.contains("empty body"),
            "{text}"
        );
        // Even a JSON-RPC envelope under 429 is the front's word (go-jsonrpc never sends 429).
        let limited = answer(
            StatusCode::TOO_MANY_REQUESTS,
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"limit exceeded"}}"#,
        );
        assert!(limited.is_front_refusal() && limited.to_string().contains("limit exceeded"));
        let unavailable = answer(StatusCode::SERVICE_UNAVAILABLE, b"<html>503</html>");
        assert!(unavailable.is_front_refusal(), "{unavailable}");
        assert!(
            unavailable.to_string().starts_with("unavailable: ")
                && unavailable.to_string().contains("HTTP 503"),
            "{unavailable}"
        );
        for status in [
            StatusCode::BAD_GATEWAY,
            StatusCode::GATEWAY_TIMEOUT,
            StatusCode::FORBIDDEN,
        ] {
            let error = answer(status, b"");
            assert!(
                !error.is_front_refusal() && !error.is_unreachable(),
                "{error}"
            );
        }
    }

    #[test]
    fn a_proxy_refusing_an_endpoint_is_told_from_a_failure() {
        let answer = |status: StatusCode, body: &[u8]| {
            interpret(
                DISPLAY,
                "Filecoin.ChainGetTipSetFinalityStatus",
                status,
                body,
            )
            .unwrap_err()
        };
        let nginx = b"<html><head><title>403 Forbidden</title></head><body>nginx</body></html>";
        for status in [
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
            StatusCode::METHOD_NOT_ALLOWED,
            StatusCode::GONE,
            StatusCode::NOT_IMPLEMENTED,
            StatusCode::OK,
        ] {
            let error = answer(status, nginx);
            assert!(error.is_endpoint_refusal(), "{status}: {error}");
        }
        for status in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::UNAUTHORIZED,
        ] {
            let error = answer(status, nginx);
            assert!(!error.is_endpoint_refusal(), "{status}: {error}");
        }
        let remote = answer(
            StatusCode::OK,
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"boom"}}"#,
        );
        assert!(!remote.is_endpoint_refusal(), "{remote}");
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
}
