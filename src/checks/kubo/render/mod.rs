//! The Kubo section rendered into every view: `kubo_*` metrics, the `kubo` key of `/status`,
//! one block per Kubo in the `check` report, and its part of the status page. A section with
//! nothing to watch renders no series, no line and no badge (`/status` says `"kubo": []`).

pub(crate) mod html;
pub(crate) mod metrics;
pub(crate) mod status;
pub(crate) mod text;

use super::KuboSection;
use crate::contract::{
    CheckResult, Families, Health, HtmlPage, Section, SectionVerdict, StatusDoc, TextReport,
    Watched,
};

impl Section for KuboSection {
    fn check(&self) -> &'static str {
        super::NAME
    }

    fn results(&self) -> Vec<&CheckResult> {
        self.kubos
            .iter()
            .map(|k| &k.check)
            .chain(std::iter::once(&self.discovery))
            .collect()
    }

    /// The worst Kubo's health (healthy with none); each Kubo not healthy gives its reasons,
    /// which name it.
    fn health(&self) -> (Health, Vec<String>) {
        let health = self
            .kubos
            .iter()
            .map(|k| k.health)
            .max()
            .unwrap_or(Health::Healthy);
        let reasons = self
            .kubos
            .iter()
            .flat_map(|k| k.reasons.iter().map(ToString::to_string))
            .collect();
        (health, reasons)
    }

    fn metrics(&self, out: &mut Families) {
        metrics::render(&self.kubos, out);
    }

    fn status(&self, out: &mut StatusDoc) {
        out.insert("kubo", status::render(&self.kubos));
    }

    fn text(&self, _verdict: &SectionVerdict, out: &mut TextReport) {
        text::render(self, out.buffer());
    }

    /// The badge counts Kubos up; its colour is the section's verdict. None when there is
    /// nothing to show.
    fn html(&self, verdict: &SectionVerdict, out: &mut HtmlPage) {
        if self.is_empty() {
            return;
        }
        let failed = self.discovery.status.failure().is_some();
        let text = format!(
            "{} of {} up{}",
            self.up_count(),
            self.kubos.len(),
            if failed { ", some checks failed" } else { "" }
        );
        out.summary("kubo", "Kubo", verdict.health, &text);
        html::body(out.body(), self);
    }

    /// Each Kubo is up when it answered `POST /api/v0/id` as a Kubo; down, its reasons say why.
    fn watched(&self) -> Vec<Watched> {
        self.kubos
            .iter()
            .map(|k| Watched {
                subject: format!("Kubo at {}", k.label),
                up: k.up,
                state: if k.up { "running" } else { "down" },
                reason: k
                    .reasons
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            })
            .collect()
    }
}
