//! A JSON-RPC 2.0 client for Lotus (`POST /rpc/v1`, and `/rpc/v2` beside it), over a pool of
//! keep-alive connections (http or https); its answers are read by [`interpret`] (`envelope`).
//!
//! The bearer token, when one is configured, is sent in the `Authorization` header and nowhere
//! else; every error message is scrubbed of it before it leaves this module.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::checks::lotus::api_info::{ends_in_rpc_version, shown_path, shown_query};
use crate::checks::lotus::envelope::transport_error;
pub use crate::checks::lotus::envelope::{interpret, RpcError};
use crate::net::http_client::{Endpoint, TcpPool};
use crate::secret::Scrubber;
use crate::secret::Secret;

/// Where the Lotus API is and how to talk to it. Its `Debug` shows what [`Self::display`]
/// shows (the path and query may carry a key).
#[derive(Clone)]
pub struct RpcTarget {
    pub endpoint: Endpoint,
    /// `scheme://host:port` (or `unix:PATH:`) as shown, before the path.
    pub origin: String,
    /// The request path (`/rpc/v1`, or the path of a URL given as is), without the query.
    pub path: String,
    /// The query kept from the address (`?apikey=...`, never `token=`), `""` when none.
    pub query: String,
    /// The address as shown to operators (`http://127.0.0.1:1234/rpc/v1`): never the token,
    /// key-like path segments and query values `<redacted>`.
    pub display: String,
    /// Secrets the address carries besides the token (query values, key-like path segments):
    /// sent where the address puts them, never shown, scrubbed from every answer.
    pub secrets: Vec<Secret>,
    /// TLS settings when the API is https (certificates always verified); `None`: plain HTTP.
    pub tls: Option<crate::net::tls_client::ClientTls>,
}

impl std::fmt::Debug for RpcTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcTarget")
            .field("endpoint", &self.endpoint)
            .field("display", &self.display)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl RpcTarget {
    /// A plain-http target at `origin` + `path` + `query`, shown with its secrets redacted.
    pub fn new(endpoint: Endpoint, origin: String, path: String, query: String) -> RpcTarget {
        let display = format!("{origin}{}{}", shown_path(&path), shown_query(&query));
        RpcTarget {
            endpoint,
            origin,
            path,
            query,
            display,
            secrets: Vec::new(),
            tls: None,
        }
    }

    /// Another path of the same listener, with the same query.
    pub fn at(&self, path: &str) -> RpcPath {
        RpcPath {
            path: format!("{path}{}", self.query),
            display: format!(
                "{}{}{}",
                self.origin,
                shown_path(path),
                shown_query(&self.query)
            ),
        }
    }

    /// The `/rpc/v2` endpoint beside this one, derived only where the path ends in `/rpc/vN`
    /// (`/rpc/v1`, `/rpc/v0`, either behind a prefix such as `/lotus/rpc/v1`). A path given as
    /// is (`/filecoin`, `/v1/KEY/rpc`) says nothing of where v2 would be: `None`.
    pub fn v2(&self) -> Option<RpcPath> {
        if !ends_in_rpc_version(&self.path) {
            return None;
        }
        let at = self.path.rfind("/rpc/v")?;
        Some(self.at(&format!("{}/rpc/v2", &self.path[..at])))
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
    /// Remove the token (and its parts) and the address's own secrets from every answer before
    /// it is read.
    scrubbers: Vec<Scrubber>,
}

/// Idle connections kept to Lotus: about the calls one round makes at once (the health calls,
/// up to 8 wallet balances and 4 wallets' two nonce calls, the per-session constants, the F3 and
/// finality calls). Fewer, and a round with many wallets closes the extra connections it opened
/// only to open them again the next round (at 24, the bench's 100-wallet row left 316-580
/// sockets in the host's TCP table instead of 70).
const POOLED_CONNECTIONS: usize = 32;

/// Another JSON-RPC endpoint on the same listener as the configured one (`/rpc/v2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcPath {
    /// The request path and query (`/rpc/v2`).
    pub path: String,
    /// The address as shown to operators, never with a secret.
    pub display: String,
}

/// The scrubbers for a token and an address's own secrets.
pub fn scrubbers(token: Option<&Secret>, target: &RpcTarget) -> Vec<Scrubber> {
    token
        .into_iter()
        .chain(&target.secrets)
        .map(|secret| Scrubber::for_token(secret.expose()))
        .collect()
}

/// `bytes` with every scrubber's secrets replaced.
fn scrub_bytes<'a>(scrubbers: &[Scrubber], bytes: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
    let mut current = std::borrow::Cow::Borrowed(bytes);
    for scrubber in scrubbers {
        if let std::borrow::Cow::Owned(clean) = scrubber.bytes(&current) {
            current = std::borrow::Cow::Owned(clean);
        }
    }
    current
}

impl RpcClient {
    pub fn new(target: RpcTarget, token: Option<Secret>, body_cap: usize) -> RpcClient {
        let scrubbers = scrubbers(token.as_ref(), &target);
        let pool = TcpPool::with_tls(POOLED_CONNECTIONS, target.tls.clone());
        RpcClient {
            target,
            token,
            scrubbers,
            body_cap,
            next_id: AtomicU64::new(1),
            pool,
        }
    }

    pub fn target(&self) -> &RpcTarget {
        &self.target
    }

    /// The `/rpc/v2` endpoint beside the configured one (see [`RpcTarget::v2`]).
    pub fn v2(&self) -> Option<RpcPath> {
        self.target.v2()
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
        let at = self.target.at(&self.target.path);
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
            let body = scrub_bytes(&self.scrubbers, &response.body);
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

    /// Remove the token and the address's secrets from any text that might carry them (a
    /// server echoing headers, say).
    fn scrub(&self, error: RpcError) -> RpcError {
        let text = error.to_string();
        let mut clean = std::borrow::Cow::Borrowed(text.as_str());
        for scrubber in &self.scrubbers {
            if let std::borrow::Cow::Owned(scrubbed) = scrubber.text(&clean) {
                clean = std::borrow::Cow::Owned(scrubbed);
            }
        }
        match clean {
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    const DISPLAY: &str = "http://127.0.0.1:1/rpc/v1";

    fn client(token: Option<&str>) -> RpcClient {
        RpcClient::new(
            crate::checks::lotus::rpc_target("http://127.0.0.1:1")
                .unwrap()
                .target,
            token.map(|t| Secret::new(t.to_string())),
            1024,
        )
    }

    #[test]
    fn the_v2_endpoint_sits_beside_the_configured_one_only_where_it_can_be_derived() {
        let v2 = |address: &str| {
            crate::checks::lotus::rpc_target(address)
                .unwrap()
                .target
                .v2()
        };
        assert_eq!(
            v2("http://127.0.0.1:1234/rpc/v1"),
            Some(RpcPath {
                path: "/rpc/v2".into(),
                display: "http://127.0.0.1:1234/rpc/v2".into()
            })
        );
        assert_eq!(
            v2("http://h/lotus/rpc/v0").map(|p| p.path),
            Some("/lotus/rpc/v2".into())
        );
        assert_eq!(
            v2("/unix/run/lotus.sock").map(|p| p.display),
            Some("unix:/run/lotus.sock:/rpc/v2".into())
        );
        assert_eq!(
            v2("http://h:1/rpc/v2").map(|p| p.path),
            Some("/rpc/v2".into())
        );
        // A path given as is says nothing of where v2 would be.
        assert_eq!(v2("http://h:1/api"), None);
        assert_eq!(v2("https://h/filecoin"), None);
        assert_eq!(v2("https://h/v1/KEY/rpc"), None);
        assert_eq!(v2("http://h:1/rpc/vx"), None);
        // The query goes along; its values and key-like segments are never shown.
        let key = "0123456789abcdef0123456789abcdef";
        let beside = v2(&format!("https://h/{key}/rpc/v1?apikey={key}")).unwrap();
        assert_eq!(beside.path, format!("/{key}/rpc/v2?apikey={key}"));
        assert_eq!(
            beside.display,
            "https://h:443/<redacted>/rpc/v2?apikey=<redacted>"
        );
    }

    #[test]
    fn scrubs_the_address_secrets_from_answers_and_errors() {
        let key = "0123456789abcdef0123456789abcdef";
        let target = crate::checks::lotus::rpc_target(&format!("http://127.0.0.1:1/v1/{key}/rpc"))
            .unwrap()
            .target;
        let c = RpcClient::new(target, None, 1024);
        let echoed = interpret(
            DISPLAY,
            "Filecoin.Version",
            StatusCode::BAD_REQUEST,
            format!("no route for POST /v1/{key}/rpc").as_bytes(),
        );
        let scrubbed = c.scrub(echoed.unwrap_err()).to_string();
        assert!(!scrubbed.contains(key), "{scrubbed}");
        let body = format!("error at /v1/{key}/rpc");
        assert!(
            !String::from_utf8_lossy(&scrub_bytes(&c.scrubbers, body.as_bytes())).contains(key)
        );
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
