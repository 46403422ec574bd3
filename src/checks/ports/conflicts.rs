//! Deciding conflicts: claims grouped per (port, protocol), compared with each other (configured
//! conflicts) and with the processes really listening (runtime conflicts), the reason in words.
//!
//! Everything here is pure. Address overlap follows the rules in the [module docs](super): the
//! family wildcards (`0.0.0.0`, `::`) overlap every address of their own family only, `*` (the
//! exporter's `:port`) and unresolved names overlap everything.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use super::{BindAddress, Claim, Listener, PortEntry, SERVICE_FOLLOW};
use crate::net::multiaddr::Transport;

/// True when two bind addresses on one port and protocol cannot both be bound by different sockets.
pub fn overlaps(a: &BindAddress, b: &BindAddress) -> bool {
    count_comparison();
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

/// Processes known to be a service's own beyond what their program name says: a follower matched
/// to its running `ipfs-cluster-follow` process (whose arguments may name the cluster differently
/// from the follower's label).
pub type ServicePids = BTreeMap<String, BTreeSet<u32>>;

/// Services known only from a process of a user the exporter does not trust, with that user:
/// anyone on the host can start a process that claims any port (a fake `ipfs-cluster-follow`
/// whose environment names the Lotus API's port), so such a claim is that user's claim, shown
/// as such, and a collision with it is never a conflict.
pub type Untrusted = BTreeMap<String, String>;

/// Group sorted claims per (port, protocol) and decide each group's conflict.
///
/// `listeners` is `None` when the socket tables could not be read: no runtime verdict then (the
/// reason says so); `own` names processes that belong to a claiming service whatever they are called.
pub fn plan_entries(
    claims: Vec<Claim>,
    listeners: Option<&[Listener]>,
    own: &ServicePids,
    untrusted: &Untrusted,
) -> Vec<PortEntry> {
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
                untrusted: BTreeMap::new(),
                untrusted_collisions: Vec::new(),
            }),
        }
    }
    // Listeners per (port, protocol), so each entry looks only at its own.
    let mut by_port: HashMap<(u16, Transport), Vec<&Listener>> = HashMap::new();
    for listener in listeners.into_iter().flatten() {
        by_port
            .entry((listener.port, listener.protocol))
            .or_default()
            .push(listener);
    }
    for entry in &mut entries {
        let here = listeners.map(|_| {
            by_port
                .get(&(entry.port, entry.protocol))
                .map(Vec::as_slice)
                .unwrap_or_default()
        });
        decide(entry, here, own, untrusted);
    }
    entries.sort_by_key(|e| (e.port, e.protocol));
    entries
}

fn decide(
    entry: &mut PortEntry,
    here: Option<&[&Listener]>,
    own: &ServicePids,
    untrusted: &Untrusted,
) {
    let by_service = claims_by_service(&entry.claims);
    entry.untrusted = by_service
        .keys()
        .filter_map(|s| Some((s.to_string(), untrusted.get(*s)?.clone())))
        .collect();
    // A collision involving an untrusted claim is said, never a conflict.
    let (trusted, theirs): (ByService, ByService) = by_service
        .into_iter()
        .partition(|(service, _)| !untrusted.contains_key(*service));
    let mut reasons = configured_conflicts(&trusted);
    let mut notes = untrusted_collisions(&trusted, &theirs, untrusted, here, own);
    if let Some(here) = here {
        reasons.extend(held_by_another_service(&trusted, here, own));
        reasons.extend(shared_by_two_services(here));
        entry.listeners = Some(listener_names(here));
    }
    dedup_keep_order(&mut reasons);
    entry.conflict = !reasons.is_empty();
    let mut users: Vec<String> = notes.iter().map(|(user, _)| user.clone()).collect();
    users.sort();
    users.dedup();
    entry.untrusted_collisions = users;
    if here.is_none() {
        // Configured conflicts stand; the runtime part is unknown, and said so.
        reasons.push(LISTENERS_UNKNOWN.to_string());
    }
    reasons.extend(notes.drain(..).map(|(_, note)| note));
    dedup_keep_order(&mut reasons);
    entry.reason = (!reasons.is_empty()).then(|| reasons.join("; "));
}

/// Untrusted claims that overlap another service's claim, or a listener of another known
/// service: `(user, note)` each, in words that say it is not a conflict.
fn untrusted_collisions(
    trusted: &BTreeMap<&str, Vec<&Claim>>,
    theirs: &BTreeMap<&str, Vec<&Claim>>,
    untrusted: &Untrusted,
    here: Option<&[&Listener]>,
    own: &ServicePids,
) -> Vec<(String, String)> {
    let mut notes = Vec::new();
    let others: Vec<(&str, &Vec<&Claim>)> = trusted
        .iter()
        .chain(theirs.iter())
        .map(|(s, c)| (*s, c))
        .collect();
    for (service, claims) in theirs {
        let user = untrusted.get(*service).cloned().unwrap_or_default();
        let not_a_conflict = |what: String| {
            format!(
                "not a conflict: {what}, claimed by a process of user {user}, whom the exporter does not trust"
            )
        };
        for (other, other_claims) in &others {
            if other == service {
                continue;
            }
            if let Some((x, y)) = first_overlap(claims, other_claims) {
                let what = format!("{} overlaps {}", describe_claim(x), describe_claim(y));
                notes.push((user.clone(), not_a_conflict(what)));
            }
        }
        let mine: BTreeMap<&str, Vec<&Claim>> = [(*service, claims.clone())].into();
        for held in held_by_another_service(&mine, here.unwrap_or_default(), own) {
            notes.push((user.clone(), not_a_conflict(held)));
        }
    }
    notes
}

/// What [`PortEntry::reason`] adds when the socket tables could not be read: a runtime conflict
/// may exist, `conflict` only reflects the configured ones.
pub const LISTENERS_UNKNOWN: &str =
    "runtime conflicts unknown: the socket tables (/proc/net) could not be read";

/// Claims of one entry by service.
type ByService<'a> = BTreeMap<&'a str, Vec<&'a Claim>>;

/// The claims of one entry per service, one claim per distinct address (the first, in claim
/// order), so comparisons cost services x addresses, not claims x claims.
fn claims_by_service(claims: &[Claim]) -> BTreeMap<&str, Vec<&Claim>> {
    let mut by_service: BTreeMap<&str, Vec<&Claim>> = BTreeMap::new();
    let mut seen: HashSet<(&str, &BindAddress)> = HashSet::new();
    for claim in claims {
        if seen.insert((&claim.service, &claim.address)) {
            by_service.entry(&claim.service).or_default().push(claim);
        }
    }
    by_service
}

/// The first pair of overlapping claims of two services, if any: the first claim of `a` (in
/// claim order) that overlaps a claim of `b`, with the first such claim of `b`, exactly as
/// comparing every pair would find it, in a few lookups per claim of `a`.
fn first_overlap<'a>(a: &[&'a Claim], b: &[&'a Claim]) -> Option<(&'a Claim, &'a Claim)> {
    let b = AddressIndex::new(b);
    a.iter()
        .find_map(|x| b.first_overlapping(&x.address).map(|y| (*x, y)))
}

/// One service's claims on one port, indexed by address so that finding the first claim that
/// overlaps an address costs a few lookups instead of one comparison per claim (20,000 swarm
/// addresses of two followers on one port would otherwise be 10^8 comparisons).
struct AddressIndex<'a> {
    /// The first `*` or unresolved-name claim: it overlaps everything.
    any: Option<(usize, &'a Claim)>,
    /// The first claim of each IP family (IPv4, IPv6).
    first: [Option<(usize, &'a Claim)>; 2],
    /// The first wildcard (`0.0.0.0`, `::`) claim of each family.
    wildcard: [Option<(usize, &'a Claim)>; 2],
    /// The first claim of each specific (canonical) address.
    exact: HashMap<IpAddr, (usize, &'a Claim)>,
}

impl<'a> AddressIndex<'a> {
    fn new(claims: &[&'a Claim]) -> AddressIndex<'a> {
        let mut index = AddressIndex {
            any: None,
            first: [None, None],
            wildcard: [None, None],
            exact: HashMap::new(),
        };
        for (at, claim) in claims.iter().enumerate() {
            let entry = Some((at, *claim));
            match &claim.address {
                BindAddress::Ip(ip) => {
                    let ip = ip.to_canonical();
                    let family = family(ip);
                    index.first[family] = index.first[family].or(entry);
                    if ip.is_unspecified() {
                        index.wildcard[family] = index.wildcard[family].or(entry);
                    } else {
                        index.exact.entry(ip).or_insert((at, *claim));
                    }
                }
                _ => index.any = index.any.or(entry),
            }
        }
        index
    }

    /// The first claim (in claim order) that [`overlaps`] `address`.
    fn first_overlapping(&self, address: &BindAddress) -> Option<&'a Claim> {
        count_comparison();
        let candidates = match address {
            BindAddress::Ip(ip) => {
                let ip = ip.to_canonical();
                let family = family(ip);
                if ip.is_unspecified() {
                    [self.any, self.first[family], None]
                } else {
                    [
                        self.any,
                        self.wildcard[family],
                        self.exact.get(&ip).copied(),
                    ]
                }
            }
            _ => [self.any, self.first[0], self.first[1]],
        };
        candidates
            .into_iter()
            .flatten()
            .min_by_key(|(at, _)| *at)
            .map(|(_, claim)| claim)
    }
}

/// 0 for IPv4, 1 for IPv6 (of a canonical address).
fn family(ip: IpAddr) -> usize {
    usize::from(ip.is_ipv6())
}

#[cfg(test)]
thread_local! {
    /// Address comparisons made on this thread ([`overlaps`] calls and index lookups).
    static COMPARISONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Count one address comparison (tests bound the work of a plan by this count, not by time).
fn count_comparison() {
    #[cfg(test)]
    COMPARISONS.with(|n| n.set(n.get() + 1));
}

/// Pairs of different services with claims on overlapping addresses (one reason per pair).
fn configured_conflicts(by_service: &BTreeMap<&str, Vec<&Claim>>) -> Vec<String> {
    let services: Vec<(&str, &Vec<&Claim>)> = by_service.iter().map(|(s, c)| (*s, c)).collect();
    let mut reasons = Vec::new();
    for (i, (a_service, a)) in services.iter().enumerate() {
        for (b_service, b) in &services[i + 1..] {
            if same_service(a_service, b_service) {
                continue;
            }
            if let Some((x, y)) = first_overlap(a, b) {
                reasons.push(format!(
                    "configured for both {} and {}",
                    describe_claim(x),
                    describe_claim(y)
                ));
            }
        }
    }
    reasons
}

/// A known service of the plan holds the port where another service's claim expects to listen.
fn held_by_another_service(
    by_service: &BTreeMap<&str, Vec<&Claim>>,
    here: &[&Listener],
    own: &ServicePids,
) -> Vec<String> {
    let mut reasons = Vec::new();
    for listener in here {
        let address = BindAddress::ip(listener.address);
        for holder in &listener.holders {
            let Some(service) = &holder.service else {
                continue;
            };
            for (claimant, claims) in by_service {
                let its_own = own.get(*claimant).is_some_and(|p| p.contains(&holder.pid));
                if its_own || same_service(service, claimant) {
                    continue;
                }
                if let Some(claim) = claims.iter().find(|c| overlaps(&c.address, &address)) {
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
    // Per service in the order first seen (a handful of services; SO_REUSEPORT groups are small).
    let mut services: Vec<(&str, Vec<(u32, BindAddress)>)> = Vec::new();
    for listener in here {
        for holder in &listener.holders {
            let Some(service) = holder.service.as_deref() else {
                continue;
            };
            let known = (holder.pid, BindAddress::ip(listener.address));
            match services.iter_mut().find(|(s, _)| *s == service) {
                Some((_, held)) if held.contains(&known) => {}
                Some((_, held)) => held.push(known),
                None => services.push((service, vec![known])),
            }
        }
    }
    let mut reasons = Vec::new();
    for (i, (a, a_held)) in services.iter().enumerate() {
        for (b, b_held) in &services[i + 1..] {
            if same_service(a, b) {
                continue;
            }
            let pair = a_held
                .iter()
                .flat_map(|x| b_held.iter().map(move |y| (x, y)))
                .find(|(x, y)| overlaps(&x.1, &y.1));
            if let Some(((a_pid, a_addr), (b_pid, b_addr))) = pair {
                reasons.push(format!(
                    "listened on at once by {a} (pid {a_pid}) on {a_addr} and {b} (pid {b_pid}) on {b_addr}"
                ));
            }
        }
    }
    reasons
}

/// Program names of the listeners on the port, `unknown` for sockets whose owner cannot be seen.
pub(crate) fn listener_names(here: &[&Listener]) -> Vec<String> {
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
    use crate::checks::ports::{test_address as addr, test_claim as claim, Holder};

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
        crate::checks::ports::sort_claims(&mut claims);
        plan_entries(claims, listeners, &ServicePids::new(), &Untrusted::new())
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
        assert!(plan.iter().all(|e| !e.conflict
            && e.reason.as_deref() == Some(LISTENERS_UNKNOWN)
            && e.listeners.is_none()));
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
        // Without the socket tables, the configured conflict stands and the rest is unknown.
        assert_eq!(
            plan[0].reason.as_deref(),
            Some("configured for both ipfs-cluster-follow:mycluster api on 127.0.0.1 and ipfs-cluster-service pinsvcapi on 127.0.0.1; runtime conflicts unknown: the socket tables (/proc/net) could not be read")
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
    fn a_followers_matched_process_is_its_own_whatever_its_arguments_say() {
        let claims = vec![claim(
            "ipfs-cluster-follow:127.0.0.1:19094",
            "swarm",
            TCP,
            "0.0.0.0",
            9096,
        )];
        let held = [listener(
            9096,
            "0.0.0.0",
            &[(42, "ipfs-cluster-follow", Some("ipfs-cluster-follow:c"))],
        )];
        let mut sorted = claims.clone();
        crate::checks::ports::sort_claims(&mut sorted);
        let own = ServicePids::from([(
            "ipfs-cluster-follow:127.0.0.1:19094".to_string(),
            BTreeSet::from([42]),
        )]);
        let plan = plan_entries(sorted, Some(&held), &own, &Untrusted::new());
        assert!(!plan[0].conflict, "{:?}", plan[0].reason);
        // Another pid under that name is still someone else.
        let plan = entries(claims, Some(&held));
        assert!(plan[0].conflict);
    }

    #[test]
    fn the_indexed_overlap_finds_the_pair_comparing_every_pair_would() {
        let texts = [
            "0.0.0.0",
            "::",
            "127.0.0.1",
            "::1",
            "::ffff:127.0.0.1",
            "*",
            "node.example",
            "10.0.0.1",
        ];
        let sequences: Vec<Vec<Claim>> = texts
            .iter()
            .flat_map(|x| texts.iter().map(move |y| [*x, *y]))
            .map(|pair| {
                pair.iter()
                    .map(|a| claim("s", "swarm", TCP, a, 1))
                    .collect()
            })
            .collect();
        for a in &sequences {
            for b in &sequences {
                let (a, b): (Vec<&Claim>, Vec<&Claim>) = (a.iter().collect(), b.iter().collect());
                let every_pair = a
                    .iter()
                    .flat_map(|x| b.iter().map(move |y| (*x, *y)))
                    .find(|(x, y)| overlaps(&x.address, &y.address));
                let indexed = first_overlap(&a, &b);
                assert!(
                    every_pair.map(|(x, y)| (x as *const Claim, y as *const Claim))
                        == indexed.map(|(x, y)| (x as *const Claim, y as *const Claim)),
                    "{a:?} / {b:?}"
                );
            }
        }
    }

    #[test]
    fn many_claims_on_one_port_are_compared_per_service() {
        // 20k claims of two services on one port: one reason per pair of services.
        let mut claims: Vec<Claim> = (0..10_000u32)
            .map(|i| {
                let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
                claim("ipfs-cluster-follow:a", "swarm", TCP, &ip, 9096)
            })
            .collect();
        claims.extend((0..10_000u32).map(|i| {
            let ip = std::net::Ipv4Addr::from(0x0b00_0000 + i).to_string();
            claim("ipfs-cluster-follow:b", "swarm", TCP, &ip, 9096)
        }));
        claims.push(claim("kubo", "swarm", TCP, "0.0.0.0", 9096));
        COMPARISONS.with(|n| n.set(0));
        let plan = entries(claims, Some(&[]));
        // Comparing every pair would be 10^8 comparisons; a few per claim is the bound.
        let compared = COMPARISONS.with(|n| n.get());
        assert!(compared <= 3 * 20_001, "{compared} address comparisons");
        let reason = plan[0].reason.clone().unwrap();
        // a/b do not overlap (distinct addresses); each overlaps kubo's 0.0.0.0.
        assert_eq!(reason.matches("configured for both").count(), 2, "{reason}");
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

    #[test]
    fn a_claim_of_an_untrusted_users_process_collides_but_is_never_a_conflict() {
        let fake = "ipfs-cluster-follow:nobody/fake";
        let claims = vec![
            claim("lotus", "api", TCP, "127.0.0.1", 1234),
            claim(fake, "api", TCP, "127.0.0.1", 1234),
        ];
        let untrusted = Untrusted::from([(fake.to_string(), "nobody".to_string())]);
        let lotus = listener(1234, "127.0.0.1", &[(7, "lotus", Some("lotus"))]);
        let mut sorted = claims.clone();
        crate::checks::ports::sort_claims(&mut sorted);
        for here in [None, Some(std::slice::from_ref(&lotus))] {
            let plan = plan_entries(sorted.clone(), here, &ServicePids::new(), &untrusted);
            let entry = &plan[0];
            assert!(!entry.conflict, "{:?}", entry.reason);
            assert_eq!(entry.untrusted_collisions, ["nobody"]);
            assert_eq!(
                entry.untrusted.get(fake).map(String::as_str),
                Some("nobody")
            );
            let reason = entry.reason.as_deref().unwrap();
            assert!(
                reason.contains("not a conflict") && reason.contains("user nobody"),
                "{reason}"
            );
        }
        // The same claim from a follower the exporter trusts is a conflict.
        let plan = entries(claims, None);
        assert!(plan[0].conflict);
        assert!(plan[0].untrusted_collisions.is_empty());
    }

    #[test]
    fn an_untrusted_claim_does_not_hide_a_real_conflict_on_its_port() {
        let fake = "ipfs-cluster-follow:eve/x";
        let mut claims = vec![
            claim("lotus", "api", TCP, "127.0.0.1", 1234),
            claim("kubo", "api", TCP, "0.0.0.0", 1234),
            claim(fake, "api", TCP, "127.0.0.1", 1234),
        ];
        crate::checks::ports::sort_claims(&mut claims);
        let untrusted = Untrusted::from([(fake.to_string(), "eve".to_string())]);
        let plan = plan_entries(claims, None, &ServicePids::new(), &untrusted);
        assert!(plan[0].conflict, "lotus and kubo still collide");
        assert_eq!(plan[0].untrusted_collisions, ["eve"]);
        let reason = plan[0].reason.as_deref().unwrap();
        assert!(reason.contains("configured for both kubo"), "{reason}");
    }
}
