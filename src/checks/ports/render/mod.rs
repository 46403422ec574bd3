//! The ports section rendered into every view: `port_*` metrics, the `ports` and
//! `ports_listeners` keys of `/status`, its conflicts in the `check` report, its part of the
//! status page, and the `ports` command's table.

pub(crate) mod html;
pub(crate) mod metrics;
pub(crate) mod status;
pub(crate) mod table;
pub(crate) mod text;

use super::PortsSection;
use crate::contract::{
    CheckResult, Families, Health, HtmlPage, PlanView, Section, SectionVerdict, StatusDoc,
    TextReport,
};

impl Section for PortsSection {
    fn check(&self) -> &'static str {
        super::NAME
    }

    fn results(&self) -> Vec<&CheckResult> {
        self.report.checks.iter().collect()
    }

    /// Unhealthy while a port is in conflict, with each conflict as a reason.
    fn health(&self) -> (Health, Vec<String>) {
        let reasons: Vec<String> = self
            .report
            .entries
            .iter()
            .filter(|e| e.conflict)
            .map(|e| {
                format!(
                    "port {}/{} in conflict: {}",
                    e.port,
                    e.protocol.as_str(),
                    e.reason.as_deref().unwrap_or("conflict")
                )
            })
            .collect();
        let health = if reasons.is_empty() {
            Health::Healthy
        } else {
            Health::Unhealthy
        };
        (health, reasons)
    }

    fn metrics(&self, out: &mut Families) {
        metrics::render(&self.report, out);
    }

    fn status(&self, out: &mut StatusDoc) {
        out.insert("ports", status::render(&self.report));
        out.insert("ports_listeners", status::source(&self.report));
    }

    fn text(&self, _verdict: &SectionVerdict, out: &mut TextReport) {
        text::render(&self.report, out.buffer());
    }

    /// The badge counts conflicts; its colour is the section's verdict (a failed socket read
    /// makes it degraded, never green).
    fn html(&self, verdict: &SectionVerdict, out: &mut HtmlPage) {
        let conflicts = self.report.entries.iter().filter(|e| e.conflict).count();
        let seen = self
            .report
            .checks
            .iter()
            .all(|c| c.status.failure().is_none());
        let text = format!(
            "{conflicts} in conflict{}",
            if seen { "" } else { ", some checks failed" }
        );
        out.summary("ports", "ports", verdict.health, &text);
        html::body(out.body(), &self.report);
    }

    fn plan(&self, out: &mut PlanView) {
        out.text.insert_str(0, &table::table(&self.report));
        out.conflict |= self.report.has_conflict();
    }
}
