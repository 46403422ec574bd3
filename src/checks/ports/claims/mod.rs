//! Who is configured to listen where: ipfs-cluster-service, Lotus and Kubo config files, the
//! followers' APIs and swarms, and this exporter's own flags, turned into [`Claim`]s.
//!
//! The parsers are pure functions over the file's text; the `*_check` functions add the blocking
//! read (size-capped) and turn the outcome into a check status. A missing file is no claim and a
//! skipped check; an unreadable or malformed one is a failed check naming the path and the reason.
//! The followers' claims (from their API address and `/id`) are in `followers.rs`, the Lotus
//! API's (where the running daemon really listens) in `lotus.rs`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{BindAddress, Claim, SERVICE_CLUSTER, SERVICE_EXPORTER, SERVICE_KUBO, SERVICE_LOTUS};
use crate::contract::CheckStatus;
use crate::host::files::ReadError;
use crate::net::multiaddr::{Host, Multiaddr, MultiaddrError, Transport};

mod followers;
pub mod lotus;

pub use followers::{follower_claims, FollowerPlan, MAX_SWARM_CLAIMS};
pub use lotus::{daemon_api, lotus_check, DaemonApi, DaemonTrust};

/// The largest config file read; real ones are a few KiB (service.json ~5 KiB).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Why a config file's content does not make a plan.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("{field}: expected {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("{field}: {source}")]
    Multiaddr {
        field: String,
        source: MultiaddrError,
    },
}

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: ReadError },
    #[error("{path} is not UTF-8 text")]
    NotText { path: PathBuf },
    #[error("{path}: {source}")]
    Malformed { path: PathBuf, source: ClaimError },
}

/// Why an exporter listen address is not a socket address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("listen address {0:?} is not [host]:port")]
pub struct ListenAddressError(pub String);

// ---------------------------------------------------------------------------------------------
// Blocking checks

/// Blocking: ipfs-cluster-service's claims from its `service.json`.
pub fn cluster_service_check(path: &Path) -> (CheckStatus, Vec<Claim>) {
    match read_config(path) {
        Ok(None) => (skipped_missing(path, "ipfs-cluster-service"), Vec::new()),
        Ok(Some(text)) => parsed(path, cluster_service_claims(&text)),
        Err(err) => (CheckStatus::Failed(err.to_string()), Vec::new()),
    }
}

/// Blocking: Kubo's claims from its `config`.
pub fn kubo_check(path: &Path) -> (CheckStatus, Vec<Claim>) {
    match read_config(path) {
        Ok(None) => (skipped_missing(path, "kubo"), Vec::new()),
        Ok(Some(text)) => parsed(path, kubo_claims(&text)),
        Err(err) => (CheckStatus::Failed(err.to_string()), Vec::new()),
    }
}

fn skipped_missing(path: &Path, service: &str) -> CheckStatus {
    CheckStatus::Skipped(format!(
        "{} does not exist: no {service} config on this host",
        path.display()
    ))
}

fn parsed(path: &Path, claims: Result<Vec<Claim>, ClaimError>) -> (CheckStatus, Vec<Claim>) {
    match claims {
        Ok(claims) => (CheckStatus::Ok, claims),
        Err(source) => {
            let err = ConfigFileError::Malformed {
                path: path.to_path_buf(),
                source,
            };
            (CheckStatus::Failed(err.to_string()), Vec::new())
        }
    }
}

/// Blocking: a config file's text, `None` when it does not exist, at most [`MAX_CONFIG_BYTES`].
pub fn read_config(path: &Path) -> Result<Option<String>, ConfigFileError> {
    let raw = match crate::host::files::read_capped(path, MAX_CONFIG_BYTES) {
        Ok(Some(raw)) => raw,
        Ok(None) => return Ok(None),
        Err(source) => {
            return Err(ConfigFileError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    String::from_utf8(raw)
        .map(Some)
        .map_err(|_| ConfigFileError::NotText {
            path: path.to_path_buf(),
        })
}

// ---------------------------------------------------------------------------------------------
// Pure parsers

/// Claims of ipfs-cluster-service from its `service.json` text.
///
/// A `service.json` that only names a remote `source` (as ipfs-cluster-follow writes) has none.
pub fn cluster_service_claims(text: &str) -> Result<Vec<Claim>, ClaimError> {
    let root: Value = serde_json::from_str(text)?;
    expect_object(&root, "(top level)")?;
    let mut fields = vec![
        (
            &["api", "restapi", "http_listen_multiaddress"][..],
            "restapi",
        ),
        (
            &["api", "ipfsproxy", "listen_multiaddress"][..],
            "ipfsproxy",
        ),
        (
            &["api", "pinsvcapi", "http_listen_multiaddress"][..],
            "pinsvcapi",
        ),
        (&["cluster", "listen_multiaddress"][..], "swarm"),
    ];
    if flag_at(&root, &["observations", "metrics", "enable_stats"])? {
        fields.push((
            &["observations", "metrics", "prometheus_endpoint"][..],
            "metrics",
        ));
    }
    let mut claims = claims_at_fields(&root, SERVICE_CLUSTER, &fields)?;
    // The default `listen_multiaddress` lists `/udp/9096/quic`, but ipfs-cluster's libp2p host
    // has only the TCP and websocket transports (`clusterhost.go baseOpts`: "quic does not
    // support private networks"), so nothing ever listens there: no claim.
    claims.retain(|c| !(c.role == "swarm" && c.protocol == Transport::Udp));
    Ok(claims)
}

/// Claims of Kubo from its `config` text: `Addresses.API`, `Addresses.Gateway`, `Addresses.Swarm`.
pub fn kubo_claims(text: &str) -> Result<Vec<Claim>, ClaimError> {
    let root: Value = serde_json::from_str(text)?;
    expect_object(&root, "(top level)")?;
    let fields = [
        (&["Addresses", "API"][..], "api"),
        (&["Addresses", "Gateway"][..], "gateway"),
        (&["Addresses", "Swarm"][..], "swarm"),
    ];
    claims_at_fields(&root, SERVICE_KUBO, &fields)
}

/// `[API] ListenAddress` from a Lotus `config.toml` text, `None` when not set (the default applies).
pub fn lotus_listen_address(text: &str) -> Result<Option<String>, ClaimError> {
    let root: toml::Table = toml::from_str(text)?;
    let Some(api) = root.get("API") else {
        return Ok(None);
    };
    let api = api.as_table().ok_or_else(|| ClaimError::WrongType {
        field: "API".into(),
        expected: "a table",
    })?;
    match api.get("ListenAddress") {
        None => Ok(None),
        Some(toml::Value::String(addr)) if addr.trim().is_empty() => Ok(None),
        Some(toml::Value::String(addr)) => Ok(Some(addr.clone())),
        Some(_) => Err(ClaimError::WrongType {
            field: "API.ListenAddress".into(),
            expected: "a string",
        }),
    }
}

/// The claim a multiaddr makes for `service` in `role`; `None` for a unix socket (no port) and
/// for port 0 (the daemon picks any free port: nothing to collide with).
pub fn multiaddr_claim(
    service: &str,
    role: &str,
    text: &str,
) -> Result<Option<Claim>, MultiaddrError> {
    Ok(socket_claim(service, role, Multiaddr::parse(text)?))
}

fn socket_claim(service: &str, role: &str, addr: Multiaddr) -> Option<Claim> {
    let Multiaddr::Socket {
        host,
        transport,
        port,
        ..
    } = addr
    else {
        return None;
    };
    if port == 0 {
        return None;
    }
    let address = match host {
        Host::Ip(ip) => BindAddress::ip(ip),
        Host::Dns(name) => BindAddress::Name(name),
    };
    Some(Claim {
        service: service.to_string(),
        role: role.to_string(),
        protocol: transport,
        address,
        port,
        source: None,
    })
}

/// The claim of one `--web.listen-address` value: `:10234`, `127.0.0.1:10234`, `[::1]:10234`.
pub fn exporter_claim(listen: &str) -> Result<Claim, ListenAddressError> {
    let bad = || ListenAddressError(listen.to_string());
    let (host, port) = split_host_port(listen.trim()).ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let address = if host.is_empty() {
        BindAddress::Every
    } else {
        host_address(host).ok_or_else(bad)?
    };
    Ok(Claim {
        service: SERVICE_EXPORTER.into(),
        role: "metrics".into(),
        protocol: Transport::Tcp,
        address,
        port,
        source: None,
    })
}

/// `host:port` or `[v6]:port` into host (brackets removed) and port text.
fn split_host_port(text: &str) -> Option<(&str, &str)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return Some((host, after.strip_prefix(':')?));
    }
    let (host, port) = text.rsplit_once(':')?;
    (!host.contains(':')).then_some((host, port))
}

fn host_address(host: &str) -> Option<BindAddress> {
    if host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    Some(match host.parse::<IpAddr>() {
        Ok(ip) => BindAddress::ip(ip),
        Err(_) => BindAddress::Name(host.to_string()),
    })
}

// ---------------------------------------------------------------------------------------------
// JSON helpers

fn claims_at_fields(
    root: &Value,
    service: &str,
    fields: &[(&[&str], &str)],
) -> Result<Vec<Claim>, ClaimError> {
    let mut claims = Vec::new();
    for (path, role) in fields {
        let field = path.join(".");
        for addr in addresses_at(root, path)? {
            claims.extend(claim_at(service, role, &field, &addr)?);
        }
    }
    Ok(claims)
}

fn claim_at(
    service: &str,
    role: &str,
    field: &str,
    addr: &str,
) -> Result<Option<Claim>, ClaimError> {
    multiaddr_claim(service, role, addr).map_err(|source| ClaimError::Multiaddr {
        field: field.to_string(),
        source,
    })
}

/// The value at `path`: `None` when a key on the way is absent or null.
fn value_at<'a>(root: &'a Value, path: &[&str]) -> Result<Option<&'a Value>, ClaimError> {
    let mut value = root;
    for (depth, key) in path.iter().enumerate() {
        let object = expect_object(value, &path[..depth].join("."))?;
        match object.get(*key) {
            None | Some(Value::Null) => return Ok(None),
            Some(next) => value = next,
        }
    }
    Ok(Some(value))
}

/// A multiaddr field that may be a string or a list of strings.
fn addresses_at(root: &Value, path: &[&str]) -> Result<Vec<String>, ClaimError> {
    let wrong = || ClaimError::WrongType {
        field: path.join("."),
        expected: "a multiaddr string or a list of them",
    };
    match value_at(root, path)? {
        None => Ok(Vec::new()),
        Some(Value::String(addr)) if addr.trim().is_empty() => Ok(Vec::new()),
        Some(Value::String(addr)) => Ok(vec![addr.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string).ok_or_else(wrong))
            .collect(),
        Some(_) => Err(wrong()),
    }
}

/// A boolean field, false when absent.
fn flag_at(root: &Value, path: &[&str]) -> Result<bool, ClaimError> {
    match value_at(root, path)? {
        None => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(_) => Err(ClaimError::WrongType {
            field: path.join("."),
            expected: "true or false",
        }),
    }
}

fn expect_object<'a>(
    value: &'a Value,
    field: &str,
) -> Result<&'a serde_json::Map<String, Value>, ClaimError> {
    value.as_object().ok_or_else(|| ClaimError::WrongType {
        field: if field.is_empty() {
            "(top level)".into()
        } else {
            field.to_string()
        },
        expected: "an object",
    })
}

/// A claim as `service role protocol address port`, for compact expectations.
#[cfg(test)]
fn line(claim: &Claim) -> String {
    format!(
        "{} {} {} {} {}",
        claim.service, claim.role, claim.protocol, claim.address, claim.port
    )
}

#[cfg(test)]
fn lines(claims: &[Claim]) -> Vec<String> {
    claims.iter().map(line).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap()
    }

    /// Each text is refused with an error that contains its expected words.
    fn assert_errors<T: std::fmt::Debug>(
        parse: impl Fn(&str) -> Result<T, ClaimError>,
        cases: &[(&str, &str)],
    ) {
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn multiaddrs_become_claims() {
        let cases: &[(&str, Option<&str>)] = &[
            ("/ip4/127.0.0.1/tcp/9094", Some("s r tcp 127.0.0.1 9094")),
            ("/ip4/0.0.0.0/udp/9096/quic", Some("s r udp 0.0.0.0 9096")),
            (
                "/ip6/::/udp/4001/quic-v1/webtransport",
                Some("s r udp :: 4001"),
            ),
            (
                "/ip6/::ffff:127.0.0.1/tcp/5001",
                Some("s r tcp 127.0.0.1 5001"),
            ),
            (
                "/ip4/127.0.0.1/tcp/1234/http",
                Some("s r tcp 127.0.0.1 1234"),
            ),
            ("/dns/localhost/tcp/9094", Some("s r tcp localhost 9094")),
            ("/unix//home/u/.ipfs-cluster-follow/c/api-socket", None),
        ];
        for (input, expected) in cases {
            let claim = multiaddr_claim("s", "r", input).unwrap();
            assert_eq!(claim.as_ref().map(line).as_deref(), *expected, "{input}");
        }
        assert!(multiaddr_claim("s", "r", "/ip4/1.2.3.4").is_err());
        assert!(multiaddr_claim("s", "r", "127.0.0.1:9094").is_err());
    }

    #[test]
    fn cluster_service_fixture_claims_apis_and_swarm_not_disabled_metrics() {
        let claims = cluster_service_claims(&fixture("ipfs-cluster-service.service.json")).unwrap();
        assert_eq!(
            lines(&claims),
            [
                "ipfs-cluster-service restapi tcp 127.0.0.1 9094",
                "ipfs-cluster-service ipfsproxy tcp 127.0.0.1 9095",
                "ipfs-cluster-service pinsvcapi tcp 127.0.0.1 9097",
                "ipfs-cluster-service swarm tcp 0.0.0.0 9096",
            ]
        );
    }

    #[test]
    fn cluster_service_metrics_claimed_when_stats_enabled_and_lists_accepted() {
        let text = r#"{
            "api": {"restapi": {"http_listen_multiaddress": ["/ip4/127.0.0.1/tcp/9094", "/unix//run/c.sock"]}},
            "cluster": {"listen_multiaddress": "/ip4/0.0.0.0/tcp/9096"},
            "observations": {"metrics": {"enable_stats": true, "prometheus_endpoint": "/ip4/127.0.0.1/tcp/8888"}}
        }"#;
        assert_eq!(
            lines(&cluster_service_claims(text).unwrap()),
            [
                "ipfs-cluster-service restapi tcp 127.0.0.1 9094",
                "ipfs-cluster-service swarm tcp 0.0.0.0 9096",
                "ipfs-cluster-service metrics tcp 127.0.0.1 8888",
            ]
        );
    }

    #[test]
    fn cluster_service_with_only_a_source_claims_nothing() {
        let claims =
            cluster_service_claims(r#"{"source": "https://example.org/service.json"}"#).unwrap();
        assert!(claims.is_empty());
    }

    #[test]
    fn malformed_cluster_service_files_say_what_is_wrong() {
        let cases = [
            ("{", "not valid JSON"),
            ("[]", "(top level): expected an object"),
            (r#"{"api": "x"}"#, "api: expected an object"),
            (
                r#"{"api": {"restapi": {"http_listen_multiaddress": 9094}}}"#,
                "api.restapi.http_listen_multiaddress: expected a multiaddr string",
            ),
            (
                r#"{"api": {"restapi": {"http_listen_multiaddress": ["/ip4/1.2.3.4/tcp/1", 2]}}}"#,
                "expected a multiaddr string",
            ),
            (
                r#"{"cluster": {"listen_multiaddress": "/ip4/0.0.0.0/tcp/99999"}}"#,
                "cluster.listen_multiaddress: multiaddr",
            ),
            (
                r#"{"observations": {"metrics": {"enable_stats": "yes"}}}"#,
                "observations.metrics.enable_stats: expected true or false",
            ),
        ];
        assert_errors(cluster_service_claims, &cases);
    }

    #[test]
    fn kubo_fixture_claims_api_gateway_and_every_swarm_transport() {
        let claims = kubo_claims(&fixture("kubo-config.json")).unwrap();
        let mut got = lines(&claims);
        got.dedup();
        assert_eq!(
            got,
            [
                "kubo api tcp 127.0.0.1 5001",
                "kubo gateway tcp 127.0.0.1 8080",
                "kubo swarm tcp 0.0.0.0 4001",
                "kubo swarm tcp :: 4001",
                "kubo swarm udp 0.0.0.0 4001",
                "kubo swarm udp :: 4001",
            ]
        );
    }

    #[test]
    fn kubo_old_string_form_and_empty_lists() {
        let text =
            r#"{"Addresses": {"API": "/ip4/127.0.0.1/tcp/5001", "Gateway": [], "Swarm": null}}"#;
        assert_eq!(
            lines(&kubo_claims(text).unwrap()),
            ["kubo api tcp 127.0.0.1 5001"]
        );
        assert!(kubo_claims("{}").unwrap().is_empty());
    }

    #[test]
    fn malformed_kubo_configs_are_errors() {
        for text in [
            "",
            "{\"Addresses\": []}",
            r#"{"Addresses": {"API": {}}}"#,
            r#"{"Addresses": {"Swarm": ["tcp/4001"]}}"#,
        ] {
            assert!(kubo_claims(text).is_err(), "{text}");
        }
    }

    #[test]
    fn lotus_default_config_sets_no_listen_address() {
        assert_eq!(
            lotus_listen_address(&fixture("lotus-default-config.toml")).unwrap(),
            None
        );
    }

    #[test]
    fn lotus_listen_address_cases() {
        let set = "[API]\nListenAddress = \"/ip4/0.0.0.0/tcp/1235/http\"\n";
        assert_eq!(
            lotus_listen_address(set).unwrap().as_deref(),
            Some("/ip4/0.0.0.0/tcp/1235/http")
        );
        assert_eq!(lotus_listen_address("").unwrap(), None);
        assert_eq!(
            lotus_listen_address("[API]\nListenAddress = \"\"\n").unwrap(),
            None
        );
        let bad = [
            ("[API\n", "not valid TOML"),
            ("API = 3\n", "API: expected a table"),
            (
                "[API]\nListenAddress = 1234\n",
                "API.ListenAddress: expected a string",
            ),
        ];
        assert_errors(lotus_listen_address, &bad);
    }

    #[test]
    fn config_files_missing_unreadable_or_oversized() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("service.json");
        assert!(matches!(
            cluster_service_check(&missing).0,
            CheckStatus::Skipped(_)
        ));

        // A directory in place of the file cannot be read: a failure naming the path.
        let (status, _) = kubo_check(dir.path());
        let reason = status.failure().unwrap();
        assert!(reason.contains("cannot read"), "{reason}");

        let big = dir.path().join("big.json");
        std::fs::write(&big, vec![b' '; MAX_CONFIG_BYTES as usize + 1]).unwrap();
        assert!(kubo_check(&big)
            .0
            .failure()
            .unwrap()
            .contains("larger than"));

        let binary = dir.path().join("binary.json");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        assert!(kubo_check(&binary)
            .0
            .failure()
            .unwrap()
            .contains("not UTF-8"));

        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, "{\"Addresses\":").unwrap();
        let reason = kubo_check(&broken).0.failure().unwrap();
        assert!(
            reason.contains("broken.json") && reason.contains("not valid JSON"),
            "{reason}"
        );
    }

    #[test]
    fn exporter_listen_addresses() {
        let cases = [
            (":10234", Some("lotus-follow-exporter metrics tcp * 10234")),
            (
                "127.0.0.1:10234",
                Some("lotus-follow-exporter metrics tcp 127.0.0.1 10234"),
            ),
            (
                "[::1]:10234",
                Some("lotus-follow-exporter metrics tcp ::1 10234"),
            ),
            (
                "0.0.0.0:9100",
                Some("lotus-follow-exporter metrics tcp 0.0.0.0 9100"),
            ),
            (
                "localhost:10234",
                Some("lotus-follow-exporter metrics tcp localhost 10234"),
            ),
            ("10234", None),
            (":http", None),
            ("::1:10234", None),
            ("[::1]10234", None),
            (":99999", None),
        ];
        for (input, expected) in cases {
            let got = exporter_claim(input).ok();
            assert_eq!(got.as_ref().map(line).as_deref(), expected, "{input}");
        }
    }
}
