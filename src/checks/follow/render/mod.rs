//! The follow section rendered into every view: `cluster_follow_*` metrics, the
//! `cluster_follow` key of `/status`, its lines of the `check` report, its part of the status
//! page, and its note under the `ports` command's plan.

pub(crate) mod html;
pub(crate) mod metrics;
pub(crate) mod plan;
pub(crate) mod status;
pub(crate) mod text;

use super::FollowSection;
use crate::contract::{
    CheckResult, DaemonStatus, Families, Health, HtmlPage, PlanView, Section, SectionVerdict,
    StatusDoc, TextReport, Watched,
};

impl Section for FollowSection {
    fn check(&self) -> &'static str {
        super::NAME
    }

    fn results(&self) -> Vec<&CheckResult> {
        self.followers
            .iter()
            .flat_map(|f| f.checks.iter())
            .chain(self.host.checks.iter())
            .collect()
    }

    /// The worst follower's health; each follower that is not healthy gives its reasons,
    /// prefixed with its name.
    fn health(&self) -> (Health, Vec<String>) {
        let health = self
            .followers
            .iter()
            .map(|f| f.health)
            .max()
            .unwrap_or(Health::Healthy);
        let reasons = self
            .followers
            .iter()
            .filter(|f| f.health != Health::Healthy)
            .flat_map(|f| {
                f.reasons
                    .iter()
                    .map(move |r| format!("{}: {}", f.cluster_name, r.text))
            })
            .collect();
        (health, reasons)
    }

    fn metrics(&self, out: &mut Families) {
        metrics::render(&self.followers, &self.host, out);
    }

    fn status(&self, out: &mut StatusDoc) {
        out.insert("cluster_follow", status::render(&self.followers));
    }

    fn text(&self, _verdict: &SectionVerdict, out: &mut TextReport) {
        text::render(&self.followers, &self.host, out.buffer());
    }

    /// The badge counts healthy followers; its colour is the section's verdict, so a failed
    /// discovery (which may have missed followers) is never green.
    fn html(&self, verdict: &SectionVerdict, out: &mut HtmlPage) {
        let healthy = self
            .followers
            .iter()
            .filter(|f| f.health == Health::Healthy)
            .count();
        let seen = self
            .host
            .checks
            .iter()
            .all(|c| c.status.failure().is_none());
        let text = format!(
            "{healthy} of {} healthy{}",
            self.followers.len(),
            if seen { "" } else { ", some checks failed" }
        );
        out.summary("followers", "followers", verdict.health, &text);
        html::body(out.body(), &self.followers, &self.host);
    }

    fn plan(&self, out: &mut PlanView) {
        out.text.push_str(&plan::follow_notes(&self.followers));
    }

    /// A follower is up while it runs (its API answers as a cluster API, or its process is
    /// alive); down, the reasons of its verdict say why.
    fn watched(&self) -> Vec<Watched> {
        self.followers
            .iter()
            .map(|f| {
                let up = f.status == DaemonStatus::Running;
                let reason = if up {
                    String::new()
                } else {
                    f.reasons
                        .iter()
                        .map(|r| r.text.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                Watched {
                    subject: format!("follower {} at {}", f.cluster_name, f.api),
                    up,
                    state: f.status.as_str(),
                    reason,
                }
            })
            .collect()
    }
}
