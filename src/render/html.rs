//! Snapshot -> the status page served on `/` to browsers: plain HTML, no script, no external asset.
//!
//! Every value from outside (a follower name, an error text, a version string) is escaped;
//! numbers are plain digits so they can be copied; a figure not measured reads `unknown`, never 0.
//! Port conflicts come first and are highlighted.

use std::fmt::Write as _;

use crate::checks::follow::{FollowHost, FollowReport};
use crate::checks::lotus::types::AttoFil;
use crate::checks::lotus::LotusReport;
use crate::checks::ports::{PortEntry, PortsReport};
use crate::exporter::snapshot::{rfc3339, Snapshot};

/// The page's content type.
pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// Shortest and longest `?refresh=` the page honours, in seconds.
const REFRESH_RANGE: (u32, u32) = (5, 3600);

/// Inline style: readable on a phone (one column, tables scroll sideways), no external asset.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;padding:0.5em;max-width:60em;line-height:1.4}\
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.2em}\
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:0.25em 0.5em;border-bottom:1px solid #ccc;vertical-align:top}\
th{background:#f0f0f0}td.num{font-variant-numeric:tabular-nums}\
.healthy,.running,.ok{color:#1a7f37}.degraded{color:#9a6700}.unhealthy,.stopped,.error{color:#cf222e}\
tr.conflict{background:#ffebe9}tr.conflict td:first-child{border-left:4px solid #cf222e}\
.badge{font-weight:bold}ul.reasons{margin:0;padding-left:1.2em}.muted{color:#666}@media (max-width:40em){table.stack tr:first-child{display:none}table.stack tr{display:block;border-bottom:2px solid #999;padding:0.25em 0}table.stack td{display:block;border:none;padding:0.1em 0.5em}table.stack td::before{content:attr(data-label) \": \";font-weight:bold}}";

/// The `refresh` query parameter, when given and in range (clamped into it).
pub fn refresh_from_query(query: Option<&str>) -> Option<u32> {
    let value = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("refresh="))?;
    let seconds: u32 = value.parse().ok()?;
    Some(seconds.clamp(REFRESH_RANGE.0, REFRESH_RANGE.1))
}

/// Render the status page; `refresh` adds a `<meta http-equiv="refresh">` of that many seconds.
pub fn render(snapshot: &Snapshot, telemetry_path: &str, refresh: Option<u32>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    if let Some(seconds) = refresh {
        let _ = writeln!(out, "<meta http-equiv=\"refresh\" content=\"{seconds}\">");
    }
    let _ = writeln!(
        out,
        "<title>lotus-follow-exporter status</title>\n<style>{STYLE}</style>\n</head>\n<body>"
    );
    out.push_str("<h1>lotus-follow-exporter status</h1>\n");
    let _ = writeln!(
        out,
        "<p id=\"collected\">Collected at <time>{}</time> in {} ms. Version {}.</p>",
        esc(&rfc3339(snapshot.taken_at)),
        snapshot.scrape_duration.as_millis(),
        env!("CARGO_PKG_VERSION")
    );
    summary(&mut out, snapshot);
    lotus(&mut out, &snapshot.lotus);
    followers(&mut out, &snapshot.follow, &snapshot.follow_host);
    ports(&mut out, &snapshot.ports);
    let _ = writeln!(
        out,
        "<p class=\"muted\"><a href=\"{}\">Metrics</a> · <a href=\"/status\">Status (JSON)</a> · <a href=\"/healthz\">Exporter health</a> · <a href=\"/?refresh=30\">Refresh every 30 s</a></p>\n</body>\n</html>",
        esc(telemetry_path)
    );
    out
}

/// Escape text for HTML element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A figure as plain digits, or `unknown` when it was not measured.
fn num(value: Option<u64>) -> String {
    value.map_or_else(|| "unknown".to_string(), |v| v.to_string())
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

/// A verdict word with its colour class (the word itself is one of a fixed set).
fn verdict(word: &str) -> String {
    format!("<span class=\"badge {0}\">{0}</span>", esc(word))
}

/// A list of reasons, or nothing.
fn reasons(out: &mut String, list: &[String]) {
    if list.is_empty() {
        return;
    }
    out.push_str("<ul class=\"reasons\">");
    for reason in list {
        let _ = write!(out, "<li>{}</li>", esc(reason));
    }
    out.push_str("</ul>");
}

fn row(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(
        out,
        "<tr><th scope=\"row\">{name}</th><td>{value}</td></tr>"
    );
}

/// One line on top: Lotus's health, how many followers are healthy, how many ports conflict.
/// A section whose own checks failed (follower discovery, the listening sockets) is never green:
/// what it counts is then only what could be seen.
fn summary(out: &mut String, snapshot: &Snapshot) {
    let healthy = snapshot
        .follow
        .iter()
        .filter(|f| f.health == crate::contract::Health::Healthy)
        .count();
    let follow_seen = snapshot
        .follow_host
        .checks
        .iter()
        .all(|c| c.status.failure().is_none());
    let conflicts = snapshot.ports.entries.iter().filter(|e| e.conflict).count();
    let ports_seen = snapshot
        .ports
        .checks
        .iter()
        .all(|c| c.status.failure().is_none());
    let followers_class = if healthy == snapshot.follow.len() && follow_seen {
        "healthy"
    } else {
        "degraded"
    };
    let ports_class = match (conflicts, ports_seen) {
        (0, true) => "healthy",
        (0, false) => "degraded",
        _ => "unhealthy",
    };
    let unseen = |seen: bool| if seen { "" } else { ", some checks failed" };
    let _ = writeln!(
        out,
        "<p id=\"summary\"><a href=\"#lotus\">Lotus</a> {} · <a href=\"#followers\">followers</a> <span class=\"badge {followers_class}\">{healthy} of {} healthy{}</span> · <a href=\"#ports\">ports</a> <span class=\"badge {ports_class}\">{conflicts} in conflict{}</span></p>",
        verdict(snapshot.lotus.health.as_str()),
        snapshot.follow.len(),
        unseen(follow_seen),
        unseen(ports_seen),
    );
}

fn lotus(out: &mut String, report: &LotusReport) {
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
    }
    out.push_str("</table></div>\n");
    if !report.wallets.is_empty() {
        out.push_str("<h3>Wallets</h3>\n<div class=\"scroll\"><table class=\"stack\">\n<tr><th>Alias</th><th>Address</th><th>Balance (FIL)</th></tr>\n");
        for wallet in &report.wallets {
            let _ = writeln!(
                out,
                "<tr><td data-label=\"Alias\">{}</td><td data-label=\"Address\">{}</td><td data-label=\"FIL\" class=\"num\">{}</td></tr>",
                esc(&wallet.alias),
                esc(&wallet.address),
                wallet.balance.map_or_else(|| "unknown".to_string(), fil)
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

fn followers(out: &mut String, reports: &[FollowReport], host: &FollowHost) {
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
    match report.pins_listed.as_ref().and_then(|l| l.get("pinned")) {
        Some(pinned) => lines.push(format!("pinned: {pinned} (last listing)")),
        None => lines.push("pinned: unknown".to_string()),
    }
    lines.join("<br>")
}

fn ports(out: &mut String, report: &PortsReport) {
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
            format!(
                "{} ({}) on {}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            esc("<script>alert('x\"&')</script>"),
            "&lt;script&gt;alert(&#39;x&quot;&amp;&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn fil_amounts_are_exact_plain_digits() {
        let amount = |text: &str| fil(AttoFil::parse(text).unwrap());
        assert_eq!(amount("1234500000000000000000"), "1234.5");
        assert_eq!(amount("0"), "0");
        assert_eq!(amount("-1"), "-0.000000000000000001");
        assert_eq!(amount("1000000000000000000000000"), "1000000");
    }

    #[test]
    fn refresh_is_clamped_and_optional() {
        assert_eq!(refresh_from_query(None), None);
        assert_eq!(refresh_from_query(Some("refresh=30")), Some(30));
        assert_eq!(refresh_from_query(Some("a=b&refresh=1")), Some(5));
        assert_eq!(refresh_from_query(Some("refresh=soon")), None);
    }

    #[test]
    fn unknown_figures_read_unknown_not_zero() {
        assert_eq!(num(None), "unknown");
        assert_eq!(num(Some(1234567)), "1234567");
    }

    #[test]
    fn sections_whose_own_checks_failed_are_never_green() {
        use std::time::{Duration, SystemTime};
        let elapsed = Duration::from_secs(1);
        let mut snapshot = Snapshot {
            taken_at: SystemTime::now(),
            lotus: LotusReport::timed_out("127.0.0.1:1234".into(), SystemTime::now(), elapsed),
            follow: Vec::new(),
            follow_host: FollowHost::default(),
            ports: PortsReport::default(),
            scrape_duration: elapsed,
        };
        let page = render(&snapshot, "/metrics", None);
        assert!(page.contains("0 of 0 healthy</span>"), "{page}");
        assert!(
            page.contains("badge healthy\">0 in conflict</span>"),
            "{page}"
        );
        assert!(page.contains("No follower found."), "{page}");

        // Discovery did not finish and the listening sockets could not be read.
        snapshot.follow_host = FollowHost::timed_out(elapsed);
        snapshot.ports.checks = vec![crate::contract::CheckResult::new(
            "ports_listeners",
            crate::contract::CheckStatus::Failed("cannot read /proc/net/tcp".into()),
            elapsed,
        )];
        let page = render(&snapshot, "/metrics", None);
        assert!(
            page.contains("badge degraded\">0 of 0 healthy, some checks failed</span>"),
            "{page}"
        );
        assert!(
            page.contains("badge degraded\">0 in conflict, some checks failed</span>"),
            "{page}"
        );
        assert!(!page.contains("No follower found."), "{page}");
        assert!(
            page.contains("timed out before the scrape deadline"),
            "{page}"
        );
    }
}
