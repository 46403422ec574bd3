//! Where a probe module's token may go: the configured Lotus, and the targets its
//! `token_targets` names. Nothing else, whatever the scheme: a unix socket, another loopback
//! address (another user's listener on 127.0.0.2), an https host whose certificate verifies.
//!
//! An entry is `unix:/path/to/socket` (that socket, exactly), or `[scheme://]host[:port]` where
//! `scheme` is `http` or `https` (either, when left out), `port` is a number or `*` (any, when
//! left out), and `host` a name or an address (`[::1]` for IPv6), compared without case. A `*`
//! in a name stands for one label or part of one (`lotus-*.fleet.example` matches
//! `lotus-7.fleet.example`, not `a.b.fleet.example`), as a certificate's wildcard does: the
//! pattern blackbox_exporter's users write in relabeling, anchored at both ends.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::net::http_client::Endpoint;

/// One target a token may go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenTarget {
    /// A unix socket, by its path.
    Unix(PathBuf),
    /// A TCP host pattern.
    Tcp {
        /// `Some(true)`: https only; `Some(false)`: http only; `None`: either.
        tls: Option<bool>,
        host: HostPattern,
        /// `None`: any port.
        port: Option<u16>,
    },
}

/// A host as the allow-list names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// An address: matches that address however it is written.
    Ip(IpAddr),
    /// A name, lowercase, `*` standing for part of a label.
    Name(String),
}

impl TokenTarget {
    /// Read one `token_targets` entry.
    pub fn parse(entry: &str) -> Result<TokenTarget, String> {
        let entry = entry.trim();
        if let Some(path) = entry.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(format!(
                    "{entry:?}: a unix socket is named by its absolute path"
                ));
            }
            return Ok(TokenTarget::Unix(PathBuf::from(path)));
        }
        let (tls, rest) = match entry.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "http" => (Some(false), rest),
                "https" => (Some(true), rest),
                other => return Err(format!("{entry:?}: scheme {other:?} (use http or https)")),
            },
            None => (None, entry),
        };
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "{entry:?}: write [http:// or https://]HOST[:PORT], or unix:/PATH"
            ));
        }
        let (host, port) = if let Ok(ip) = rest.parse::<IpAddr>() {
            (ip.to_string(), None)
        } else if let Some(host) = rest.strip_suffix(":*") {
            (
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                None,
            )
        } else {
            let (host, port) = crate::net::multiaddr::split_host_port(rest, 0)
                .map_err(|why| format!("{entry:?}: {why}"))?;
            if port == 0 && rest.contains(':') && !rest.ends_with(']') {
                return Err(format!("{entry:?}: port 0 is no port (write * for any)"));
            }
            (host, (port != 0).then_some(port))
        };
        if host.is_empty() {
            return Err(format!("{entry:?}: no host"));
        }
        let host = match host.parse::<IpAddr>() {
            Ok(ip) => HostPattern::Ip(ip.to_canonical()),
            Err(_) => {
                let labels: Vec<&str> = host.split('.').collect();
                let wild = host.contains('*');
                if wild && (labels.len() < 3 || labels[1..].iter().any(|l| l.contains('*'))) {
                    return Err(format!(
                        "{entry:?}: a wildcard may stand only in the first label, with two fixed labels after it (lotus-*.fleet.example)"
                    ));
                }
                HostPattern::Name(host.to_ascii_lowercase())
            }
        };
        Ok(TokenTarget::Tcp { tls, host, port })
    }

    /// True when a target at `endpoint`, spoken to with TLS or not, is this entry.
    pub fn permits(&self, endpoint: &Endpoint, tls: bool) -> bool {
        match (self, endpoint) {
            (TokenTarget::Unix(allowed), Endpoint::Unix(path)) => allowed == path,
            (
                TokenTarget::Tcp {
                    tls: scheme,
                    host: pattern,
                    port: allowed_port,
                },
                Endpoint::Tcp { host, port },
            ) => {
                scheme.is_none_or(|wanted| wanted == tls)
                    && allowed_port.is_none_or(|p| p == *port)
                    && host_matches(pattern, host)
            }
            _ => false,
        }
    }
}

/// True when `host` (as the target wrote it) is the pattern's host.
fn host_matches(pattern: &HostPattern, host: &str) -> bool {
    match (pattern, host.parse::<IpAddr>()) {
        (HostPattern::Ip(allowed), Ok(ip)) => *allowed == ip.to_canonical(),
        (HostPattern::Name(allowed), Err(_)) => {
            let host = host.to_ascii_lowercase();
            let (wanted, given): (Vec<&str>, Vec<&str>) =
                (allowed.split('.').collect(), host.split('.').collect());
            wanted.len() == given.len()
                && wanted.iter().zip(&given).all(|(w, g)| label_matches(w, g))
        }
        _ => false,
    }
}

/// One DNS label against a pattern label where `*` stands for any run of characters.
fn label_matches(pattern: &str, label: &str) -> bool {
    let Some((prefix, rest)) = pattern.split_once('*') else {
        return pattern == label;
    };
    let Some(mut left) = label.strip_prefix(prefix) else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or_default();
    for part in parts {
        match left.find(part) {
            Some(at) => left = &left[at + part.len()..],
            None => return false,
        }
    }
    left.len() >= last.len() && left.ends_with(last)
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

    fn allows(entry: &str, endpoint: &Endpoint, tls: bool) -> bool {
        TokenTarget::parse(entry).unwrap().permits(endpoint, tls)
    }

    #[test]
    fn hosts_ports_and_schemes() {
        assert!(allows("node-a.example", &tcp("NODE-A.example", 1234), true));
        assert!(allows("node-a.example", &tcp("node-a.example", 1), false));
        assert!(!allows(
            "node-a.example",
            &tcp("node-a.example.", 1234),
            true
        ));
        assert!(!allows(
            "node-a.example",
            &tcp("evil.node-a.example", 1234),
            true
        ));
        assert!(allows(
            "https://node-a.example:1234",
            &tcp("node-a.example", 1234),
            true
        ));
        assert!(!allows(
            "https://node-a.example:1234",
            &tcp("node-a.example", 1234),
            false
        ));
        assert!(!allows(
            "https://node-a.example:1234",
            &tcp("node-a.example", 1235),
            true
        ));
        assert!(allows(
            "http://node-a.example:*",
            &tcp("node-a.example", 9),
            false
        ));
        assert!(allows("10.0.0.7", &tcp("10.0.0.7", 1234), false));
        assert!(allows("[::1]:1234", &tcp("::1", 1234), false));
        assert!(allows("[::ffff:10.0.0.7]", &tcp("10.0.0.7", 1234), false));
        assert!(!allows("127.0.0.1", &tcp("127.0.0.2", 1234), false));
        assert!(!allows("127.0.0.1", &tcp("localhost", 1234), false));
        assert!(!allows(
            "127.0.0.1:1234",
            &Endpoint::Unix("/tmp/s".into()),
            false
        ));
    }

    #[test]
    fn wildcards_stand_for_part_of_one_label() {
        let entry = "https://lotus-*.fleet.example";
        assert!(allows(entry, &tcp("lotus-7.fleet.example", 443), true));
        assert!(allows(entry, &tcp("lotus-.fleet.example", 443), true));
        assert!(!allows(
            entry,
            &tcp("lotus-7.evil.fleet.example", 443),
            true
        ));
        assert!(!allows(
            entry,
            &tcp("lotus-7.fleet.example.evil", 443),
            true
        ));
        assert!(!allows(entry, &tcp("xlotus-7.fleet.example", 443), true));
        assert!(!allows(entry, &tcp("127.0.0.2", 443), true));
        assert!(allows("*.fleet.example", &tcp("a.fleet.example", 1), false));
        assert!(!allows("*.fleet.example", &tcp("fleet.example", 1), false));
        assert!(!allows(
            "*.fleet.example",
            &tcp("a.b.fleet.example", 1),
            false
        ));
        assert!(label_matches("a*b*c", "aXbYc") && !label_matches("a*b*c", "aXc"));
    }

    #[test]
    fn unix_sockets_only_by_their_exact_path() {
        let socket = Endpoint::Unix("/run/lotus/api.sock".into());
        assert!(allows("unix:/run/lotus/api.sock", &socket, false));
        assert!(!allows(
            "unix:/run/lotus/api.sock",
            &Endpoint::Unix("/run/lotus/../lotus/api.sock".into()),
            false
        ));
        assert!(!allows(
            "unix:/run/lotus/api.sock",
            &tcp("127.0.0.1", 1234),
            false
        ));
    }

    #[test]
    fn entries_that_cannot_be_read_are_refused() {
        for bad in [
            "",
            "ftp://node",
            "unix:relative.sock",
            "https://node/rpc/v1",
            "user@node",
            "node:notaport",
            "*.example",
            "*",
            "*.*.example",
        ] {
            assert!(TokenTarget::parse(bad).is_err(), "{bad:?}");
        }
    }
}
