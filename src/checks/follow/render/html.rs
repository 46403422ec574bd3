//! The followers part of the status page: one row per follower, discovery errors first.

use std::fmt::Write as _;

use crate::checks::follow::times::age;
use crate::checks::follow::{FollowHost, FollowReport};
use crate::contract::views::html::{esc, num, reasons, verdict};

pub fn body(out: &mut String, reports: &[FollowReport], host: &FollowHost) {
    let _ = writeln!(
        out,
        "<h2 id=\"followers\">Cluster followers ({})</h2>",
        reports.len()
    );
    // Discovery and the binary check: a failed discovery means "none found" is not known.
    let errors = crate::contract::grouped_errors(&host.checks);
    if !errors.is_empty() {
        out.push_str("<p>Errors:</p>");
        reasons(out, &errors);
        out.push('\n');
    }
    if reports.is_empty() {
        if errors.is_empty() {
            out.push_str("<p class=\"muted\">No follower found.</p>\n");
        }
        return;
    }
    out.push_str("<div class=\"scroll\"><table class=\"stack\">\n<tr><th>Cluster</th><th>Status</th><th>Health</th><th>Peers</th><th>Pins</th></tr>\n");
    for report in reports {
        let mut health = verdict(report.health.as_str());
        let why: Vec<String> = report.reasons.iter().map(|r| r.text.clone()).collect();
        reasons(&mut health, &why);
        let pins = pins_cell(report);
        let _ = writeln!(
            out,
            "<tr><td data-label=\"Cluster\">{}</td><td data-label=\"Status\">{}</td><td data-label=\"Health\">{health}</td><td data-label=\"Peers\" class=\"num\">{}</td><td data-label=\"Pins\" class=\"num\">{pins}</td></tr>",
            esc(&report.cluster_name),
            verdict(report.status.as_str()),
            num(report.peers),
        );
    }
    out.push_str("</table></div>\n");
}

/// Pins by state: the live operation and error states that are not zero, then the pinned
/// count of the last full listing; `unknown` for what was not measured.
fn pins_cell(report: &FollowReport) -> String {
    let mut lines: Vec<String> = match &report.pins {
        None => vec!["live states unknown".to_string()],
        Some(states) => {
            let busy: Vec<String> = states
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(state, n)| format!("{}: {n}", esc(state)))
                .collect();
            if busy.is_empty() {
                vec!["none queued, in progress or in error".to_string()]
            } else {
                busy
            }
        }
    };
    for (state, at) in &report.pins_oldest {
        let ago = age(*at, report.last_check).unwrap_or_else(|| "in the future".into());
        lines.push(format!("oldest {}: {}", esc(state), esc(&ago)));
    }
    match report.pins_listed.as_ref().and_then(|l| l.get("pinned")) {
        Some(pinned) => lines.push(format!("pinned: {pinned} (last listing)")),
        None => lines.push("pinned: unknown".to_string()),
    }
    if let Some(at) = report.pin_newest_created {
        let ago = age(at, report.last_check).unwrap_or_else(|| "in the future".into());
        lines.push(format!("newest pin: {} ago", esc(&ago)));
    }
    lines.join("<br>")
}
