//! `port_*` metrics from the port plan: every claimed port, who claims it, who listens, conflicts.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::checks::ports::{PortEntry, PortsReport};
use crate::contract::{bool_value, Families};

/// At most this many (port, protocol) entries are exported, conflicts first; a real host claims a
/// few dozen, so the cap only guards the time series count against a runaway config.
pub const MAX_EXPORTED_PORTS: usize = 512;

/// Set once the cap has been logged, so a scrape every 15 s does not flood the log.
static CAP_LOGGED: AtomicBool = AtomicBool::new(false);

pub fn render(report: &PortsReport, out: &mut Families) {
    let entries = capped(&report.entries);
    render_conflicts(&entries, out);
    render_claims(&entries, out);
    render_listeners(&entries, out);
}

/// The entries to export: all of them up to the cap, conflicts kept first, in port order.
fn capped(entries: &[PortEntry]) -> Vec<&PortEntry> {
    let mut kept: Vec<&PortEntry> = entries.iter().collect();
    if kept.len() > MAX_EXPORTED_PORTS {
        if !CAP_LOGGED.swap(true, Ordering::Relaxed) {
            log::warn!(
                "port plan has {} claimed ports; exporting only {MAX_EXPORTED_PORTS} (conflicts first)",
                kept.len()
            );
        }
        kept.sort_by_key(|e| (!e.conflict, e.port, e.protocol));
        kept.truncate(MAX_EXPORTED_PORTS);
        kept.sort_by_key(|e| (e.port, e.protocol));
    }
    kept
}

fn render_conflicts(entries: &[&PortEntry], out: &mut Families) {
    let mut family = out.gauge(
        "port_conflict",
        "1 when two services are configured on, or really listen on, this port and protocol with \
         overlapping addresses (or a known service holds a port another one claims); 0 when the \
         claimed port has no conflict. A claim of a process of a user the exporter does not trust \
         is never a conflict: when one collides here, label untrusted_claimant names its users \
         (absent otherwise).",
    );
    for entry in entries {
        let port = entry.port.to_string();
        let users = entry.untrusted_collisions.join(",");
        let mut labels = vec![
            ("port", port.as_str()),
            ("protocol", entry.protocol.as_str()),
        ];
        if !users.is_empty() {
            labels.push(("untrusted_claimant", &users));
        }
        family.sample(&labels, bool_value(entry.conflict));
    }
}

fn render_claims(entries: &[&PortEntry], out: &mut Families) {
    let mut family = out.gauge(
        "port_claim_info",
        "Always 1: this service is configured to listen on this port, protocol and address for this \
         role. Label untrusted_user, on a claim known only from a process of a user the exporter \
         does not trust, names that user. Label source, on the Lotus API's claim, says where its \
         address comes from: daemon_flag (lotus daemon --api), daemon_environment \
         (LOTUS_API_LISTENADDRESS), api_file (the api file the running daemon wrote), config_file \
         (config.toml) or address_in_use.",
    );
    for entry in entries {
        let port = entry.port.to_string();
        for claim in &entry.claims {
            let address = claim.address.to_string();
            let mut labels = vec![
                ("port", port.as_str()),
                ("protocol", entry.protocol.as_str()),
                ("service", &claim.service),
                ("role", &claim.role),
                ("address", &address),
            ];
            if let Some(user) = entry.untrusted.get(&claim.service) {
                labels.push(("untrusted_user", user));
            }
            if let Some(source) = &claim.source {
                labels.push(("source", source.kind));
            }
            family.sample(&labels, 1.0);
        }
    }
}

fn render_listeners(entries: &[&PortEntry], out: &mut Families) {
    let mut family = out.gauge(
        "port_listener_info",
        "Always 1: this process listens on this claimed port and protocol (process \"unknown\" \
         when the exporter may not see the socket's owner). Absent when nothing listens.",
    );
    for entry in entries {
        let port = entry.port.to_string();
        for process in entry.listeners.iter().flatten() {
            family.sample(
                &[
                    ("port", &port),
                    ("protocol", entry.protocol.as_str()),
                    ("process", process),
                ],
                1.0,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::ports::test_claim;
    use crate::net::multiaddr::Transport::Tcp;

    fn entry(port: u16, conflict: bool, listeners: Option<Vec<&str>>) -> PortEntry {
        let claim = test_claim("ipfs-cluster-service", "pinsvcapi", Tcp, "127.0.0.1", port);
        PortEntry {
            port,
            protocol: Tcp,
            claims: vec![claim],
            listeners: listeners.map(|l| l.into_iter().map(String::from).collect()),
            conflict,
            reason: conflict.then(|| "because".to_string()),
            untrusted: Default::default(),
            untrusted_collisions: Vec::new(),
        }
    }

    fn text(report: &PortsReport) -> String {
        let mut families = Families::default();
        render(report, &mut families);
        families.encode()
    }

    #[test]
    fn every_claimed_port_has_a_conflict_series_and_listeners_only_when_listening() {
        let report = PortsReport {
            listener_source: None,
            checks: vec![],
            entries: vec![
                entry(9094, false, Some(vec![])),
                entry(9097, true, Some(vec!["ipfs-cluster-service", "unknown"])),
                entry(9095, false, None),
            ],
        };
        let text = text(&report);
        for expected in [
            "port_conflict{port=\"9094\",protocol=\"tcp\"} 0\n",
            "port_conflict{port=\"9097\",protocol=\"tcp\"} 1\n",
            "port_conflict{port=\"9095\",protocol=\"tcp\"} 0\n",
            "port_claim_info{port=\"9097\",protocol=\"tcp\",service=\"ipfs-cluster-service\",role=\"pinsvcapi\",address=\"127.0.0.1\"} 1\n",
            "port_listener_info{port=\"9097\",protocol=\"tcp\",process=\"ipfs-cluster-service\"} 1\n",
            "port_listener_info{port=\"9097\",protocol=\"tcp\",process=\"unknown\"} 1\n",
            "# HELP port_conflict 1 when",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert_eq!(text.matches("port_listener_info{").count(), 2, "{text}");
    }

    #[test]
    fn the_lotus_api_claim_says_where_its_address_comes_from() {
        let mut lotus = entry(1235, false, Some(vec!["lotus"]));
        lotus.claims = vec![crate::checks::ports::Claim {
            source: Some(crate::checks::ports::ClaimSource {
                kind: crate::checks::ports::SOURCE_DAEMON_ENVIRONMENT,
                text: "LOTUS_API_LISTENADDRESS of lotus daemon (pid 7)".into(),
            }),
            ..test_claim("lotus", "api", Tcp, "127.0.0.1", 1235)
        }];
        let report = PortsReport {
            entries: vec![lotus],
            ..PortsReport::default()
        };
        let expected = "port_claim_info{port=\"1235\",protocol=\"tcp\",service=\"lotus\",role=\"api\",address=\"127.0.0.1\",source=\"daemon_environment\"} 1\n";
        let text = text(&report);
        assert!(text.contains(expected), "{text}");
        // The words (pids, paths) are never a label.
        assert!(!text.contains("pid 7"), "{text}");
    }

    #[test]
    fn an_empty_plan_exports_nothing() {
        assert_eq!(text(&PortsReport::default()), "");
    }

    #[test]
    fn the_cap_keeps_conflicts() {
        let mut entries: Vec<PortEntry> = (1..=MAX_EXPORTED_PORTS as u16 + 10)
            .map(|port| entry(port, false, None))
            .collect();
        entries.push(entry(60000, true, None));
        let report = PortsReport {
            listener_source: None,
            checks: vec![],
            entries,
        };
        let text = text(&report);
        assert_eq!(text.matches("port_conflict{").count(), MAX_EXPORTED_PORTS);
        assert!(text.contains("port_conflict{port=\"60000\",protocol=\"tcp\"} 1"));
    }

    #[test]
    fn an_untrusted_claim_is_labelled_with_its_user() {
        let mut collided = entry(1234, false, Some(vec!["lotus"]));
        let fake = "ipfs-cluster-follow:nobody/fake";
        collided.claims.push(crate::checks::ports::test_claim(
            fake,
            "api",
            Tcp,
            "127.0.0.1",
            1234,
        ));
        collided.untrusted = [(fake.to_string(), "nobody".to_string())].into();
        collided.untrusted_collisions = vec!["nobody".to_string()];
        let report = PortsReport {
            listener_source: None,
            checks: vec![],
            entries: vec![collided, entry(9094, false, None)],
        };
        let text = text(&report);
        for expected in [
            "port_conflict{port=\"1234\",protocol=\"tcp\",untrusted_claimant=\"nobody\"} 0\n",
            "port_conflict{port=\"9094\",protocol=\"tcp\"} 0\n",
            "service=\"ipfs-cluster-follow:nobody/fake\",role=\"api\",address=\"127.0.0.1\",untrusted_user=\"nobody\"} 1\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }
}
