//! The Lotus part of the status page: a table of its verdicts and figures, and its wallets.

use std::fmt::Write as _;

use crate::checks::lotus::types::AttoFil;
use crate::checks::lotus::LotusReport;
use crate::contract::views::html::{esc, num, reasons, row, verdict};

pub fn body(out: &mut String, report: &LotusReport) {
    out.push_str("<h2 id=\"lotus\">Lotus</h2>\n<div class=\"scroll\"><table>\n");
    row(out, "API", &esc(&report.api_address));
    row(out, "Status", &verdict(report.status.as_str()));
    let mut health = verdict(report.health.as_str());
    reasons(&mut health, &report.health_reasons);
    row(out, "Health", &health);
    let version = report.version.as_ref();
    row(
        out,
        "Version",
        &esc(version.map_or("unknown", |v| v.full.as_str())),
    );
    row(
        out,
        "Network",
        &esc(report.network.as_deref().unwrap_or("unknown")),
    );
    row(
        out,
        "Node type",
        &esc(version.map_or("unknown", |v| v.node_type.as_str())),
    );
    row(
        out,
        "Height",
        &format!(
            "{} of {} expected",
            num(report.chain_height),
            num(report.expected_height)
        ),
    );
    let mut lag = format!("{} epochs", num(report.sync_lag_epochs));
    if let Some(ahead) = report.head_ahead_epochs.filter(|a| *a > 0) {
        let _ = write!(lag, " (head {ahead} epochs ahead of this host's clock)");
    }
    row(out, "Sync lag", &lag);
    row(out, "Sync", &esc(report.sync_status.as_str()));
    row(out, "Peers", &num(report.peers));
    if report.up {
        row(out, "Finality", &esc(&super::text::finality_line(report)));
        row(out, "Upgrades", &esc(&super::text::upgrade_line(report)));
    }
    out.push_str("</table></div>\n");
    if !report.wallets.is_empty() {
        out.push_str("<h3>Wallets</h3>\n<div class=\"scroll\"><table class=\"stack\">\n<tr><th>Alias</th><th>Address</th><th>Balance (FIL)</th><th>Pending messages</th></tr>\n");
        for wallet in &report.wallets {
            let _ = writeln!(
                out,
                "<tr><td data-label=\"Alias\">{}</td><td data-label=\"Address\">{}</td><td data-label=\"FIL\" class=\"num\">{}</td><td data-label=\"Pending\" class=\"num\">{}</td></tr>",
                esc(&wallet.alias),
                esc(&wallet.address),
                wallet.balance.map_or_else(|| "unknown".to_string(), fil),
                wallet.nonce_gap.map_or_else(|| "unknown".to_string(), |g| g.to_string())
            );
        }
        out.push_str("</table></div>\n");
    }
    let errors = report.errors();
    if !errors.is_empty() {
        out.push_str("<p>Errors:</p>");
        reasons(out, &errors);
        out.push('\n');
    }
}

/// An exact FIL amount in plain digits (`12.5`), from attoFIL.
fn fil(amount: AttoFil) -> String {
    const ATTO: u128 = 1_000_000_000_000_000_000;
    let whole = amount.magnitude / ATTO;
    let fraction = format!("{:018}", amount.magnitude % ATTO);
    let fraction = fraction.trim_end_matches('0');
    let sign = if amount.negative { "-" } else { "" };
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fil_amounts_are_exact_plain_digits() {
        let amount = |text: &str| fil(AttoFil::parse(text).unwrap());
        assert_eq!(amount("1234500000000000000000"), "1234.5");
        assert_eq!(amount("0"), "0");
        assert_eq!(amount("-1"), "-0.000000000000000001");
        assert_eq!(amount("1000000000000000000000000"), "1000000");
    }
}
