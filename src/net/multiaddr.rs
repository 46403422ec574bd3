//! Textual multiaddrs (`/ip4/127.0.0.1/tcp/1234/http`): a small, total parser for the subset the
//! Lotus, ipfs-cluster and Kubo configs use.
//!
//! The parser never panics: anything it cannot read is an [`MultiaddrError`] that names the
//! offending component. Unknown protocols without a value (`/quic-v1`, `/webtransport`, ...) are
//! kept as flags so a swarm address still yields its transport and port.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// Where a multiaddr points, as far as a socket is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A literal IP address (`/ip4/...` or `/ip6/...`).
    Ip(IpAddr),
    /// A DNS name (`/dns/...`, `/dns4/...`, `/dns6/...`).
    Dns(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Dns(name) => f.write_str(name),
        }
    }
}

/// Transport protocol of a socket address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    /// The protocol name as `/proc/net` and Prometheus labels spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed multiaddr reduced to what an exporter needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Multiaddr {
    /// A network address: host, transport and port, plus the protocols that follow (`http`, `tls`, `quic-v1`, ...).
    Socket {
        host: Host,
        transport: Transport,
        port: u16,
        /// Protocol names after the port, lower case, values dropped (`["quic-v1", "webtransport"]`).
        upper: Vec<String>,
    },
    /// A unix socket path (`/unix/<path>`).
    Unix(PathBuf),
}

/// Why a multiaddr could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultiaddrError {
    #[error("multiaddr {0:?} must start with '/'")]
    NoLeadingSlash(String),
    #[error("multiaddr {addr:?}: protocol /{proto} needs a value")]
    MissingValue { addr: String, proto: String },
    #[error("multiaddr {addr:?}: {value:?} is not a valid {proto} value")]
    BadValue {
        addr: String,
        proto: String,
        value: String,
    },
    #[error("multiaddr {0:?} names no host (expected /ip4, /ip6, /dns, /dns4, /dns6 or /unix)")]
    NoHost(String),
    #[error("multiaddr {0:?} names no port (expected /tcp/<port> or /udp/<port>)")]
    NoPort(String),
    #[error("multiaddr {addr:?} names more than one {what}")]
    Repeated { addr: String, what: &'static str },
    #[error("multiaddr {0:?} contains whitespace (one address per value)")]
    Whitespace(String),
}

/// Protocols that carry a value we do not need; their value is skipped.
const VALUED_IGNORED: &[&str] = &[
    "p2p", "ipfs", "certhash", "sni", "ip6zone", "garlic64", "onion3",
];

impl Multiaddr {
    /// Parse a textual multiaddr.
    pub fn parse(text: &str) -> Result<Multiaddr, MultiaddrError> {
        let text = text.trim();
        if text.contains(char::is_whitespace) {
            return Err(MultiaddrError::Whitespace(text.to_string()));
        }
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| MultiaddrError::NoLeadingSlash(text.to_string()))?;
        if let Some(path) = rest.strip_prefix("unix/") {
            // `/unix//abs/path` and `/unix/abs/path` both mean an absolute path; ipfs-cluster
            // writes the former.
            let path = path.trim_start_matches('/');
            if path.is_empty() {
                return Err(MultiaddrError::MissingValue {
                    addr: text.to_string(),
                    proto: "unix".into(),
                });
            }
            return Ok(Multiaddr::Unix(PathBuf::from(format!("/{path}"))));
        }
        let mut parts = rest.split('/');
        let mut host: Option<Host> = None;
        let mut socket: Option<(Transport, u16)> = None;
        let repeated = |what| MultiaddrError::Repeated {
            addr: text.to_string(),
            what,
        };
        let mut upper = Vec::new();
        while let Some(proto) = parts.next() {
            let proto_lc = proto.to_ascii_lowercase();
            let mut value = || {
                parts
                    .next()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| MultiaddrError::MissingValue {
                        addr: text.to_string(),
                        proto: proto_lc.clone(),
                    })
            };
            let bad = |value: &str| MultiaddrError::BadValue {
                addr: text.to_string(),
                proto: proto.to_ascii_lowercase(),
                value: value.to_string(),
            };
            match proto_lc.as_str() {
                "ip4" | "ip6" | "dns" | "dns4" | "dns6" | "dnsaddr" => {
                    let v = value()?;
                    let parsed = match proto_lc.as_str() {
                        "ip4" => Host::Ip(IpAddr::V4(v.parse::<Ipv4Addr>().map_err(|_| bad(v))?)),
                        "ip6" => Host::Ip(IpAddr::V6(v.parse::<Ipv6Addr>().map_err(|_| bad(v))?)),
                        _ => Host::Dns(v.to_string()),
                    };
                    if host.replace(parsed).is_some() {
                        return Err(repeated("host"));
                    }
                }
                "tcp" | "udp" => {
                    let v = value()?;
                    let port = v.parse::<u16>().map_err(|_| bad(v))?;
                    let transport = if proto_lc == "tcp" {
                        Transport::Tcp
                    } else {
                        Transport::Udp
                    };
                    if socket.replace((transport, port)).is_some() {
                        return Err(repeated("transport (/tcp or /udp)"));
                    }
                }
                "" => {}
                p if VALUED_IGNORED.contains(&p) => {
                    value()?;
                }
                other => upper.push(other.to_string()),
            }
        }
        let host = host.ok_or_else(|| MultiaddrError::NoHost(text.to_string()))?;
        let (transport, port) = socket.ok_or_else(|| MultiaddrError::NoPort(text.to_string()))?;
        Ok(Multiaddr::Socket {
            host,
            transport,
            port,
            upper,
        })
    }

    /// True when the address says TLS (`/https`, `/wss`, `/tls`).
    pub fn wants_tls(&self) -> bool {
        match self {
            Multiaddr::Socket { upper, .. } => upper
                .iter()
                .any(|p| matches!(p.as_str(), "https" | "wss" | "tls")),
            Multiaddr::Unix(_) => false,
        }
    }

    /// The TCP/UDP port, if this is a network address.
    pub fn port(&self) -> Option<u16> {
        match self {
            Multiaddr::Socket { port, .. } => Some(*port),
            Multiaddr::Unix(_) => None,
        }
    }
}

/// A URL's `host:port` or `[v6]:port` into host (brackets removed) and port, `default_port`
/// when none is given. The error says what is wrong in words.
pub fn split_host_port(authority: &str, default_port: u16) -> Result<(String, u16), String> {
    let parse_port = |p: &str| p.parse::<u16>().map_err(|_| format!("{p:?} is not a port"));
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed '[' in the URL host")?;
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None if after.is_empty() => default_port,
            None => return Err(format!("unexpected {after:?} after the IPv6 host")),
        };
        return Ok((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_string(), parse_port(port)?)),
        None => Ok((authority.to_string(), default_port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_of_a_url_authority() {
        let split = |a: &str| split_host_port(a, 80);
        assert_eq!(split("node:1234"), Ok(("node".into(), 1234)));
        assert_eq!(split("node"), Ok(("node".into(), 80)));
        assert_eq!(split("[::1]:9094"), Ok(("::1".into(), 9094)));
        assert_eq!(split("[::1]"), Ok(("::1".into(), 80)));
        assert!(split("node:http").unwrap_err().contains("is not a port"));
        assert!(split("[::1").unwrap_err().contains("unclosed"));
        assert!(split("[::1]x").unwrap_err().contains("after the IPv6 host"));
    }

    fn socket(text: &str) -> (Host, Transport, u16, Vec<String>) {
        match Multiaddr::parse(text).unwrap() {
            Multiaddr::Socket {
                host,
                transport,
                port,
                upper,
            } => (host, transport, port, upper),
            other => panic!("expected a socket address, got {other:?}"),
        }
    }

    #[test]
    fn lotus_default_api_address() {
        let (host, transport, port, upper) = socket("/ip4/127.0.0.1/tcp/1234/http");
        assert_eq!(host, Host::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!((transport, port), (Transport::Tcp, 1234));
        assert_eq!(upper, vec!["http"]);
    }

    #[test]
    fn ipv6_and_dns_hosts() {
        assert_eq!(
            socket("/ip6/::1/tcp/1234").0,
            Host::Ip("::1".parse().unwrap())
        );
        let (host, _, port, upper) = socket("/dns/host/tcp/443/wss");
        assert_eq!((host, port), (Host::Dns("host".into()), 443));
        assert!(upper.contains(&"wss".to_string()));
    }

    #[test]
    fn swarm_addresses_keep_transport_and_port() {
        let (_, transport, port, upper) =
            socket("/ip4/0.0.0.0/udp/4001/quic-v1/webtransport/certhash/uEiAbc/p2p/12D3KooW");
        assert_eq!((transport, port), (Transport::Udp, 4001));
        assert_eq!(upper, vec!["quic-v1", "webtransport"]);
    }

    #[test]
    fn unix_paths_with_single_or_double_slash() {
        assert_eq!(
            Multiaddr::parse("/unix//home/u/.ipfs-cluster-follow/c/api-socket").unwrap(),
            Multiaddr::Unix("/home/u/.ipfs-cluster-follow/c/api-socket".into())
        );
        assert_eq!(
            Multiaddr::parse("/unix/tmp/s").unwrap(),
            Multiaddr::Unix("/tmp/s".into())
        );
    }

    #[test]
    fn tls_is_detected() {
        assert!(Multiaddr::parse("/dns/h/tcp/443/https")
            .unwrap()
            .wants_tls());
        assert!(!Multiaddr::parse("/ip4/1.2.3.4/tcp/1/http")
            .unwrap()
            .wants_tls());
    }

    #[test]
    fn malformed_addresses_are_named() {
        let cases = [
            ("ip4/1.2.3.4/tcp/1", "must start with '/'"),
            ("/ip4/999.1.1.1/tcp/1", "not a valid ip4"),
            ("/ip4/1.2.3.4/tcp/99999", "not a valid tcp"),
            ("/ip4/1.2.3.4/tcp", "needs a value"),
            ("/tcp/1234", "names no host"),
            ("/ip4/1.2.3.4", "names no port"),
            ("/unix/", "needs a value"),
            (
                "/ip4/127.0.0.1/tcp/1/http\n/ip4/1.2.3.4/tcp/2/http",
                "whitespace",
            ),
            ("/ip4/127.0.0.1/ip4/1.2.3.4/tcp/1", "more than one host"),
            ("/ip4/127.0.0.1/tcp/1/udp/2", "more than one transport"),
            ("", "must start with '/'"),
        ];
        for (input, expected) in cases {
            let err = Multiaddr::parse(input).unwrap_err().to_string();
            assert!(err.contains(expected), "{input:?}: {err}");
        }
    }
}
