//! Snapshot -> the status page served on `/` to browsers: plain HTML, no script, no external asset.
//!
//! Every value from outside (a follower name, an error text, a version string) is escaped;
//! numbers are plain digits so they can be copied; a figure not measured reads `unknown`, never 0.
//! Port conflicts come first and are highlighted.

use std::fmt::Write as _;

pub use crate::contract::views::html::esc;
use crate::contract::views::html::verdict;
use crate::contract::HtmlPage;
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
    let mut page = HtmlPage::default();
    for (section, verdict) in snapshot.sections.iter().zip(&snapshot.verdict().sections) {
        section.html(verdict, &mut page);
    }
    let _ = writeln!(
        out,
        "<p id=\"summary\">Verdict {} · {}</p>",
        verdict(snapshot.verdict().health.as_str()),
        page.summary.join(" · ")
    );
    out.push_str(&page.body);
    let _ = writeln!(
        out,
        "<p class=\"muted\"><a href=\"{}\">Metrics</a> · <a href=\"/status\">Status (JSON)</a> · <a href=\"/healthz\">Exporter health</a> · <a href=\"/?refresh=30\">Refresh every 30 s</a></p>\n</body>\n</html>",
        esc(telemetry_path)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_is_clamped_and_optional() {
        assert_eq!(refresh_from_query(None), None);
        assert_eq!(refresh_from_query(Some("refresh=30")), Some(30));
        assert_eq!(refresh_from_query(Some("a=b&refresh=1")), Some(5));
        assert_eq!(refresh_from_query(Some("refresh=soon")), None);
    }
}
