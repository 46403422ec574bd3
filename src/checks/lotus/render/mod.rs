//! The Lotus section rendered into every view: `lotus_*` metrics, the `lotus` key of `/status`,
//! its lines of the `check` report and its part of the status page.

pub(crate) mod html;
pub(crate) mod metrics;
pub(crate) mod status;
pub(crate) mod text;

use super::LotusReport;
use crate::contract::{
    CheckResult, Families, Health, HtmlPage, Section, SectionVerdict, StatusDoc, TextReport,
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
}
