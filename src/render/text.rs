//! Snapshot -> the readable report `lotus-follow-exporter check` prints: each section's lines in
//! the registry's order, then every distinct failure once, with every check it hit. The exit
//! status is the snapshot's verdict ([`crate::exporter::snapshot::Verdict::is_healthy`]).

use crate::contract::TextReport;
use crate::exporter::snapshot::Snapshot;

/// The report, one fact per line; "unknown" once per section, not in every field.
pub fn render(snapshot: &Snapshot) -> String {
    let mut out = TextReport::default();
    for (section, verdict) in snapshot.sections.iter().zip(&snapshot.verdict().sections) {
        section.text(verdict, &mut out);
    }
    let failed = crate::contract::grouped_errors(snapshot.checks());
    if !failed.is_empty() {
        out.line("Failed checks:");
        for line in failed {
            out.line(format_args!("  {line}"));
        }
    }
    out.as_str().to_string()
}

/// The `ports` command's output: each section's part of the plan; true when something in it
/// is a conflict (the command's exit status).
pub fn plan(snapshot: &Snapshot) -> (String, bool) {
    let mut view = crate::contract::PlanView::default();
    for section in &snapshot.sections {
        section.plan(&mut view);
    }
    (view.text, view.conflict)
}
