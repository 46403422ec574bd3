//! Snapshot -> Prometheus text exposition format 0.0.4 (what `promtool check metrics` lints).
//!
//! A fresh set of metric families is built for every scrape from the snapshot (the "const metric"
//! pattern of the Prometheus docs), so a label value that disappears is never exported again.
//! Each section writes its own families (see [`crate::contract::Section::metrics`]); this
//! file encodes them, with the exporter's own metrics from `exporter.rs`.

mod exporter;

pub use crate::contract::metrics::{bool_value, Families, FamilyBuilder};

use crate::exporter::snapshot::Snapshot;

/// The Content-Type of the text format (Prometheus 3 refuses a missing or wrong one).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Render a snapshot (plus the exporter's own metrics) as Prometheus text.
pub fn render(snapshot: &Snapshot) -> String {
    let mut families = Families::default();
    for section in &snapshot.sections {
        section.metrics(&mut families);
    }
    exporter::render(snapshot, &mut families);
    families.encode()
}

/// Render one `/probe` answer: only the target's own figures, its check results,
/// `probe_success` (every probed section's target answered) and `probe_duration_seconds`; a
/// fresh set per probe.
pub fn render_probe(snapshot: &Snapshot, took: std::time::Duration) -> String {
    let mut families = Families::default();
    for section in &snapshot.sections {
        section.metrics(&mut families);
    }
    let success = snapshot.sections.iter().all(|s| {
        s.up()
            .unwrap_or_else(|| s.results().iter().all(|c| c.status.failure().is_none()))
    });
    families
        .gauge(
            "probe_success",
            "1 when the probed target answered (for Lotus: lotus_up, an answer to Filecoin.Version from the node or from a front that rate limits it), 0 when it did not.",
        )
        .sample(&[], bool_value(success));
    families
        .gauge(
            "probe_duration_seconds",
            "How long the probe took, in seconds.",
        )
        .sample(&[], took.as_secs_f64());
    let mut success = families.gauge(
        "lotus_follow_exporter_check_success",
        "1 when a check succeeded in this probe, 0 when it failed or timed out (skipped checks are not exported).",
    );
    for check in snapshot
        .checks()
        .filter(|c| !matches!(c.status, crate::contract::CheckStatus::Skipped(_)))
    {
        success.sample(&[("check", check.check)], bool_value(check.status.is_ok()));
    }
    families.encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_is_the_text_format_prometheus_3_accepts() {
        // Prometheus 3 fails a scrape whose Content-Type is missing or not a known format.
        assert_eq!(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
        let media: Vec<&str> = CONTENT_TYPE.split(';').map(str::trim).collect();
        assert_eq!(media, ["text/plain", "version=0.0.4", "charset=utf-8"]);
    }
}
