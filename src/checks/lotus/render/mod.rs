//! The Lotus section rendered into every view: `lotus_*` metrics, the `lotus` key of `/status`,
//! its lines of the `check` report and its part of the status page.

pub(crate) mod html;
pub(crate) mod metrics;
pub(crate) mod status;
pub(crate) mod text;

use super::LotusReport;
use crate::contract::{
    grouped_errors, CheckResult, Families, Health, HtmlPage, Section, SectionVerdict, StatusDoc,
    TextReport, Watched,
};

impl Section for LotusReport {
    fn check(&self) -> &'static str {
        super::NAME
    }

    fn results(&self) -> Vec<&CheckResult> {
        self.checks.iter().collect()
    }

    fn health(&self) -> (Health, Vec<String>) {
        (
            self.health,
            self.health_reasons.iter().map(|r| r.to_string()).collect(),
        )
    }

    fn metrics(&self, out: &mut Families) {
        metrics::render(self, out);
    }

    fn status(&self, out: &mut StatusDoc) {
        out.insert("lotus", status::lotus(self));
    }

    fn text(&self, _verdict: &SectionVerdict, out: &mut TextReport) {
        text::render(self, out.buffer());
    }

    fn html(&self, verdict: &SectionVerdict, out: &mut HtmlPage) {
        out.summary("lotus", "Lotus", verdict.health, verdict.health.as_str());
        html::body(out.body(), self);
    }

    fn up(&self) -> Option<bool> {
        Some(self.up)
    }

    /// Lotus is up when its API answered `Filecoin.Version`; down, the reason is the first
    /// failure (the checks a refused connection hit, named together).
    fn watched(&self) -> Vec<Watched> {
        let reason = if self.up {
            String::new()
        } else {
            grouped_errors(self.checks.iter())
                .into_iter()
                .next()
                .unwrap_or_else(|| "the API did not answer".to_string())
        };
        vec![Watched {
            subject: format!("Lotus at {}", self.api_address),
            up: self.up,
            state: self.status.as_str(),
            reason,
        }]
    }
}
