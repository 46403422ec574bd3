//! The one Kubo RPC call the check makes, `POST /api/v0/id` (the RPC API is POST-only: a GET
//! gets 405), under the scrape deadline and a body cap, and the reading of its answer.
//!
//! An answer is a Kubo only when it is a JSON object with a non-empty `ID` and an
//! `AgentVersion` of Kubo (see [`parse_id`]); anything else answering is [`KuboError::NotKubo`].

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use tokio::time::Instant;

use crate::net::http_client::{self, Endpoint, HttpError};

/// The path asked.
pub const ID_PATH: &str = "/api/v0/id";

/// Largest `/api/v0/id` body read: an online Kubo lists its addresses and protocols, a few KiB.
pub const MAX_ID_BYTES: usize = 256 * 1024;

/// What `/api/v0/id` says a Kubo is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KuboId {
    /// `ID`: the node's peer id.
    pub peer_id: String,
    /// `AgentVersion`: `kubo/<version>[/<commit>][/<suffix>]`.
    pub agent_version: String,
}

impl KuboId {
    /// The release in `AgentVersion` (`0.43.1` of `kubo/0.43.1/abc123`).
    pub fn version(&self) -> &str {
        self.agent_version.split('/').nth(1).unwrap_or_default()
    }
}

/// Why `/api/v0/id` did not say "a Kubo".
#[derive(Debug, thiserror::Error)]
pub enum KuboError {
    /// Nothing answered, or the exchange broke (refused, reset, timed out).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// An error status: a Kubo failing (shutting down, its repo unreadable), or a proxy.
    #[error("{endpoint} answered POST {ID_PATH} with HTTP {status}{message}")]
    Status {
        endpoint: Endpoint,
        status: StatusCode,
        /// `: <Kubo's Message>` or `: <an excerpt of the body>`, empty when there was none.
        message: String,
    },
    /// Something answered that is not a Kubo RPC API.
    #[error("{endpoint} answered POST {ID_PATH} with {answer}: this is not a Kubo RPC API")]
    NotKubo { endpoint: Endpoint, answer: String },
}

impl KuboError {
    /// True when the call ran out of time (a hung Kubo: the check then reads "timed out").
    pub fn is_timeout(&self) -> bool {
        matches!(self, KuboError::Http(HttpError::TimedOut { .. }))
    }
}

#[derive(Deserialize)]
struct RawId {
    #[serde(rename = "ID")]
    id: Option<String>,
    #[serde(rename = "AgentVersion")]
    agent_version: Option<String>,
}

/// Kubo's RPC error body (`{"Message": ..., "Code": 0, "Type": "error"}`).
#[derive(Deserialize)]
struct RawError {
    #[serde(rename = "Message")]
    message: String,
}

/// Read an `/api/v0/id` body: a JSON object with a non-empty string `ID` and a string
/// `AgentVersion` starting `kubo/` (or `go-ipfs/`, Kubo's name before 0.14). `Err` says why not.
pub fn parse_id(body: &[u8]) -> Result<KuboId, String> {
    let raw: RawId = serde_json::from_slice(body).map_err(|e| format!("not an ID object ({e})"))?;
    let peer_id = raw
        .id
        .filter(|id| !id.is_empty())
        .ok_or("no \"ID\" string")?;
    let agent_version = raw.agent_version.ok_or("no \"AgentVersion\" string")?;
    if !(agent_version.starts_with("kubo/") || agent_version.starts_with("go-ipfs/")) {
        return Err(format!("AgentVersion {agent_version:?} is not Kubo's"));
    }
    Ok(KuboId {
        peer_id,
        agent_version,
    })
}

/// Ask `endpoint` who it is, before `deadline`.
pub async fn id(endpoint: &Endpoint, deadline: Instant) -> Result<KuboId, KuboError> {
    let request = Request::post(ID_PATH)
        .body(Full::new(Bytes::new()))
        .map_err(|e| HttpError::InvalidRequest(e.to_string()))?;
    let response = http_client::fetch(endpoint, request, MAX_ID_BYTES, deadline).await?;
    answer(endpoint, response.status, &response.body)
}

/// What an answer to `POST /api/v0/id` says.
pub fn answer(endpoint: &Endpoint, status: StatusCode, body: &[u8]) -> Result<KuboId, KuboError> {
    if status.is_server_error() {
        let message = match serde_json::from_slice::<RawError>(body) {
            Ok(error) => format!(": {}", error.message),
            Err(_) if body.is_empty() => String::new(),
            Err(_) => format!(": {}", excerpt(body)),
        };
        return Err(KuboError::Status {
            endpoint: endpoint.clone(),
            status,
            message,
        });
    }
    let not_kubo = |answer: String| KuboError::NotKubo {
        endpoint: endpoint.clone(),
        answer,
    };
    if status != StatusCode::OK {
        return Err(not_kubo(format!("HTTP {status} {:?}", excerpt(body))));
    }
    parse_id(body).map_err(|why| not_kubo(format!("HTTP 200 but {why}")))
}

/// The start of a body, control characters dropped, for a message.
fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 120;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    let mut out: String = text.trim().chars().filter(|c| !c.is_control()).collect();
    if body.len() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Kubo 0.43.1 `ipfs daemon --offline` answers (seen on the real daemon).
    const REAL_OFFLINE: &str = r#"{"ID":"12D3KooWG7szmm1zJZ8i6737gW1Lvz3pkmmQw4kmatwA5T9hRrus","PublicKey":"CAESIF2iuNY7HwldrmtvPPTMmBZ5nIGMqtFmG+hP8UR5TeCe","Addresses":null,"AgentVersion":"kubo/0.43.1","Protocols":null}"#;

    fn local() -> Endpoint {
        Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 5001,
        }
    }

    #[test]
    fn a_kubo_is_its_id_and_agent_version() {
        let id = parse_id(REAL_OFFLINE.as_bytes()).unwrap();
        assert_eq!(
            id.peer_id,
            "12D3KooWG7szmm1zJZ8i6737gW1Lvz3pkmmQw4kmatwA5T9hRrus"
        );
        assert_eq!(id.version(), "0.43.1");
        let with_commit = r#"{"ID":"12D3KooWX","AgentVersion":"kubo/0.29.0/3f0947b/docker","Addresses":["/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWX"]}"#;
        assert_eq!(
            parse_id(with_commit.as_bytes()).unwrap().version(),
            "0.29.0"
        );
        let old = r#"{"ID":"QmOld","AgentVersion":"go-ipfs/0.12.2/"}"#;
        assert_eq!(parse_id(old.as_bytes()).unwrap().version(), "0.12.2");
    }

    #[test]
    fn anything_else_is_not_a_kubo() {
        let cases = [
            ("404 page not found", "not an ID object"),
            (r#"{"AgentVersion":"kubo/0.43.1"}"#, "no \"ID\""),
            (r#"{"ID":"","AgentVersion":"kubo/0.43.1"}"#, "no \"ID\""),
            (r#"{"ID":"12D3KooWX"}"#, "no \"AgentVersion\""),
            // A cluster peer's `/id` shape, and a libp2p peer that is not Kubo.
            (
                r#"{"id":"12D3KooWC","cluster_peers":[],"version":"1.1.6"}"#,
                "no \"ID\"",
            ),
            (
                r#"{"ID":"12D3KooWL","AgentVersion":"lotus-1.34.0+mainnet"}"#,
                "is not Kubo's",
            ),
            ("[]", "not an ID object"),
        ];
        for (body, said) in cases {
            let err = parse_id(body.as_bytes()).unwrap_err();
            assert!(err.contains(said), "{body}: {err}");
        }
    }

    #[test]
    fn answers_read_as_up_failing_or_not_a_kubo() {
        let up = answer(&local(), StatusCode::OK, REAL_OFFLINE.as_bytes()).unwrap();
        assert_eq!(up.version(), "0.43.1");
        let failing = answer(
            &local(),
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"Message":"context canceled","Code":0,"Type":"error"}"#,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            failing,
            "127.0.0.1:5001 answered POST /api/v0/id with HTTP 500 Internal Server Error: context canceled"
        );
        let get_only = answer(
            &local(),
            StatusCode::METHOD_NOT_ALLOWED,
            b"405 - Method Not Allowed\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            get_only.contains("HTTP 405 Method Not Allowed"),
            "{get_only}"
        );
        assert!(get_only.contains("not a Kubo RPC API"), "{get_only}");
        let other = answer(&local(), StatusCode::OK, b"<html>")
            .unwrap_err()
            .to_string();
        assert!(other.contains("HTTP 200 but not an ID object"), "{other}");
    }
}
