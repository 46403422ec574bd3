//! The few ipfs-cluster REST API calls the follow check makes (`/id`, `/pins`, `/health/graph`),
//! over TCP or a unix socket, each under the scrape deadline and a body cap.
//!
//! An endpoint is only taken for an ipfs-cluster REST API when `/id` answers 200 with an ID object
//! (see [`parse_id`]); anything else is [`ApiError::NotClusterApi`], whose message says what
//! answered instead. That is what keeps ipfs-cluster-service's pinning-service API (127.0.0.1:9097
//! by default, which answers `/health` 204 and `/pins` 200 like a healthy peer) from passing.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{header, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use tokio::time::{timeout_at, Instant};

use super::pins::{excerpt, PinCounter, PinCounts, PinStreamError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::net::http_client::{self, Endpoint, HttpError};
use crate::secret::{Scrubber, StreamScrubber};

/// Port of ipfs-cluster-service's pinning-service API (`api/pinsvcapi/config.go`).
const PINSVCAPI_DEFAULT_PORT: u16 = 9097;

/// Why a REST API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(
        "{endpoint} answered {path} with {answer}: this is not an ipfs-cluster REST API{hint}"
    )]
    NotClusterApi {
        endpoint: Endpoint,
        path: &'static str,
        answer: String,
        hint: String,
    },
    #[error("{endpoint} answered {path} with {answer}")]
    Status {
        endpoint: Endpoint,
        path: String,
        answer: String,
    },
    #[error("{endpoint} answered {path} with a body that is not the expected JSON ({reason})")]
    BadJson {
        endpoint: Endpoint,
        path: &'static str,
        reason: String,
    },
    #[error("{endpoint} {path}: {source}")]
    PinStream {
        endpoint: Endpoint,
        path: String,
        source: PinStreamError,
    },
    #[error("{endpoint} {path}: the stream ended with X-Stream-Error: {message}")]
    StreamError {
        endpoint: Endpoint,
        path: String,
        message: String,
    },
}

impl ApiError {
    /// True when the call ran out of time (the check is then "timed out", not "failed").
    pub fn is_timeout(&self) -> bool {
        matches!(self, ApiError::Http(HttpError::TimedOut { .. }))
    }

    /// True when nothing listens there (connection refused, socket file missing).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ApiError::Http(e) if e.is_unreachable())
    }

    /// True when the connection was refused (a socket file with no listener behind it).
    pub fn is_refused(&self) -> bool {
        matches!(self, ApiError::Http(HttpError::Refused(_)))
    }
}

/// The parts of the cluster `ID` object (`api/types.go`) the exporter uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterId {
    pub id: String,
    pub peername: String,
    pub version: String,
    pub rpc_protocol_version: String,
    /// Cluster peers this peer sees, itself included (CRDT: every peer with a current `ping`).
    pub cluster_peers: Vec<String>,
    /// Own libp2p addresses (`/ip4/.../tcp/9096/p2p/<id>`).
    pub addresses: Vec<String>,
    /// `ipfs.error`: non-empty when the peer cannot reach its IPFS daemon; `None` when `/id` has
    /// no `ipfs` object (null or absent): then nothing is known about IPFS.
    pub ipfs_error: Option<String>,
}

impl ClusterId {
    /// Cluster peers besides this one.
    pub fn other_peers(&self) -> u64 {
        self.cluster_peers.iter().filter(|p| **p != self.id).count() as u64
    }
}

#[derive(Deserialize)]
struct RawId {
    id: Option<String>,
    cluster_peers: Option<Vec<String>>,
    #[serde(default)]
    peername: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    rpc_protocol_version: Option<String>,
    #[serde(default)]
    addresses: Option<Vec<String>>,
    #[serde(default)]
    ipfs: Option<RawIpfsId>,
}

#[derive(Deserialize)]
struct RawIpfsId {
    #[serde(default)]
    error: Option<String>,
}

/// Read an `/id` body. The rule for "this is an ipfs-cluster ID object": a JSON object with a
/// non-empty string `id`, an array of strings `cluster_peers`, and a non-empty string `version`
/// or `rpc_protocol_version` (ipfs-cluster fills all three; no other daemon on the usual ports
/// answers `/id` with that combination). `Err` carries why not, in words.
pub fn parse_id(body: &[u8]) -> Result<ClusterId, String> {
    let raw: RawId = serde_json::from_slice(body).map_err(|e| format!("not an ID object: {e}"))?;
    let id = raw
        .id
        .filter(|id| !id.is_empty())
        .ok_or("no \"id\" string")?;
    let cluster_peers = raw.cluster_peers.ok_or("no \"cluster_peers\" array")?;
    let version = raw.version.unwrap_or_default();
    let rpc_protocol_version = raw.rpc_protocol_version.unwrap_or_default();
    if version.is_empty() && rpc_protocol_version.is_empty() {
        return Err("no \"version\" nor \"rpc_protocol_version\"".to_string());
    }
    Ok(ClusterId {
        id,
        peername: raw.peername.unwrap_or_default(),
        version,
        rpc_protocol_version,
        cluster_peers,
        addresses: raw.addresses.unwrap_or_default(),
        ipfs_error: raw.ipfs.map(|i| i.error.unwrap_or_default()),
    })
}

#[derive(Deserialize)]
struct RawGraph {
    cluster_id: Option<String>,
    cluster_trust_links: Option<BTreeMap<String, bool>>,
}

/// Trusted peers in a `/health/graph` body: `cluster_trust_links` entries that are `true`,
/// excluding the peer itself (always trusted).
pub fn parse_trusted_peers(body: &[u8], own_id: Option<&str>) -> Result<u64, String> {
    let graph: RawGraph =
        serde_json::from_slice(body).map_err(|e| format!("not a ConnectGraph: {e}"))?;
    let links = graph
        .cluster_trust_links
        .ok_or("no \"cluster_trust_links\" map")?;
    let own = own_id.map(str::to_string).or(graph.cluster_id);
    Ok(links
        .iter()
        .filter(|(peer, trusted)| **trusted && Some(peer.as_str()) != own.as_deref())
        .count() as u64)
}

/// A client for one follower's REST API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub endpoint: Endpoint,
    /// `Authorization` header value, when basic auth is configured.
    authorization: Option<String>,
    /// Removes the credentials (in every form) from every answer before it is read.
    scrubber: Scrubber,
    body_cap: usize,
    line_cap: usize,
}

impl ApiClient {
    /// A client for `endpoint`; `basic_auth` is `user:password`.
    pub fn new(
        endpoint: Endpoint,
        basic_auth: Option<&str>,
        body_cap: usize,
        line_cap: usize,
    ) -> ApiClient {
        ApiClient {
            endpoint,
            authorization: basic_auth.map(|creds| format!("Basic {}", STANDARD.encode(creds))),
            scrubber: basic_auth.map(Scrubber::for_basic_auth).unwrap_or_default(),
            body_cap,
            line_cap,
        }
    }

    /// `GET /id`, accepted only when it is an ipfs-cluster ID object.
    pub async fn id(&self, deadline: Instant) -> Result<ClusterId, ApiError> {
        const PATH: &str = "/id";
        let response =
            http_client::fetch(&self.endpoint, self.get(PATH)?, self.body_cap, deadline).await?;
        let response = self.scrubbed(response);
        if matches!(
            response.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Err(ApiError::Status {
                endpoint: self.endpoint.clone(),
                path: PATH.to_string(),
                answer: format!(
                    "{} (credentials refused or missing: check --follow.basic-auth-file)",
                    describe(response.status, &response.body)
                ),
            });
        }
        if response.status != StatusCode::OK {
            return Err(self.not_cluster(PATH, describe(response.status, &response.body)));
        }
        parse_id(&response.body).map_err(|reason| {
            self.not_cluster(PATH, format!("200 {} ({reason})", excerpt(&response.body)))
        })
    }

    /// `GET /health`: true when it answers 204, as ipfs-cluster's REST API does at once without
    /// asking its IPFS daemon and without credentials (`api/common/api.go`). Asked beside `/id`,
    /// which waits on the IPFS daemon: the follower answering here while `/id` stalls is
    /// waiting on IPFS, not hung itself.
    pub async fn health(&self, deadline: Instant) -> bool {
        let Ok(request) = self.get("/health") else {
            return false;
        };
        matches!(
            http_client::send(&self.endpoint, request, deadline).await,
            Ok(response) if response.status() == StatusCode::NO_CONTENT
        )
    }

    /// `GET /health/graph`: the number of trusted peers besides `own_id`.
    pub async fn trusted_peers(&self, own_id: &str, deadline: Instant) -> Result<u64, ApiError> {
        const PATH: &str = "/health/graph";
        let response =
            http_client::fetch(&self.endpoint, self.get(PATH)?, self.body_cap, deadline).await?;
        let response = self.scrubbed(response);
        if response.status != StatusCode::OK {
            return Err(ApiError::Status {
                endpoint: self.endpoint.clone(),
                path: PATH.to_string(),
                answer: describe(response.status, &response.body),
            });
        }
        parse_trusted_peers(&response.body, Some(own_id)).map_err(|reason| ApiError::BadJson {
            endpoint: self.endpoint.clone(),
            path: PATH,
            reason,
        })
    }

    /// Stream `GET /pins?local=true[&filter=...]` and count by `own_id`'s status. 204 is zero
    /// pins; a non-empty `X-Stream-Error` trailer is an error.
    pub async fn pins(
        &self,
        filter: Option<&[&str]>,
        own_id: Option<&str>,
        deadline: Instant,
    ) -> Result<PinCounts, ApiError> {
        let path = match filter {
            Some(states) => format!("/pins?local=true&filter={}", states.join(",")),
            None => "/pins?local=true".to_string(),
        };
        let mut request = self.get(&path)?;
        // hyper (like any HTTP/1.1 server) only sends trailers to clients that accept them.
        request
            .headers_mut()
            .insert(header::TE, http::HeaderValue::from_static("trailers"));
        let response = http_client::send(&self.endpoint, request, deadline).await?;
        let (parts, body) = response.into_parts();
        match parts.status {
            StatusCode::NO_CONTENT => return Ok(PinCounts::default()),
            StatusCode::OK => {}
            status => {
                let body = http_client::read_body(&self.endpoint, body, self.body_cap, deadline)
                    .await
                    .unwrap_or_default();
                let body = self.scrubber.bytes(&body);
                return Err(ApiError::Status {
                    endpoint: self.endpoint.clone(),
                    path,
                    answer: describe(status, &body),
                });
            }
        }
        self.count_stream(&path, body, own_id, deadline).await
    }

    async fn count_stream(
        &self,
        path: &str,
        mut body: hyper::body::Incoming,
        own_id: Option<&str>,
        deadline: Instant,
    ) -> Result<PinCounts, ApiError> {
        let mut counter = PinCounter::new(own_id.map(str::to_string), self.line_cap);
        let mut scrub = StreamScrubber::new(self.scrubber.clone());
        let mut stream_errors = Vec::new();
        let stream_error = |source| ApiError::PinStream {
            endpoint: self.endpoint.clone(),
            path: path.to_string(),
            source,
        };
        loop {
            let frame =
                timeout_at(deadline, body.frame())
                    .await
                    .map_err(|_| HttpError::TimedOut {
                        endpoint: self.endpoint.clone(),
                        stage: "reading the pin stream",
                    })?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|source| {
                http_client::protocol_error(
                    &self.endpoint,
                    source,
                    deadline,
                    "reading the pin stream",
                )
            })?;
            match frame.into_data() {
                Ok(data) => {
                    http_client::count_bytes_read(data.len());
                    counter.push(&scrub.push(&data)).map_err(stream_error)?;
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        stream_errors.extend(
                            trailers
                                .get_all("x-stream-error")
                                .iter()
                                .map(|v| {
                                    let v = self.scrubber.bytes(v.as_bytes());
                                    String::from_utf8_lossy(&v).trim().to_string()
                                })
                                .filter(|v| !v.is_empty()),
                        );
                    }
                }
            }
        }
        counter.push(&scrub.finish()).map_err(stream_error)?;
        if !stream_errors.is_empty() {
            return Err(ApiError::StreamError {
                endpoint: self.endpoint.clone(),
                path: path.to_string(),
                message: stream_errors.join("; "),
            });
        }
        counter.finish().map_err(stream_error)
    }

    /// The response with the credentials scrubbed from its body.
    fn scrubbed(&self, mut response: http_client::FullResponse) -> http_client::FullResponse {
        if let std::borrow::Cow::Owned(clean) = self.scrubber.bytes(&response.body) {
            response.body = clean.into();
        }
        response
    }

    fn get(&self, path: &str) -> Result<Request<Full<Bytes>>, ApiError> {
        let mut builder = Request::get(path).header(header::ACCEPT, "application/json");
        if let Some(auth) = &self.authorization {
            builder = builder.header(header::AUTHORIZATION, auth);
        }
        builder
            .body(Full::new(Bytes::new()))
            .map_err(|e| ApiError::Http(HttpError::InvalidRequest(e.to_string())))
    }

    fn not_cluster(&self, path: &'static str, answer: String) -> ApiError {
        ApiError::NotClusterApi {
            endpoint: self.endpoint.clone(),
            path,
            hint: impostor_hint(&self.endpoint, &answer),
            answer,
        }
    }
}

/// A hint naming the usual impostor, when the answer looks like it: ipfs-cluster-service's
/// pinning-service API, on its default port 9097 or answering in its own error shape
/// `{"error":{"reason":...}}` (`api/pinsvcapi/pinsvc`; `details` is optional, and absent from
/// a real v1.1.6's 404) on any port.
fn impostor_hint(endpoint: &Endpoint, answer: &str) -> String {
    let on_pinsvc_port =
        matches!(endpoint, Endpoint::Tcp { port, .. } if *port == PINSVCAPI_DEFAULT_PORT);
    if on_pinsvc_port {
        " (ipfs-cluster-service's pinning-service API listens on 9097 by default)".to_string()
    } else if is_pinsvc_error(answer) {
        " (this is the error shape of ipfs-cluster-service's pinning-service API)".to_string()
    } else {
        String::new()
    }
}

/// True for an answer `"<status> <body>"` whose body is a pinning-service error object.
fn is_pinsvc_error(answer: &str) -> bool {
    let body = answer.split_once(' ').map_or("", |(_, body)| body);
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    value
        .get("error")
        .and_then(|e| e.get("reason"))
        .is_some_and(serde_json::Value::is_string)
}

/// `"<code> <body excerpt>"`, e.g. `404 {"code":404,"message":"not found"}`.
fn describe(status: StatusCode, body: &[u8]) -> String {
    let text = excerpt(body);
    if text.is_empty() {
        format!("{} and an empty body", status.as_u16())
    } else {
        format!("{} {text}", status.as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLLOWER_ID: &str = r#"{"id":"12D3KooWFollower","addresses":["/ip4/127.0.0.1/tcp/9096/p2p/12D3KooWFollower"],"cluster_peers":["12D3KooWFollower","12D3KooWTrusted"],"cluster_peers_addresses":[],"version":"1.1.6","commit":"","rpc_protocol_version":"/ipfscluster/1.0/rpc","error":"","ipfs":{"id":"12D3KooWKubo","addresses":[],"error":""},"peername":"myhost"}"#;

    #[test]
    fn reads_a_cluster_id_object() {
        let id = parse_id(FOLLOWER_ID.as_bytes()).unwrap();
        assert_eq!(id.id, "12D3KooWFollower");
        assert_eq!(id.peername, "myhost");
        assert_eq!(id.version, "1.1.6");
        assert_eq!(id.other_peers(), 1);
        assert_eq!(id.ipfs_error.as_deref(), Some(""));
        assert_eq!(id.addresses.len(), 1);
    }

    #[test]
    fn refuses_what_is_not_a_cluster_id_object() {
        let cases = [
            (r#"{"code":404,"message":"not found"}"#, "no \"id\""),
            (r#"{"count":0,"results":[]}"#, "no \"id\""),
            (r#"{"id":"x","version":"1"}"#, "cluster_peers"),
            (r#"{"id":"x","cluster_peers":[]}"#, "version"),
            (r#"{"id":"","cluster_peers":[],"version":"1"}"#, "no \"id\""),
            ("<html>hello</html>", "not an ID object"),
            (r#"{"ID":"QmKubo","AgentVersion":"kubo/0.30"}"#, "no \"id\""),
        ];
        for (body, expected) in cases {
            let err = parse_id(body.as_bytes()).unwrap_err();
            assert!(err.contains(expected), "{body}: {err}");
        }
    }

    #[test]
    fn no_ipfs_object_means_unknown_not_connected() {
        for body in [
            r#"{"id":"p","cluster_peers":["p"],"version":"1.1.6","ipfs":null}"#,
            r#"{"id":"p","cluster_peers":["p"],"version":"1.1.6"}"#,
        ] {
            assert_eq!(
                parse_id(body.as_bytes()).unwrap().ipfs_error,
                None,
                "{body}"
            );
        }
    }

    #[test]
    fn ipfs_error_is_read() {
        let body = r#"{"id":"p","cluster_peers":["p"],"version":"1.1.6","ipfs":{"addresses":null,"error":"dial tcp 127.0.0.1:5001: connect: connection refused"}}"#;
        let id = parse_id(body.as_bytes()).unwrap();
        assert!(id.ipfs_error.as_deref().unwrap().contains("refused"));
        assert_eq!(id.other_peers(), 0);
    }

    #[test]
    fn trusted_peers_exclude_self_and_untrusted() {
        let body =
            r#"{"cluster_id":"me","cluster_trust_links":{"me":true,"a":true,"b":false,"c":true}}"#;
        assert_eq!(parse_trusted_peers(body.as_bytes(), Some("me")), Ok(2));
        assert_eq!(parse_trusted_peers(body.as_bytes(), None), Ok(2));
        assert!(parse_trusted_peers(b"{}", None).is_err());
    }

    #[test]
    fn impostor_answers_are_named() {
        let tcp = Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 9097,
        };
        // What a real ipfs-cluster-service v1.1.6 answers on its pinning-service API.
        let pinsvc_404 = r#"404 {"error":{"reason":"not found"}}"#;
        let hint = impostor_hint(&tcp, pinsvc_404);
        assert!(hint.contains("9097"), "{hint}");
        // Its own port says enough, whatever it answered.
        let hint = impostor_hint(&tcp, "200 <html>");
        assert!(hint.contains("9097"), "{hint}");
        let other = Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 19097,
        };
        let hint = impostor_hint(&other, pinsvc_404);
        assert_eq!(
            hint,
            " (this is the error shape of ipfs-cluster-service's pinning-service API)"
        );
        let socket = Endpoint::Unix("/run/x.sock".into());
        assert_eq!(impostor_hint(&socket, pinsvc_404), hint);
        // The REST API's own 404 shape (a cluster API without /id?) is not the pinning service's.
        assert_eq!(
            impostor_hint(&other, r#"404 {"code":404,"message":"not found"}"#),
            ""
        );
        assert_eq!(impostor_hint(&other, "200 <html>"), "");
        assert_eq!(impostor_hint(&other, r#"404 {"error":"x"}"#), "");
    }
}
