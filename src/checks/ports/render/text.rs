//! The ports part of the `check` report: the conflicts, each with its reason.

use std::fmt::Write;

use crate::checks::ports::PortsReport;

pub fn render(report: &PortsReport, out: &mut String) {
    let conflicts: Vec<_> = report.entries.iter().filter(|e| e.conflict).collect();
    if conflicts.is_empty() {
        return;
    }
    let _ = writeln!(out, "Port conflicts:");
    for entry in conflicts {
        let reason = entry.reason.as_deref().unwrap_or("conflict");
        let _ = writeln!(
            out,
            "  {}/{}: {reason}",
            entry.port,
            entry.protocol.as_str()
        );
    }
}
