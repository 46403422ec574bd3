//! The `ports` section of `/status`: the port plan, one object per claimed (port, protocol).

use serde_json::{json, Value};

use crate::checks::ports::{PortEntry, PortsReport};

/// `listener` when the socket tables could not be read (distinct from `null`: nothing listens).
pub const LISTENERS_NOT_READ: &str = "not read";

/// `[{"port","protocol","claims":[{service,role,address}],"listener","conflict","reason"}]`; a
/// claim of a process of a user the exporter does not trust also has `untrusted_user`, and the
/// Lotus API's claim `source` (where its address came from, in words: `lotus daemon --api`,
/// `LOTUS_API_LISTENADDRESS` of the daemon, the `api` file it wrote, `config.toml` or the
/// address in use) and `source_kind` (the `source` label of `port_claim_info`).
///
/// `listener` is the listening programs joined by `, ` (`unknown` for an owner the exporter may
/// not see), `null` when nothing listens, `"not read"` when the socket tables could not be read.
pub fn render(report: &PortsReport) -> Value {
    Value::Array(report.entries.iter().map(entry).collect())
}

/// `{"source","tables":{"netlink":[..],"proc_net":[..]},"fallback_reason"}`: where the listening
/// sockets were read (`netlink`, `/proc/net`, or `netlink and /proc/net` when some tables were
/// refused), and why netlink was not used; `source` is `"not read"` when the tables were not read.
pub fn source(report: &PortsReport) -> Value {
    match &report.listener_source {
        None => json!({"source": LISTENERS_NOT_READ, "tables": null, "fallback_reason": null}),
        Some(source) => json!({
            "source": source.name(),
            "tables": {"netlink": source.netlink, "proc_net": source.proc_net},
            "fallback_reason": source.fallback_reason,
        }),
    }
}

fn entry(entry: &PortEntry) -> Value {
    let claims: Vec<Value> = entry
        .claims
        .iter()
        .map(|c| {
            let mut claim =
                json!({"service": c.service, "role": c.role, "address": c.address.to_string()});
            // Only on a claim of a process of a user the exporter does not trust.
            if let Some(user) = entry.untrusted.get(&c.service) {
                claim["untrusted_user"] = json!(user);
            }
            // Only where more than one place could say it (the Lotus API).
            if let Some(source) = &c.source {
                claim["source"] = json!(source.text);
                claim["source_kind"] = json!(source.kind);
            }
            claim
        })
        .collect();
    let listener = match &entry.listeners {
        None => Some(LISTENERS_NOT_READ.to_string()),
        Some(names) if names.is_empty() => None,
        Some(names) => Some(names.join(", ")),
    };
    json!({
        "port": entry.port,
        "protocol": entry.protocol.as_str(),
        "claims": claims,
        "listener": listener,
        "conflict": entry.conflict,
        "reason": entry.reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::ports::test_claim;
    use crate::net::multiaddr::Transport::{self, Tcp};

    #[test]
    fn renders_the_plan() {
        let pinsvcapi = test_claim("ipfs-cluster-service", "pinsvcapi", Tcp, "127.0.0.1", 9097);
        let report = PortsReport {
            listener_source: None,
            checks: vec![],
            entries: vec![
                PortEntry {
                    port: 9097,
                    protocol: Tcp,
                    claims: vec![pinsvcapi],
                    listeners: Some(vec!["ipfs-cluster-service".into(), "unknown".into()]),
                    conflict: true,
                    reason: Some("held by x".into()),
                    untrusted: Default::default(),
                    untrusted_collisions: Vec::new(),
                },
                PortEntry {
                    port: 10234,
                    protocol: Transport::Tcp,
                    claims: vec![test_claim(
                        "lotus-follow-exporter",
                        "metrics",
                        Transport::Tcp,
                        "*",
                        10234,
                    )],
                    listeners: Some(vec![]),
                    conflict: false,
                    reason: None,
                    untrusted: Default::default(),
                    untrusted_collisions: Vec::new(),
                },
            ],
        };
        assert_eq!(
            render(&report),
            json!([
                {"port": 9097, "protocol": "tcp",
                 "claims": [{"service": "ipfs-cluster-service", "role": "pinsvcapi", "address": "127.0.0.1"}],
                 "listener": "ipfs-cluster-service, unknown", "conflict": true, "reason": "held by x"},
                {"port": 10234, "protocol": "tcp",
                 "claims": [{"service": "lotus-follow-exporter", "role": "metrics", "address": "*"}],
                 "listener": null, "conflict": false, "reason": null}
            ])
        );
    }

    #[test]
    fn the_lotus_api_claim_names_its_source() {
        let lotus = crate::checks::ports::Claim {
            source: Some(crate::checks::ports::ClaimSource {
                kind: crate::checks::ports::SOURCE_API_FILE,
                text: "/var/lib/lotus/api, written by lotus daemon (pid 7) at its start".into(),
            }),
            ..test_claim("lotus", "api", Tcp, "127.0.0.1", 1234)
        };
        let report = PortsReport {
            entries: vec![PortEntry {
                port: 1234,
                protocol: Tcp,
                claims: vec![lotus],
                listeners: Some(vec!["lotus".into()]),
                conflict: false,
                reason: None,
                untrusted: Default::default(),
                untrusted_collisions: Vec::new(),
            }],
            ..PortsReport::default()
        };
        assert_eq!(
            render(&report)[0]["claims"][0],
            json!({"service": "lotus", "role": "api", "address": "127.0.0.1",
                   "source": "/var/lib/lotus/api, written by lotus daemon (pid 7) at its start",
                   "source_kind": "api_file"})
        );
    }

    #[test]
    fn unread_listeners_are_not_nothing_listening() {
        let report = PortsReport {
            listener_source: None,
            checks: vec![],
            entries: vec![PortEntry {
                port: 5001,
                protocol: Transport::Tcp,
                claims: vec![],
                listeners: None,
                conflict: false,
                reason: Some("runtime conflicts unknown".into()),
                untrusted: Default::default(),
                untrusted_collisions: Vec::new(),
            }],
        };
        assert_eq!(render(&report)[0]["listener"], json!("not read"));
        assert_eq!(source(&report)["source"], json!("not read"));
    }

    #[test]
    fn says_where_the_listeners_were_read() {
        let report = PortsReport {
            listener_source: Some(crate::checks::ports::SocketSource {
                netlink: vec!["tcp", "tcp6", "udp"],
                proc_net: vec!["udp6"],
                fallback_reason: Some("the kernel refused the udp6 dump".into()),
            }),
            ..PortsReport::default()
        };
        assert_eq!(
            source(&report),
            json!({"source": "netlink and /proc/net",
                   "tables": {"netlink": ["tcp", "tcp6", "udp"], "proc_net": ["udp6"]},
                   "fallback_reason": "the kernel refused the udp6 dump"})
        );
    }
}
