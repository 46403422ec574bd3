//! The Kubo part of the status page: one row per Kubo, discovery errors first.

use std::fmt::Write as _;

use crate::checks::kubo::KuboSection;
use crate::contract::views::html::{esc, reasons, verdict};

/// The section's body: its heading, discovery errors, and a table of the Kubos.
pub fn body(out: &mut String, section: &KuboSection) {
    let _ = writeln!(out, "<h2 id=\"kubo\">Kubo ({})</h2>", section.kubos.len());
    if let Some(error) = section.discovery.error_line() {
        out.push_str("<p>Errors:</p>");
        reasons(out, &[error]);
        out.push('\n');
    }
    if section.kubos.is_empty() {
        return;
    }
    out.push_str("<div class=\"scroll\"><table class=\"stack\">\n<tr><th>Kubo</th><th>Up</th><th>Health</th><th>Version</th><th>Found by</th></tr>\n");
    for kubo in &section.kubos {
        let mut health = verdict(kubo.health.as_str());
        reasons(&mut health, &kubo.reasons);
        let up = if kubo.up {
            "<span class=\"ok\">up</span>"
        } else {
            "<span class=\"error\">down</span>"
        };
        let from: Vec<String> = kubo.sources.iter().map(|s| esc(&s.describe())).collect();
        let _ = writeln!(
            out,
            "<tr><td data-label=\"Kubo\">{}</td><td data-label=\"Up\">{up}</td><td data-label=\"Health\">{health}</td><td data-label=\"Version\">{}</td><td data-label=\"Found by\">{}</td></tr>",
            esc(&kubo.label),
            esc(kubo.version.as_deref().unwrap_or("unknown")),
            from.join("<br>"),
        );
    }
    out.push_str("</table></div>\n");
}
