//! This host's own addresses, so that only the addresses a follower really binds here become
//! claims (its `/id` also lists announced, observed and DNS addresses of other machines).
//!
//! IPv4 addresses come from the `/32 host LOCAL` entries of `/proc/net/fib_trie`, IPv6 ones from
//! `/proc/net/if_inet6`. The parsers are pure; [`read_host_addresses`] is the blocking reader.
//!
//! # Caveats
//! Like `/proc/net/tcp`, these show the exporter's own network namespace.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// The largest `fib_trie` or `if_inet6` read (a router with a full table is bigger: then only
/// loopback and wildcard addresses count as local).
pub const MAX_ADDRESS_TABLE_BYTES: u64 = 4 * 1024 * 1024;

/// The addresses of this host's interfaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostAddresses {
    /// Literal addresses of the interfaces (loopback and wildcards need not be listed).
    pub addresses: BTreeSet<IpAddr>,
}

impl HostAddresses {
    /// True when a socket bound to `ip` would be on this host: loopback, a wildcard, or an
    /// address of one of its interfaces.
    pub fn is_local(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_loopback() || ip.is_unspecified() || self.addresses.contains(&ip)
    }
}

/// Local IPv4 addresses of a `/proc/net/fib_trie` text: each `|-- <address>` leaf followed by a
/// `/32 host LOCAL` line.
pub fn parse_fib_trie(text: &str) -> BTreeSet<IpAddr> {
    let mut found = BTreeSet::new();
    let mut leaf: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(address) = line.strip_prefix("|-- ") {
            leaf = address.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(ip) = leaf {
                found.insert(IpAddr::V4(ip));
            }
        } else if line.starts_with("+-- ") {
            leaf = None;
        }
    }
    found
}

/// IPv6 addresses of a `/proc/net/if_inet6` text (first field: 32 hex digits, network order).
pub fn parse_if_inet6(text: &str) -> BTreeSet<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let hex = line.split_whitespace().next()?;
            if hex.len() != 32 {
                return None;
            }
            let bits = u128::from_str_radix(hex, 16).ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(bits)).to_canonical())
        })
        .collect()
}

/// Blocking: the host's addresses under a `/proc`-shaped root. A table that cannot be read adds
/// nothing (loopback and wildcards still count as local); the problems are returned in words.
pub fn read_host_addresses(root: &Path) -> (HostAddresses, Vec<String>) {
    let mut host = HostAddresses::default();
    let mut problems = Vec::new();
    type Parser = fn(&str) -> BTreeSet<IpAddr>;
    let tables: [(&str, Parser); 2] = [("fib_trie", parse_fib_trie), ("if_inet6", parse_if_inet6)];
    for (name, parse) in tables {
        let path = root.join("net").join(name);
        match crate::host::files::read_capped(&path, MAX_ADDRESS_TABLE_BYTES) {
            Ok(Some(raw)) => host.addresses.extend(parse(&String::from_utf8_lossy(&raw))),
            // No IPv6 in this kernel: no IPv6 addresses.
            Ok(None) => {}
            Err(e) => problems.push(format!("cannot read {}: {e}", path.display())),
        }
    }
    (host, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIB_TRIE: &str = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.168.1.0/24 2 0 2
        |-- 192.168.1.0
           /24 link UNICAST
        |-- 192.168.1.5
           /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 192.168.1.5
        /32 host LOCAL
";

    #[test]
    fn local_ipv4_addresses_from_fib_trie() {
        let found: Vec<String> = parse_fib_trie(FIB_TRIE)
            .iter()
            .map(|ip| ip.to_string())
            .collect();
        assert_eq!(found, ["127.0.0.1", "192.168.1.5"]);
        assert!(parse_fib_trie("").is_empty());
    }

    #[test]
    fn ipv6_addresses_from_if_inet6() {
        let text = "00000000000000000000000000000001 01 80 10 80       lo
fe80000000000000021122fffe334455 02 40 20 80     eth0
2001db80000000000000000000000005 02 40 00 80     eth0
junk
";
        let found: Vec<String> = parse_if_inet6(text)
            .iter()
            .map(|ip| ip.to_string())
            .collect();
        assert_eq!(found, ["::1", "2001:db80::5", "fe80::211:22ff:fe33:4455"]);
    }

    #[test]
    fn locality() {
        let host = HostAddresses {
            addresses: BTreeSet::from(["192.168.1.5".parse().unwrap()]),
        };
        for (ip, local) in [
            ("127.0.0.1", true),
            ("0.0.0.0", true),
            ("::", true),
            ("::1", true),
            ("192.168.1.5", true),
            ("::ffff:192.168.1.5", true),
            ("10.9.9.9", false),
            ("1.2.3.4", false),
        ] {
            assert_eq!(host.is_local(ip.parse().unwrap()), local, "{ip}");
        }
    }

    #[test]
    fn reads_this_hosts_tables() {
        let (host, problems) = read_host_addresses(Path::new("/proc"));
        assert!(problems.is_empty(), "{problems:?}");
        assert!(host.is_local("127.0.0.1".parse().unwrap()));
    }
}
