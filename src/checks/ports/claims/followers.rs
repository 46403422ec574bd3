//! What one follower claims on this host: its API when that is TCP here, and the swarm addresses
//! of its `/id` that are this host's, capped per follower.

use super::{host_address, socket_claim};
use crate::checks::ports::host::HostAddresses;
use crate::checks::ports::{BindAddress, Claim, FollowerClaims, SERVICE_FOLLOW};
use crate::net::multiaddr::{Multiaddr, Transport};

/// At most this many distinct swarm claims (protocol, address, port) are kept per follower, after
/// the locality filter: a follower binds a handful of swarm sockets, while its `/id` may list
/// thousands of addresses (a misbehaving or hostile peer).
pub const MAX_SWARM_CLAIMS: usize = 32;

/// The claims of one follower, and how many distinct swarm claims the cap left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowerPlan {
    pub claims: Vec<Claim>,
    pub swarm_dropped: usize,
}

/// Claims of one follower: its API when it is TCP on this host, and its swarm from `/id`
/// addresses that are this host's (loopback, wildcard, or an address of one of its interfaces).
///
/// Left out: relay addresses (`/p2p-circuit`, the relay's port), DNS names and addresses of other
/// machines (announced or observed addresses, a remote API), port 0 ("any free port"), addresses
/// that cannot be read (the follow check reports the follower itself), and swarm claims beyond
/// [`MAX_SWARM_CLAIMS`].
pub fn follower_claims(follower: &FollowerClaims, host: &HostAddresses) -> FollowerPlan {
    let service = format!("{SERVICE_FOLLOW}:{}", follower.cluster_name);
    let api = follower
        .api
        .as_ref()
        .and_then(|api| api_claim(&service, api))
        .filter(|claim| match &claim.address {
            BindAddress::Ip(ip) => host.is_local(*ip),
            BindAddress::Name(name) => name.eq_ignore_ascii_case("localhost"),
            BindAddress::Every => true,
        });
    let mut plan = FollowerPlan {
        claims: api.into_iter().collect(),
        swarm_dropped: 0,
    };
    let mut seen = std::collections::HashSet::new();
    for addr in &follower.swarm_addresses {
        let Ok(parsed) = Multiaddr::parse(addr) else {
            continue;
        };
        if is_relayed(&parsed) {
            continue;
        }
        let Some(claim) = socket_claim(&service, "swarm", parsed) else {
            continue;
        };
        let local = matches!(&claim.address, BindAddress::Ip(ip) if host.is_local(*ip));
        if !local || !seen.insert((claim.protocol, claim.address.clone(), claim.port)) {
            continue;
        }
        if seen.len() > MAX_SWARM_CLAIMS {
            plan.swarm_dropped += 1;
        } else {
            plan.claims.push(claim);
        }
    }
    plan
}

/// The claim of a follower's TCP API at `host:port` (as the follow check resolved it).
fn api_claim(service: &str, (host, port): &(String, u16)) -> Option<Claim> {
    let address = host_address(host)?;
    (*port != 0).then(|| Claim {
        service: service.to_string(),
        role: "api".into(),
        protocol: Transport::Tcp,
        address,
        port: *port,
        source: None,
    })
}

fn is_relayed(addr: &Multiaddr) -> bool {
    matches!(addr, Multiaddr::Socket { upper, .. } if upper.iter().any(|p| p == "p2p-circuit"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::ports::claims::{cluster_service_claims, lines, multiaddr_claim};

    /// A host with one LAN address besides loopback.
    fn lan_host() -> HostAddresses {
        HostAddresses {
            addresses: ["192.168.1.5".parse().unwrap()].into(),
        }
    }

    /// A follower of `cluster_name` with this API and these `/id` addresses.
    fn a_follower(cluster_name: &str, api: Option<(&str, u16)>, swarm: &[&str]) -> FollowerClaims {
        FollowerClaims {
            cluster_name: cluster_name.into(),
            api: api.map(|(host, port)| (host.to_string(), port)),
            swarm_addresses: swarm.iter().map(|a| a.to_string()).collect(),
            pid: None,
            untrusted_user: None,
        }
    }

    #[test]
    fn follower_claims_api_and_swarm_without_relays() {
        let follower = a_follower(
            "mycluster",
            Some(("127.0.0.1", 9097)),
            &[
                "/ip4/127.0.0.1/tcp/9096/p2p/12D3KooWPeer",
                "/ip4/192.168.1.5/udp/9096/quic-v1/p2p/12D3KooWPeer",
                "/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWRelay/p2p-circuit/p2p/12D3KooWPeer",
                "garbage",
            ],
        );
        let plan = follower_claims(&follower, &lan_host());
        assert_eq!(
            lines(&plan.claims),
            [
                "ipfs-cluster-follow:mycluster api tcp 127.0.0.1 9097",
                "ipfs-cluster-follow:mycluster swarm tcp 127.0.0.1 9096",
                "ipfs-cluster-follow:mycluster swarm udp 192.168.1.5 9096",
            ]
        );
        assert_eq!(plan.swarm_dropped, 0);
        let on_socket = a_follower("c", None, &[]);
        assert!(follower_claims(&on_socket, &lan_host()).claims.is_empty());
    }

    #[test]
    fn remote_apis_and_other_machines_addresses_are_no_claims_here() {
        let follower = a_follower(
            "far",
            Some(("cluster.example.org", 9094)),
            &[
                // Announced, observed and DNS addresses: not sockets of this host.
                "/dns4/example.com/tcp/443/wss/p2p/12D3KooWPeer",
                "/ip4/10.9.9.9/tcp/9096/p2p/12D3KooWPeer",
                "/ip4/203.0.113.7/udp/9096/quic-v1",
                // Bound here: loopback, wildcard, an interface address.
                "/ip4/0.0.0.0/tcp/9096",
                "/ip6/::1/tcp/9096",
                "/ip4/192.168.1.5/tcp/9096",
            ],
        );
        assert_eq!(
            lines(&follower_claims(&follower, &lan_host()).claims),
            [
                "ipfs-cluster-follow:far swarm tcp 0.0.0.0 9096",
                "ipfs-cluster-follow:far swarm tcp ::1 9096",
                "ipfs-cluster-follow:far swarm tcp 192.168.1.5 9096",
            ]
        );
        for api in [("10.1.2.3", 9094), ("cluster.example.org", 9094)] {
            let remote = a_follower("far", Some(api), &[]);
            assert!(
                follower_claims(&remote, &lan_host()).claims.is_empty(),
                "{api:?} is another machine's port"
            );
        }
    }

    #[test]
    fn port_zero_is_no_claim() {
        assert_eq!(
            multiaddr_claim("kubo", "swarm", "/ip4/0.0.0.0/tcp/0").unwrap(),
            None
        );
        let claims = cluster_service_claims(
            r#"{"cluster":{"listen_multiaddress":["/ip4/0.0.0.0/tcp/0","/ip4/0.0.0.0/udp/0/quic"]}}"#,
        )
        .unwrap();
        assert!(claims.is_empty(), "{claims:?}");
        let follower = a_follower("c", Some(("127.0.0.1", 0)), &["/ip4/127.0.0.1/tcp/0"]);
        assert!(follower_claims(&follower, &lan_host()).claims.is_empty());
    }

    #[test]
    fn a_huge_id_gives_at_most_the_cap_of_distinct_swarm_claims() {
        let mut swarm_addresses: Vec<String> = (0..40_000)
            .map(|i| format!("/ip4/127.0.0.1/tcp/{}/p2p/12D3KooWPeer", 1000 + i % 60_000))
            .collect();
        // Duplicates do not count against the cap.
        swarm_addresses.extend((0..1000).map(|_| "/ip4/127.0.0.1/tcp/1000".to_string()));
        let follower = FollowerClaims {
            cluster_name: "big".into(),
            api: None,
            swarm_addresses,
            pid: None,
            untrusted_user: None,
        };
        let plan = follower_claims(&follower, &lan_host());
        assert_eq!(plan.claims.len(), MAX_SWARM_CLAIMS);
        assert_eq!(plan.swarm_dropped, 40_000 - MAX_SWARM_CLAIMS);
        let few = FollowerClaims {
            swarm_addresses: vec!["/ip4/127.0.0.1/tcp/9096".into(); 100],
            ..follower
        };
        assert_eq!(follower_claims(&few, &lan_host()).claims.len(), 1);
    }

    #[test]
    fn a_follower_api_on_this_host_is_a_claim() {
        let cases = [
            (("127.0.0.1", 9097), Some("tcp 127.0.0.1 9097")),
            (("::1", 9094), Some("tcp ::1 9094")),
            // Another machine's API is no claim on this host's ports.
            (("cluster.example", 443), None),
            (("localhost", 80), Some("tcp localhost 80")),
            (("192.168.1.5", 9094), Some("tcp 192.168.1.5 9094")),
            (("", 1), None),
        ];
        for (input, expected) in cases {
            let follower = a_follower("c", Some(input), &[]);
            let got = follower_claims(&follower, &lan_host())
                .claims
                .first()
                .map(|c| format!("{} {} {}", c.protocol, c.address, c.port));
            assert_eq!(got.as_deref(), expected, "{input:?}");
        }
    }
}
