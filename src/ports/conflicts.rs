//! Deciding conflicts: claims grouped per (port, protocol), compared with each other (configured
//! conflicts) and with the processes really listening (runtime conflicts), the reason in words.
//!
//! Everything here is pure. Address overlap follows the rules in the [module docs](super): the
//! family wildcards (`0.0.0.0`, `::`) overlap every address of their own family only, `*` (the
//! exporter's `:port`) and unresolved names overlap everything.

use std::net::IpAddr;

use super::{BindAddress, Claim, Listener, PortEntry, SERVICE_FOLLOW};
use crate::multiaddr::Transport;

/// True when two bind addresses on one port and protocol cannot both be bound by different sockets.
pub fn overlaps(a: &BindAddress, b: &BindAddress) -> bool {
    match (a, b) {
        (BindAddress::Ip(x), BindAddress::Ip(y)) => ips_overlap(*x, *y),
        // `*` covers everything; a name is not resolved, so it may be anything.
        _ => true,
    }
}

fn ips_overlap(x: IpAddr, y: IpAddr) -> bool {
    let (x, y) = (x.to_canonical(), y.to_canonical());
    x.is_ipv4() == y.is_ipv4() && (x == y || x.is_unspecified() || y.is_unspecified())
}

/// True when a listening process of `holder` service may be the one `claimant` configured.
///
/// A follower whose cluster name could not be read from its arguments (`ipfs-cluster-follow`)
/// may be any follower.
pub fn same_service(holder: &str, claimant: &str) -> bool {
    let is_some_follower = |service: &str| {
        service
            .strip_prefix(SERVICE_FOLLOW)
            .is_some_and(|rest| rest.starts_with(':'))
    };
    holder == claimant
        || (holder == SERVICE_FOLLOW && is_some_follower(claimant))
        || (claimant == SERVICE_FOLLOW && is_some_follower(holder))
}

/// Group sorted claims per (port, protocol) and decide each group's conflict.
///
/// `listeners` is `None` when the socket tables could not be read: no runtime verdict then.
pub fn plan_entries(claims: Vec<Claim>, listeners: Option<&[Listener]>) -> Vec<PortEntry> {
    let mut entries: Vec<PortEntry> = Vec::new();
    for claim in claims {
        match entries.last_mut() {
            Some(entry) if entry.port == claim.port && entry.protocol == claim.protocol => {
                entry.claims.push(claim)
            }
            _ => entries.push(PortEntry {
                port: claim.port,
                protocol: claim.protocol,
                claims: vec![claim],
                listeners: None,
                conflict: false,
                reason: None,
            }),
        }
    }
    for entry in &mut entries {
        decide(entry, listeners);
    }
    entries.sort_by_key(|e| (e.port, e.protocol));
    entries
}

fn decide(entry: &mut PortEntry, listeners: Option<&[Listener]>) {
    let mut reasons = configured_conflicts(&entry.claims);
    if let Some(listeners) = listeners {
        let here: Vec<&Listener> = listeners
            .iter()
            .filter(|l| l.port == entry.port && l.protocol == entry.protocol)
            .collect();
        reasons.extend(held_by_another_service(&entry.claims, &here));
        reasons.extend(shared_by_two_services(&here));
        entry.listeners = Some(listener_names(&here));
    }
    dedup_keep_order(&mut reasons);
    entry.conflict = !reasons.is_empty();
    entry.reason = (!reasons.is_empty()).then(|| reasons.join("; "));
}

/// Pairs of claims by different services on overlapping addresses.
fn configured_conflicts(claims: &[Claim]) -> Vec<String> {
    let mut reasons = Vec::new();
    for (i, a) in claims.iter().enumerate() {
        for b in &claims[i + 1..] {
            if !same_service(&a.service, &b.service) && overlaps(&a.address, &b.address) {
                reasons.push(format!(
                    "configured for both {} and {}",
                    describe_claim(a),
                    describe_claim(b)
                ));
            }
        }
    }
    reasons
}

/// A known service of the plan holds the port where another service's claim expects to listen.
fn held_by_another_service(claims: &[Claim], here: &[&Listener]) -> Vec<String> {
    let mut reasons = Vec::new();
    for listener in here {
        let address = BindAddress::ip(listener.address);
        for holder in &listener.holders {
            let Some(service) = &holder.service else {
                continue;
            };
            for claim in claims {
                if !same_service(service, &claim.service) && overlaps(&claim.address, &address) {
                    reasons.push(format!(
                        "held by {service} ({} pid {}) on {address}, where {} expects its {}",
                        holder.program, holder.pid, claim.service, claim.role
                    ));
                }
            }
        }
    }
    reasons
}

/// Processes of two different known services listening on overlapping addresses at once.
fn shared_by_two_services(here: &[&Listener]) -> Vec<String> {
    let known: Vec<(&str, u32, BindAddress)> = here
        .iter()
        .flat_map(|l| {
            l.holders.iter().filter_map(move |h| {
                Some((h.service.as_deref()?, h.pid, BindAddress::ip(l.address)))
            })
        })
        .collect();
    let mut reasons = Vec::new();
    for (i, (a, a_pid, a_addr)) in known.iter().enumerate() {
        for (b, b_pid, b_addr) in &known[i + 1..] {
            if !same_service(a, b) && overlaps(a_addr, b_addr) {
                reasons.push(format!(
                    "listened on at once by {a} (pid {a_pid}) on {a_addr} and {b} (pid {b_pid}) on {b_addr}"
                ));
            }
        }
    }
    reasons
}

/// Program names of the listeners on the port, `unknown` for sockets whose owner cannot be seen.
fn listener_names(here: &[&Listener]) -> Vec<String> {
    let mut names: Vec<String> = here
        .iter()
        .flat_map(|l| {
            if l.holders.is_empty() {
                vec!["unknown".to_string()]
            } else {
                l.holders.iter().map(|h| h.program.clone()).collect()
            }
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// `ipfs-cluster-service pinsvcapi on 127.0.0.1`.
pub fn describe_claim(claim: &Claim) -> String {
    format!("{} {} on {}", claim.service, claim.role, claim.address)
}

/// `tcp/9097`.
pub fn describe_port(port: u16, protocol: Transport) -> String {
    format!("{protocol}/{port}")
}

fn dedup_keep_order(items: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    items.retain(|item| seen.insert(item.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Holder;

    fn addr(text: &str) -> BindAddress {
        match text {
            "*" => BindAddress::Every,
            _ => text
                .parse()
                .map(BindAddress::ip)
                .unwrap_or_else(|_| BindAddress::Name(text.into())),
        }
    }

    #[test]
    fn address_overlap_rules() {
        let cases = [
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("0.0.0.0", "192.168.1.5", true),
            ("0.0.0.0", "0.0.0.0", true),
            ("::", "::1", true),
            ("::1", "::1", true),
            ("::1", "fe80::1", false),
            // Go's tcp6 listeners are IPV6_V6ONLY: :: does not take IPv4.
            ("::", "0.0.0.0", false),
            ("::", "127.0.0.1", false),
            ("::1", "127.0.0.1", false),
            ("::ffff:127.0.0.1", "127.0.0.1", true),
            ("*", "127.0.0.1", true),
            ("*", "::1", true),
            ("localhost", "10.0.0.1", true),
        ];
        for (a, b, expected) in cases {
            assert_eq!(overlaps(&addr(a), &addr(b)), expected, "{a} vs {b}");
            assert_eq!(overlaps(&addr(b), &addr(a)), expected, "{b} vs {a}");
        }
    }

    #[test]
    fn follower_services() {
        assert!(same_service("kubo", "kubo"));
        assert!(!same_service("kubo", "lotus"));
        assert!(!same_service(
            "ipfs-cluster-follow:a",
            "ipfs-cluster-follow:b"
        ));
        assert!(same_service("ipfs-cluster-follow", "ipfs-cluster-follow:b"));
        assert!(same_service("ipfs-cluster-follow:b", "ipfs-cluster-follow"));
        assert!(!same_service("ipfs-cluster-follow", "ipfs-cluster-service"));
        assert!(!same_service(
            "ipfs-cluster-followers:x",
            "ipfs-cluster-follow"
        ));
    }

    fn claim(service: &str, role: &str, protocol: Transport, address: &str, port: u16) -> Claim {
        Claim {
            service: service.into(),
            role: role.into(),
            protocol,
            address: addr(address),
            port,
        }
    }

    fn listener(port: u16, address: &str, holders: &[(u32, &str, Option<&str>)]) -> Listener {
        Listener {
            protocol: Transport::Tcp,
            address: address.parse().unwrap(),
            port,
            holders: holders
                .iter()
                .map(|(pid, program, service)| Holder {
                    pid: *pid,
                    program: program.to_string(),
                    service: service.map(String::from),
                })
                .collect(),
        }
    }

    fn entries(claims: Vec<Claim>, listeners: Option<&[Listener]>) -> Vec<PortEntry> {
        let mut claims = claims;
        crate::ports::sort_claims(&mut claims);
        plan_entries(claims, listeners)
    }

    const TCP: Transport = Transport::Tcp;
    const UDP: Transport = Transport::Udp;

    #[test]
    fn one_service_on_several_transports_and_families_is_no_conflict() {
        let plan = entries(
            vec![
                claim("kubo", "swarm", TCP, "0.0.0.0", 4001),
                claim("kubo", "swarm", TCP, "::", 4001),
                claim("kubo", "swarm", UDP, "0.0.0.0", 4001),
                claim("kubo", "swarm", UDP, "::", 4001),
            ],
            None,
        );
        assert_eq!(plan.len(), 2);
        assert!(plan
            .iter()
            .all(|e| !e.conflict && e.reason.is_none() && e.listeners.is_none()));
        assert_eq!(plan[0].claims.len(), 2);
    }

    #[test]
    fn the_9097_trap_is_a_configured_conflict() {
        let plan = entries(
            vec![
                claim("ipfs-cluster-service", "pinsvcapi", TCP, "127.0.0.1", 9097),
                claim(
                    "ipfs-cluster-follow:mycluster",
                    "api",
                    TCP,
                    "127.0.0.1",
                    9097,
                ),
            ],
            None,
        );
        assert!(plan[0].conflict);
        assert_eq!(
            plan[0].reason.as_deref(),
            Some("configured for both ipfs-cluster-follow:mycluster api on 127.0.0.1 and ipfs-cluster-service pinsvcapi on 127.0.0.1")
        );
    }

    #[test]
    fn configured_conflicts_need_overlapping_addresses_and_two_services() {
        let cases: Vec<(Vec<Claim>, bool)> = vec![
            (
                vec![
                    claim("a", "r", TCP, "127.0.0.1", 1),
                    claim("b", "r", TCP, "127.0.0.2", 1),
                ],
                false,
            ),
            (
                vec![
                    claim("a", "r", TCP, "0.0.0.0", 1),
                    claim("b", "r", TCP, "10.1.2.3", 1),
                ],
                true,
            ),
            (
                vec![
                    claim("a", "r", TCP, "::", 1),
                    claim("b", "r", TCP, "0.0.0.0", 1),
                ],
                false,
            ),
            (
                vec![
                    claim("a", "r", TCP, "::", 1),
                    claim("b", "r", TCP, "::1", 1),
                ],
                true,
            ),
            (
                vec![claim("a", "r", TCP, "*", 1), claim("b", "r", TCP, "::1", 1)],
                true,
            ),
            (
                vec![
                    claim("a", "r", TCP, "0.0.0.0", 1),
                    claim("a", "s", TCP, "0.0.0.0", 1),
                ],
                false,
            ),
            (
                vec![
                    claim("a", "r", TCP, "0.0.0.0", 1),
                    claim("b", "r", UDP, "0.0.0.0", 1),
                ],
                false,
            ),
            (
                vec![
                    claim("ipfs-cluster-follow:a", "swarm", UDP, "0.0.0.0", 9096),
                    claim("ipfs-cluster-follow:b", "swarm", UDP, "0.0.0.0", 9096),
                ],
                true,
            ),
        ];
        for (claims, expected) in cases {
            let plan = entries(claims.clone(), None);
            assert_eq!(plan.iter().any(|e| e.conflict), expected, "{claims:?}");
        }
    }

    #[test]
    fn a_port_held_by_another_known_service_is_a_runtime_conflict() {
        let plan = entries(
            vec![claim(
                "ipfs-cluster-follow:c",
                "api",
                TCP,
                "127.0.0.1",
                9097,
            )],
            Some(&[listener(
                9097,
                "127.0.0.1",
                &[(42, "ipfs-cluster-service", Some("ipfs-cluster-service"))],
            )]),
        );
        assert!(plan[0].conflict);
        assert_eq!(
            plan[0].reason.as_deref(),
            Some("held by ipfs-cluster-service (ipfs-cluster-service pid 42) on 127.0.0.1, where ipfs-cluster-follow:c expects its api")
        );
        assert_eq!(
            plan[0].listeners,
            Some(vec!["ipfs-cluster-service".to_string()])
        );
    }

    #[test]
    fn the_claimant_itself_or_an_outsider_holding_the_port_is_no_conflict() {
        let claims = vec![claim("kubo", "api", TCP, "127.0.0.1", 5001)];
        let own = [listener(5001, "127.0.0.1", &[(7, "ipfs", Some("kubo"))])];
        let outsider = [listener(5001, "127.0.0.1", &[(8, "docker-proxy", None)])];
        let hidden = [listener(5001, "127.0.0.1", &[])];
        let elsewhere = [listener(5001, "10.0.0.1", &[(9, "lotus", Some("lotus"))])];
        for (listeners, names) in [
            (&own[..], vec!["ipfs"]),
            (&outsider[..], vec!["docker-proxy"]),
            (&hidden[..], vec!["unknown"]),
            (&elsewhere[..], vec!["lotus"]),
        ] {
            let plan = entries(claims.clone(), Some(listeners));
            assert!(!plan[0].conflict, "{listeners:?}: {:?}", plan[0].reason);
            assert_eq!(
                plan[0].listeners,
                Some(names.iter().map(|s| s.to_string()).collect())
            );
        }
        let nobody = entries(claims, Some(&[]));
        assert_eq!(nobody[0].listeners, Some(vec![]));
    }

    #[test]
    fn two_known_services_listening_at_once_is_a_runtime_conflict() {
        // libp2p daemons share ports with SO_REUSEPORT.
        let listeners = [
            listener(4001, "0.0.0.0", &[(7, "ipfs", Some("kubo"))]),
            listener(
                4001,
                "0.0.0.0",
                &[(9, "ipfs-cluster-follow", Some("ipfs-cluster-follow:c"))],
            ),
        ];
        let plan = entries(
            vec![claim(
                "lotus-follow-exporter",
                "metrics",
                TCP,
                "127.0.0.1",
                4001,
            )],
            Some(&listeners),
        );
        let reason = plan[0].reason.clone().unwrap();
        assert!(
            reason.contains("listened on at once by kubo (pid 7) on 0.0.0.0 and ipfs-cluster-follow:c (pid 9) on 0.0.0.0"),
            "{reason}"
        );
        assert_eq!(
            plan[0].listeners,
            Some(vec!["ipfs".to_string(), "ipfs-cluster-follow".to_string()])
        );
    }

    #[test]
    fn a_follower_of_unknown_name_holding_its_port_is_no_conflict() {
        let plan = entries(
            vec![claim(
                "ipfs-cluster-follow:c",
                "swarm",
                TCP,
                "0.0.0.0",
                9096,
            )],
            Some(&[listener(
                9096,
                "0.0.0.0",
                &[(9, "ipfs-cluster-follow", Some("ipfs-cluster-follow"))],
            )]),
        );
        assert!(!plan[0].conflict);
    }

    #[test]
    fn entries_are_sorted_by_port_then_protocol() {
        let plan = entries(
            vec![
                claim("b", "r", UDP, "0.0.0.0", 9096),
                claim("a", "r", TCP, "0.0.0.0", 9096),
                claim("c", "r", TCP, "0.0.0.0", 80),
            ],
            None,
        );
        let keys: Vec<_> = plan
            .iter()
            .map(|e| describe_port(e.port, e.protocol))
            .collect();
        assert_eq!(keys, ["tcp/80", "tcp/9096", "udp/9096"]);
    }
}
