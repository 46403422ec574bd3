//! The port plan on the status page: conflicts first and highlighted.

use std::fmt::Write as _;

use crate::checks::ports::{PortEntry, PortsReport};
use crate::contract::views::html::{esc, reasons};

pub fn body(out: &mut String, report: &PortsReport) {
    let conflicts = report.entries.iter().filter(|e| e.conflict).count();
    let _ = writeln!(
        out,
        "<h2 id=\"ports\">Port plan ({} ports, {conflicts} in conflict)</h2>",
        report.entries.len()
    );
    let errors = crate::contract::grouped_errors(&report.checks);
    reasons(out, &errors);
    if report.entries.is_empty() {
        out.push_str("<p class=\"muted\">No port claimed.</p>\n");
        return;
    }
    out.push_str("<div class=\"scroll\"><table class=\"stack\">\n<tr><th>Port</th><th>Claimed by</th><th>Listening</th><th>Verdict</th></tr>\n");
    let (first, rest): (Vec<&PortEntry>, Vec<&PortEntry>) =
        report.entries.iter().partition(|e| e.conflict);
    for entry in first.into_iter().chain(rest) {
        port_row(out, entry);
    }
    out.push_str("</table></div>\n");
}

fn port_row(out: &mut String, entry: &PortEntry) {
    let claims = entry
        .claims
        .iter()
        .map(|c| {
            let whose = match entry.untrusted.get(&c.service) {
                Some(user) => format!(
                    " <span class=\"badge degraded\">untrusted: user {}</span>",
                    esc(user)
                ),
                None => String::new(),
            };
            let from = c.source.as_ref().map_or_else(String::new, |s| {
                format!(" <span class=\"muted\">from {}</span>", esc(&s.text))
            });
            format!(
                "{} ({}) on {}{whose}{from}",
                esc(&c.service),
                esc(&c.role),
                esc(&c.address.to_string())
            )
        })
        .collect::<Vec<_>>()
        .join("<br>");
    let listening = match &entry.listeners {
        None => "not read".to_string(),
        Some(names) if names.is_empty() => "nothing".to_string(),
        Some(names) => esc(&names.join(", ")),
    };
    let verdict = match (entry.conflict, &entry.reason) {
        (true, Some(reason)) => format!(
            "<span class=\"badge error\">CONFLICT</span> {}",
            esc(reason)
        ),
        (true, None) => "<span class=\"badge error\">CONFLICT</span>".to_string(),
        (false, Some(reason)) => esc(reason),
        (false, None) => "<span class=\"ok\">ok</span>".to_string(),
    };
    let class = if entry.conflict {
        " class=\"conflict\""
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "<tr{class}><td data-label=\"Port\" class=\"num\">{}/{}</td><td data-label=\"Claimed by\">{claims}</td><td data-label=\"Listening\">{listening}</td><td data-label=\"Verdict\">{verdict}</td></tr>",
        entry.port,
        esc(entry.protocol.as_str())
    );
}
