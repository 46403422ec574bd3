//! Which Kubos to watch: the `--kubo.api` values, `Addresses.API` of Kubo's own config
//! (`$IPFS_PATH/config`, `~/.ipfs/config` or `--ports.kubo-config`), and the IPFS daemon each
//! follower's `service.json` names (`ipfs_connector.ipfshttp.node_multiaddress`), one Kubo per
//! address.
//!
//! The parsers ([`api_addresses`], [`connector_address`], [`endpoint`]) are pure functions of
//! the text; [`find`] reads the files (blocking, every read capped and under a deadline, see
//! [`crate::host::files`]) and is run off the runtime by the check.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::KuboConfig;
use crate::contract::{Label, Text};
use crate::net::http_client::Endpoint;
use crate::net::multiaddr::{Host, Multiaddr};

/// ipfs-cluster's connector default when `ipfs_connector.ipfshttp` names no address
/// (`ipfsconn/ipfshttp/config.go`).
pub const DEFAULT_CONNECTOR: &str = "/ip4/127.0.0.1/tcp/5001";

/// Largest Kubo config or `service.json` read (both are a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Most follower folders whose `service.json` is read (the follow check's default cap).
pub const MAX_FOLLOWER_FOLDERS: usize = 64;

/// Most Kubos watched; more are left out (and said so).
pub const MAX_KUBOS: usize = 16;

/// Where a Kubo was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A `--kubo.api` value.
    Flag,
    /// `Addresses.API` of Kubo's config at this path.
    KuboConfig(Text),
    /// `ipfs_connector.ipfshttp.node_multiaddress` of a follower's `service.json`.
    Follower {
        /// The follower's folder name (its `cluster_name`).
        cluster_name: Label,
        /// The path of that `service.json`.
        service_json: Text,
    },
}

impl Source {
    /// A fixed word for the kind of source (`flag`, `kubo_config`, `follower`).
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::KuboConfig(_) => "kubo_config",
            Source::Follower { .. } => "follower",
        }
    }

    /// The source in an operator's words.
    pub fn describe(&self) -> String {
        match self {
            Source::Flag => "--kubo.api".to_string(),
            Source::KuboConfig(path) => format!("Addresses.API of {path}"),
            Source::Follower {
                cluster_name,
                service_json,
            } => format!("follower {cluster_name} ({service_json}, ipfs_connector)"),
        }
    }
}

/// One Kubo to ask: the address asked, its label and every place that named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubo {
    /// Where `/api/v0/id` is asked.
    pub endpoint: Endpoint,
    /// The `kubo` label: the address as `host:port` or `unix:/path`.
    pub label: Label,
    /// Its other API addresses (a config listing several), which name the same Kubo.
    pub aliases: Vec<Endpoint>,
    pub sources: Vec<Source>,
}

impl Kubo {
    fn new(endpoint: Endpoint, source: Source) -> Kubo {
        Kubo {
            label: Label::new(endpoint.to_string()),
            endpoint,
            aliases: Vec::new(),
            sources: vec![source],
        }
    }

    /// True when `endpoint` is one of this Kubo's addresses.
    fn answers_on(&self, endpoint: &Endpoint) -> bool {
        self.endpoint == *endpoint || self.aliases.contains(endpoint)
    }

    /// The followers whose `service.json` names this Kubo.
    pub fn followers(&self) -> impl Iterator<Item = &Label> {
        self.sources.iter().filter_map(|s| match s {
            Source::Follower { cluster_name, .. } => Some(cluster_name),
            _ => None,
        })
    }
}

/// What one discovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// One per address, in the order they were named (at most [`MAX_KUBOS`]).
    pub kubos: Vec<Kubo>,
    /// Files that could not be read or understood: the Kubos they name are unknown.
    pub problems: Vec<Text>,
}

/// `Addresses.API` of a Kubo config text: a string, a list of strings, or none (missing, null
/// or empty: Kubo then serves no RPC API).
pub fn api_addresses(config: &str) -> Result<Vec<String>, String> {
    let root: Value = serde_json::from_str(config).map_err(|e| format!("not valid JSON ({e})"))?;
    let Some(api) = root.get("Addresses").and_then(|a| a.get("API")) else {
        return Ok(Vec::new());
    };
    match api {
        Value::Null => Ok(Vec::new()),
        Value::String(one) if one.is_empty() => Ok(Vec::new()),
        Value::String(one) => Ok(vec![one.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("Addresses.API holds {item}, not a string"))
            })
            .collect(),
        other => Err(format!(
            "Addresses.API is {other}, not a string or a list of strings"
        )),
    }
}

/// The Kubo a follower's `service.json` text names: `ipfs_connector.ipfshttp.node_multiaddress`,
/// [`DEFAULT_CONNECTOR`] when the section is there without it, `None` when the file has no
/// `ipfs_connector` (a follower configured from a URL, `{"source": ...}`: its connector is in
/// the remote template, not here).
pub fn connector_address(service_json: &str) -> Result<Option<String>, String> {
    let root: Value =
        serde_json::from_str(service_json).map_err(|e| format!("not valid JSON ({e})"))?;
    let Some(connector) = root.get("ipfs_connector").filter(|c| !c.is_null()) else {
        return Ok(None);
    };
    let address = connector
        .get("ipfshttp")
        .and_then(|h| h.get("node_multiaddress"));
    match address {
        None | Some(Value::Null) => Ok(Some(DEFAULT_CONNECTOR.to_string())),
        Some(Value::String(text)) if text.is_empty() => Ok(Some(DEFAULT_CONNECTOR.to_string())),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(format!(
            "ipfs_connector.ipfshttp.node_multiaddress is {other}, not a string"
        )),
    }
}

/// Where to ask a Kubo listening on `multiaddr`: a TCP host and port or a unix socket. An
/// unspecified address (`0.0.0.0`, `::`, what a daemon listens on) is asked on loopback, so
/// that it and a follower's `127.0.0.1` are one Kubo.
pub fn endpoint(multiaddr: &str) -> Result<Endpoint, String> {
    let parsed = Multiaddr::parse(multiaddr).map_err(|e| e.to_string())?;
    let parsed = match parsed {
        Multiaddr::Socket {
            host: Host::Ip(ip),
            transport,
            port,
            upper,
        } if ip.is_unspecified() => Multiaddr::Socket {
            host: Host::Ip(match ip {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            }),
            transport,
            port,
            upper,
        },
        other => other,
    };
    Endpoint::from_multiaddr(&parsed)
        .map_err(|e| format!("multiaddr {multiaddr:?} cannot be asked over HTTP: {e}"))
}

/// Blocking: every Kubo `config` names, the `--kubo.api` values first, then Kubo's config,
/// then the followers' `service.json`s (in folder order), one per address, at most
/// [`MAX_KUBOS`].
pub fn find(config: &KuboConfig) -> Found {
    let mut found = Found::default();
    for endpoint in &config.apis {
        add(&mut found.kubos, vec![endpoint.clone()], Source::Flag);
    }
    from_kubo_config(&config.kubo_config, &mut found);
    from_followers(&config.follow_config_dir, &mut found);
    if found.kubos.len() > MAX_KUBOS {
        let left = found.kubos.split_off(MAX_KUBOS);
        let names: Vec<&str> = left.iter().map(|k| k.label.as_str()).collect();
        found.problems.push(Text::new(format!(
            "more than {MAX_KUBOS} Kubos named; not watched: {}",
            names.join(", ")
        )));
    }
    found
}

/// Add a Kubo reachable on `endpoints` (the first is asked), or the source to the Kubo that
/// already answers on one of them.
fn add(kubos: &mut Vec<Kubo>, endpoints: Vec<Endpoint>, source: Source) {
    if let Some(known) = kubos
        .iter_mut()
        .find(|k| endpoints.iter().any(|e| k.answers_on(e)))
    {
        if !known.sources.contains(&source) {
            known.sources.push(source);
        }
        for endpoint in endpoints {
            if !known.answers_on(&endpoint) {
                known.aliases.push(endpoint);
            }
        }
        return;
    }
    let mut endpoints = endpoints.into_iter();
    if let Some(first) = endpoints.next() {
        let mut kubo = Kubo::new(first, source);
        kubo.aliases.extend(endpoints);
        kubos.push(kubo);
    }
}

/// A config file's text, `None` when it does not exist; the error names the file.
fn read_text(path: &Path) -> Result<Option<String>, String> {
    match crate::host::files::read_capped(path, MAX_CONFIG_BYTES) {
        Ok(None) => Ok(None),
        Ok(Some(raw)) => String::from_utf8(raw)
            .map(Some)
            .map_err(|_| format!("{} is not UTF-8 text", path.display())),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn from_kubo_config(path: &Path, found: &mut Found) {
    let text = match read_text(path) {
        Ok(Some(text)) => text,
        Ok(None) => return,
        Err(e) => return found.problems.push(Text::new(e)),
    };
    let addresses = match api_addresses(&text) {
        Ok(addresses) => addresses,
        Err(e) => {
            return found
                .problems
                .push(Text::new(format!("Kubo's config {}: {e}", path.display())))
        }
    };
    let mut endpoints = Vec::new();
    for address in addresses {
        match endpoint(&address) {
            Ok(e) => endpoints.push(e),
            Err(e) => found.problems.push(Text::new(format!(
                "Kubo's config {}: Addresses.API {e}",
                path.display()
            ))),
        }
    }
    add(
        &mut found.kubos,
        endpoints,
        Source::KuboConfig(Text::new(path.display().to_string())),
    );
}

fn from_followers(config_dir: &Path, found: &mut Found) {
    let entries = match std::fs::read_dir(config_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            return found.problems.push(Text::new(format!(
                "cannot list the follow config folder {}: {e}",
                config_dir.display()
            )))
        }
    };
    let mut folders: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.to_string(), entry.path())))
        .filter(|(_, path)| path.is_dir())
        .collect();
    folders.sort();
    folders.truncate(MAX_FOLLOWER_FOLDERS);
    for (name, folder) in folders {
        let service_json = folder.join("service.json");
        let text = match read_text(&service_json) {
            Ok(Some(text)) => text,
            Ok(None) => continue,
            Err(e) => {
                found.problems.push(Text::new(e));
                continue;
            }
        };
        let problem = |e: String| {
            Text::new(format!(
                "which Kubo follower {name} uses is unknown: {}: {e}",
                service_json.display()
            ))
        };
        let address = match connector_address(&text) {
            Ok(Some(address)) => address,
            Ok(None) => continue,
            Err(e) => {
                found.problems.push(problem(e));
                continue;
            }
        };
        match endpoint(&address) {
            Ok(e) => add(
                &mut found.kubos,
                vec![e],
                Source::Follower {
                    cluster_name: Label::new(&name),
                    service_json: Text::new(service_json.display().to_string()),
                },
            ),
            Err(e) => found.problems.push(problem(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Endpoint {
        Endpoint::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn addresses_api_is_a_string_a_list_or_nothing() {
        let cases: [(&str, Vec<&str>); 6] = [
            (
                r#"{"Addresses":{"API":"/ip4/127.0.0.1/tcp/5001"}}"#,
                vec!["/ip4/127.0.0.1/tcp/5001"],
            ),
            (
                r#"{"Addresses":{"API":["/ip4/127.0.0.1/tcp/5001","/unix/run/ipfs.sock"]}}"#,
                vec!["/ip4/127.0.0.1/tcp/5001", "/unix/run/ipfs.sock"],
            ),
            (r#"{"Addresses":{"API":[]}}"#, vec![]),
            (r#"{"Addresses":{"API":null}}"#, vec![]),
            (r#"{"Addresses":{"Swarm":[]}}"#, vec![]),
            (r#"{"Identity":{}}"#, vec![]),
        ];
        for (config, expected) in cases {
            assert_eq!(api_addresses(config).unwrap(), expected, "{config}");
        }
        let kubo_init = include_str!("../../../tests/data/kubo-config.json");
        assert_eq!(
            api_addresses(kubo_init).unwrap(),
            ["/ip4/127.0.0.1/tcp/5001"]
        );
        for (bad, said) in [
            ("{\"Addresses\":", "not valid JSON"),
            (r#"{"Addresses":{"API":5001}}"#, "not a string"),
            (r#"{"Addresses":{"API":[5001]}}"#, "holds 5001"),
        ] {
            let err = api_addresses(bad).unwrap_err();
            assert!(err.contains(said), "{bad}: {err}");
        }
    }

    #[test]
    fn a_followers_connector_comes_from_its_service_json() {
        let generated = include_str!("../../../tests/data/ipfs-cluster-service.service.json");
        assert_eq!(
            connector_address(generated).unwrap().as_deref(),
            Some("/ip4/127.0.0.1/tcp/5001")
        );
        let moved = r#"{"ipfs_connector":{"ipfshttp":{"node_multiaddress":"/ip4/10.0.0.2/tcp/5101","connect_swarms_delay":"30s"}}}"#;
        assert_eq!(
            connector_address(moved).unwrap().as_deref(),
            Some("/ip4/10.0.0.2/tcp/5101")
        );
        let defaulted = r#"{"ipfs_connector":{"ipfshttp":{}}}"#;
        assert_eq!(
            connector_address(defaulted).unwrap().as_deref(),
            Some(DEFAULT_CONNECTOR)
        );
        // What `ipfs-cluster-follow <name> init <url>` writes: the connector is remote.
        let source_only = r#"{"source": "http://127.0.0.1:8080/ipns/websites.example.org"}"#;
        assert_eq!(connector_address(source_only).unwrap(), None);
        let wrong = r#"{"ipfs_connector":{"ipfshttp":{"node_multiaddress":5001}}}"#;
        assert!(connector_address(wrong)
            .unwrap_err()
            .contains("not a string"));
    }

    #[test]
    fn endpoints_are_asked_on_loopback_for_a_wildcard() {
        assert_eq!(
            endpoint("/ip4/0.0.0.0/tcp/5001").unwrap(),
            tcp("127.0.0.1", 5001)
        );
        assert_eq!(endpoint("/ip6/::/tcp/5001").unwrap(), tcp("::1", 5001));
        assert_eq!(
            endpoint("/dns4/kubo.internal/tcp/5001/http").unwrap(),
            tcp("kubo.internal", 5001)
        );
        assert_eq!(
            endpoint("/unix/run/ipfs.sock").unwrap(),
            Endpoint::Unix("/run/ipfs.sock".into())
        );
        assert!(endpoint("/ip4/127.0.0.1/udp/5001").is_err());
        assert!(endpoint("127.0.0.1:5001").is_err());
    }

    #[test]
    fn one_kubo_per_address_with_every_source() {
        let dir = tempfile::tempdir().unwrap();
        let kubo_config = dir.path().join("config");
        std::fs::write(
            &kubo_config,
            r#"{"Addresses":{"API":["/ip4/0.0.0.0/tcp/5001","/unix/run/ipfs.sock"]}}"#,
        )
        .unwrap();
        let follow = dir.path().join("follow");
        for (name, json) in [
            (
                "a",
                r#"{"ipfs_connector":{"ipfshttp":{"node_multiaddress":"/ip4/127.0.0.1/tcp/5001"}}}"#,
            ),
            (
                "b",
                r#"{"ipfs_connector":{"ipfshttp":{"node_multiaddress":"/ip4/127.0.0.1/tcp/5002"}}}"#,
            ),
            ("c", r#"{"source":"http://example.org/c.json"}"#),
            ("d", "{not json"),
        ] {
            std::fs::create_dir_all(follow.join(name)).unwrap();
            std::fs::write(follow.join(name).join("service.json"), json).unwrap();
        }
        std::fs::create_dir_all(follow.join("e")).unwrap();
        let config = KuboConfig {
            apis: vec![tcp("127.0.0.1", 5002)],
            kubo_config: kubo_config.clone(),
            follow_config_dir: follow.clone(),
        };
        let found = find(&config);
        let labels: Vec<&str> = found.kubos.iter().map(|k| k.label.as_str()).collect();
        assert_eq!(labels, ["127.0.0.1:5002", "127.0.0.1:5001"]);
        assert_eq!(
            found.kubos[0].sources,
            [
                Source::Flag,
                Source::Follower {
                    cluster_name: Label::new("b"),
                    service_json: Text::new(follow.join("b/service.json").display().to_string()),
                }
            ]
        );
        assert_eq!(
            found.kubos[1].sources[0],
            Source::KuboConfig(Text::new(kubo_config.display().to_string()))
        );
        assert_eq!(
            found.kubos[1].followers().collect::<Vec<_>>(),
            [&Label::new("a")]
        );
        assert_eq!(
            found.kubos[1].aliases,
            [Endpoint::Unix("/run/ipfs.sock".into())]
        );
        assert_eq!(found.problems.len(), 1, "{:?}", found.problems);
        assert!(found.problems[0].contains("follower d uses is unknown"));
    }

    #[test]
    fn nothing_configured_is_no_kubo_and_no_problem() {
        let dir = tempfile::tempdir().unwrap();
        let config = KuboConfig {
            kubo_config: dir.path().join(".ipfs/config"),
            follow_config_dir: dir.path().join(".ipfs-cluster-follow"),
            ..KuboConfig::default()
        };
        assert_eq!(find(&config), Found::default());
    }
}
