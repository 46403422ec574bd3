//! The port plan as a plain-text table, for the `lotus-follow-exporter ports` subcommand.
//!
//! Conflicts come first, each followed by its reason in words; then the other ports in port order;
//! then the sub-checks that did not run cleanly (a config that is missing, unreadable, malformed).

use crate::checks::ports::{PortEntry, PortsReport};
use crate::contract::CheckStatus;

const HEADER: [&str; 7] = [
    "PORT", "PROTO", "CONFLICT", "SERVICE", "ROLE", "ADDRESS", "LISTENER",
];

/// Render the plan (pure: the caller prints it and picks the exit code from `has_conflict`).
pub fn table(report: &PortsReport) -> String {
    let mut entries: Vec<&PortEntry> = report.entries.iter().collect();
    entries.sort_by_key(|e| (!e.conflict, e.port, e.protocol));
    let rows: Vec<Row> = entries.iter().flat_map(|e| rows(e)).collect();
    let widths = column_widths(&rows);
    let mut out = String::new();
    push_cells(&mut out, &HEADER.map(String::from), &widths);
    for row in &rows {
        match row {
            Row::Cells(cells) => push_cells(&mut out, cells, &widths),
            Row::Reason(reason) => {
                out.push_str("  reason: ");
                out.push_str(reason);
                out.push('\n');
            }
            Row::Source(source) => {
                out.push_str("  from: ");
                out.push_str(source);
                out.push('\n');
            }
        }
    }
    if report.entries.is_empty() {
        out.push_str("(no claimed ports)\n");
    }
    out.push_str(&summary(report));
    out
}

enum Row {
    Cells([String; 7]),
    Reason(String),
    /// Where a claim comes from (the Lotus API's).
    Source(String),
}

/// One line per claim (port, protocol, conflict and listener on the first), then the reason.
fn rows(entry: &PortEntry) -> Vec<Row> {
    let mut rows: Vec<Row> = entry
        .claims
        .iter()
        .enumerate()
        .flat_map(|(i, claim)| {
            let first = i == 0;
            let shown = |text: String| if first { text } else { String::new() };
            let row = Row::Cells([
                shown(entry.port.to_string()),
                shown(entry.protocol.to_string()),
                shown(if entry.conflict { "yes" } else { "no" }.to_string()),
                match entry.untrusted.get(&claim.service) {
                    Some(user) => format!("{} (untrusted: user {user})", claim.service),
                    None => claim.service.clone(),
                },
                claim.role.clone(),
                claim.address.to_string(),
                shown(listener(entry)),
            ]);
            let source = claim
                .source
                .as_ref()
                .map(|s| Row::Source(format!("{} {}: {}", claim.service, claim.role, s.text)));
            std::iter::once(row).chain(source)
        })
        .collect();
    // A port without a conflict may still carry a note (runtime verdict unknown): the failed
    // ports_listeners check in the summary says that once, not on every port. An untrusted
    // claim's collision is said where it is.
    let said = entry.conflict || !entry.untrusted_collisions.is_empty();
    if let Some(reason) = entry.reason.as_ref().filter(|_| said) {
        rows.push(Row::Reason(reason.clone()));
    }
    rows
}

/// The listening programs, `-` when nothing listens, `?` when the socket tables were not read.
fn listener(entry: &PortEntry) -> String {
    match &entry.listeners {
        None => "?".into(),
        Some(names) if names.is_empty() => "-".into(),
        Some(names) => names.join(", "),
    }
}

fn column_widths(rows: &[Row]) -> [usize; 7] {
    let mut widths = HEADER.map(str::len);
    for row in rows {
        if let Row::Cells(cells) = row {
            for (width, cell) in widths.iter_mut().zip(cells) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    widths
}

fn push_cells(out: &mut String, cells: &[String; 7], widths: &[usize; 7]) {
    let line: Vec<String> = cells
        .iter()
        .zip(widths)
        .map(|(cell, width)| format!("{cell:<width$}"))
        .collect();
    out.push_str(line.join("  ").trim_end());
    out.push('\n');
}

/// `N claimed ports, M in conflict`, then every sub-check that is not OK.
fn summary(report: &PortsReport) -> String {
    let conflicts = report.entries.iter().filter(|e| e.conflict).count();
    let mut out = format!(
        "\n{} claimed ports, {conflicts} in conflict\n",
        report.entries.len()
    );
    for check in &report.checks {
        let note = match &check.status {
            CheckStatus::Ok => continue,
            CheckStatus::Skipped(why) => format!("skipped: {why}"),
            CheckStatus::Failed(why) => format!("FAILED: {why}"),
            CheckStatus::TimedOut => "FAILED: timed out".to_string(),
        };
        out.push_str(&format!("{}: {note}\n", check.check));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::checks::ports::{BindAddress, Claim, ClaimSource, SOURCE_DAEMON_FLAG};
    use crate::contract::CheckResult;
    use crate::net::multiaddr::Transport;

    fn claim(service: &str, role: &str, address: &str, port: u16) -> Claim {
        Claim {
            service: service.into(),
            role: role.into(),
            protocol: Transport::Tcp,
            address: BindAddress::ip(address.parse().unwrap()),
            port,
            source: None,
        }
    }

    #[test]
    fn conflicts_come_first_with_their_reason() {
        let report = PortsReport {
            listener_source: None,
            checks: vec![
                CheckResult::new(
                    "ports_kubo_config",
                    CheckStatus::Skipped("no ~/.ipfs/config".into()),
                    Duration::ZERO,
                ),
                CheckResult::new("ports_listeners", CheckStatus::Ok, Duration::ZERO),
            ],
            entries: vec![
                PortEntry {
                    port: 1234,
                    protocol: Transport::Tcp,
                    claims: vec![Claim {
                        source: Some(ClaimSource {
                            kind: SOURCE_DAEMON_FLAG,
                            text: "lotus daemon --api 1234 (pid 7)".into(),
                        }),
                        ..claim("lotus", "api", "127.0.0.1", 1234)
                    }],
                    listeners: Some(vec![]),
                    conflict: false,
                    reason: None,
                    untrusted: Default::default(),
                    untrusted_collisions: Vec::new(),
                },
                PortEntry {
                    port: 9097,
                    protocol: Transport::Tcp,
                    claims: vec![
                        claim("ipfs-cluster-follow:c", "api", "127.0.0.1", 9097),
                        claim("ipfs-cluster-service", "pinsvcapi", "127.0.0.1", 9097),
                    ],
                    listeners: Some(vec!["ipfs-cluster-service".into()]),
                    conflict: true,
                    reason: Some("configured for both a and b".into()),
                    untrusted: Default::default(),
                    untrusted_collisions: Vec::new(),
                },
            ],
        };
        let expected = "\
PORT  PROTO  CONFLICT  SERVICE                ROLE       ADDRESS    LISTENER
9097  tcp    yes       ipfs-cluster-follow:c  api        127.0.0.1  ipfs-cluster-service
                       ipfs-cluster-service   pinsvcapi  127.0.0.1
  reason: configured for both a and b
1234  tcp    no        lotus                  api        127.0.0.1  -
  from: lotus api: lotus daemon --api 1234 (pid 7)

2 claimed ports, 1 in conflict
ports_kubo_config: skipped: no ~/.ipfs/config
";
        assert_eq!(table(&report), expected);
    }

    #[test]
    fn an_empty_plan_says_so() {
        let text = table(&PortsReport::default());
        assert!(text.contains("(no claimed ports)"), "{text}");
        assert!(text.contains("0 claimed ports, 0 in conflict"), "{text}");
    }
}
