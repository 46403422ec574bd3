//! The followers named by `--follow.api`: parsing `[NAME=]<multiaddr | http URL>`, and the name of
//! an unnamed one.

use std::path::Path;

use crate::net::http_client::Endpoint;
use crate::net::multiaddr::Multiaddr;

use super::{Discovery, Follower, Source, API_SOCKET};

/// Why a `--follow.api` value (or a follower's API setting) cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FollowError {
    #[error("follow API {spec:?}: {reason}")]
    BadApiSpec { spec: String, reason: String },
}

/// One `--follow.api` value, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSpec {
    /// The `NAME=` prefix, when given.
    pub name: Option<String>,
    pub endpoint: Endpoint,
}

/// Parse `[NAME=]<multiaddr | http://host[:port][/]>`. Multiaddrs may be `/unix/<path>`,
/// `/ip4|ip6|dns.../tcp/<port>[/http]`; TLS, UDP, URL paths and credentials in URLs are refused.
pub fn parse_api_spec(spec: &str) -> Result<ApiSpec, FollowError> {
    let bad = |reason: String| FollowError::BadApiSpec {
        spec: spec.to_string(),
        reason,
    };
    let spec_trimmed = spec.trim();
    let (name, address) = split_name(spec_trimmed);
    if let Some(name) = name {
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(bad(
                "the cluster name before '=' must be non-empty, without spaces".into(),
            ));
        }
    }
    let endpoint = if address.starts_with('/') {
        let addr = Multiaddr::parse(address).map_err(|e| bad(e.to_string()))?;
        Endpoint::from_multiaddr(&addr).map_err(|e| bad(e.to_string()))?
    } else {
        parse_http_url(address).map_err(bad)?
    };
    Ok(ApiSpec {
        name: name.map(str::to_string),
        endpoint,
    })
}

/// `NAME=rest` when the part before the first `=` cannot be part of an address.
fn split_name(spec: &str) -> (Option<&str>, &str) {
    match spec.split_once('=') {
        Some((name, rest)) if !name.contains(['/', ':']) => (Some(name), rest),
        _ => (None, spec),
    }
}

fn parse_http_url(url: &str) -> Result<Endpoint, String> {
    if url.starts_with("https://") {
        return Err("https is not supported; use http:// or a /unix/ socket".into());
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or("expected a multiaddr (/unix/..., /ip4/.../tcp/...) or an http:// URL")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !path.is_empty() {
        return Err(format!(
            "a URL path (/{path}) is not supported; give the API root"
        ));
    }
    if authority.contains('@') {
        return Err(
            "credentials in the URL are not supported; use --follow.basic-auth-file".into(),
        );
    }
    let (host, port) = crate::net::multiaddr::split_host_port(authority, 80)?;
    if host.is_empty() {
        return Err("the URL names no host".into());
    }
    Ok(Endpoint::Tcp { host, port })
}

impl Discovery {
    /// The followers named by `--follow.api` alone (up to the cap), for a pass that could not
    /// look at the config folder or the processes: nothing is said of the other sources.
    pub fn only_flags(specs: &[ApiSpec], max_followers: usize) -> Discovery {
        Discovery {
            followers: from_flags(specs).take(max_followers).collect(),
            ..Discovery::default()
        }
    }
}

pub(super) fn from_flags(specs: &[ApiSpec]) -> impl Iterator<Item = Follower> + '_ {
    specs.iter().map(|spec| Follower {
        name: spec
            .name
            .clone()
            .unwrap_or_else(|| default_name(&spec.endpoint)),
        api: Ok(spec.endpoint.clone()),
        source: Source::Flag,
        process: None,
        trusted: true,
        folder_owner: None,
        untrusted_user: None,
    })
}

/// The name for an unnamed `--follow.api`: the folder of an `<name>/api-socket`, else the address.
pub fn default_name(endpoint: &Endpoint) -> String {
    if let Endpoint::Unix(path) = endpoint {
        let folder = path
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str());
        if let (Some(folder), Some(API_SOCKET)) =
            (folder, path.file_name().and_then(|n| n.to_str()))
        {
            return folder.to_string();
        }
    }
    endpoint.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::follow::discovery::fixtures::*;
    use crate::checks::follow::discovery::*;

    #[test]
    fn api_specs_in_every_form() {
        let cases: Vec<(&str, Option<&str>, Endpoint)> = vec![
            ("/ip4/127.0.0.1/tcp/19094", None, tcp("127.0.0.1", 19094)),
            (
                "mycluster=/ip4/127.0.0.1/tcp/19094",
                Some("mycluster"),
                tcp("127.0.0.1", 19094),
            ),
            ("/ip4/127.0.0.1/tcp/9094/http", None, tcp("127.0.0.1", 9094)),
            ("/dns/localhost/tcp/9094", None, tcp("localhost", 9094)),
            (
                "c=/unix//home/u/.ipfs-cluster-follow/c/api-socket",
                Some("c"),
                Endpoint::Unix("/home/u/.ipfs-cluster-follow/c/api-socket".into()),
            ),
            ("http://127.0.0.1:9094", None, tcp("127.0.0.1", 9094)),
            (
                "x=http://localhost:9094/",
                Some("x"),
                tcp("localhost", 9094),
            ),
            ("http://[::1]:9094", None, tcp("::1", 9094)),
            ("http://host", None, tcp("host", 80)),
        ];
        for (input, name, endpoint) in cases {
            let spec = parse_api_spec(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(spec.name.as_deref(), name, "{input}");
            assert_eq!(spec.endpoint, endpoint, "{input}");
        }
    }

    #[test]
    fn bad_api_specs_say_why() {
        let cases = [
            ("https://h:9094", "https is not supported"),
            ("/dns/h/tcp/443/https", "TLS"),
            ("/ip4/1.2.3.4/udp/9094", "not a TCP address"),
            ("http://h:9094/api", "URL path"),
            ("http://u:p@h:9094", "basic-auth-file"),
            ("http://h:99999", "not a port"),
            ("localhost:9094", "expected a multiaddr"),
            ("=/ip4/1.2.3.4/tcp/1", "cluster name"),
            ("a b=/ip4/1.2.3.4/tcp/1", "cluster name"),
            ("/ip4/1.2.3.4", "names no port"),
        ];
        for (input, expected) in cases {
            let err = parse_api_spec(input).unwrap_err().to_string();
            assert!(err.contains(expected), "{input}: {err}");
            assert!(err.contains(input), "{input}: {err}");
        }
    }

    #[test]
    fn unnamed_specs_take_the_socket_folder_or_the_address() {
        let socket = Endpoint::Unix("/x/.ipfs-cluster-follow/mine/api-socket".into());
        assert_eq!(default_name(&socket), "mine");
        assert_eq!(
            default_name(&Endpoint::Unix("/tmp/s".into())),
            "unix:/tmp/s"
        );
        assert_eq!(default_name(&tcp("127.0.0.1", 1)), "127.0.0.1:1");
    }

    #[test]
    fn a_pass_that_could_not_finish_keeps_the_followers_named_by_flag() {
        let specs = vec![
            parse_api_spec("a=/ip4/127.0.0.1/tcp/1").unwrap(),
            parse_api_spec("b=/ip4/127.0.0.1/tcp/2").unwrap(),
        ];
        let found = Discovery::only_flags(&specs, 1);
        let names: Vec<&str> = found.followers.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["a"]);
        assert!(found.followers[0].trusted);
        assert!(
            found.found_by.is_empty(),
            "nothing is said of sources not looked at"
        );
    }
}
