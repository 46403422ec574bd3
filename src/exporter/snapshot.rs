//! What one collection found: every check's section, and the one verdict every view reads.
//!
//! Nothing here knows about Prometheus or HTTP. A figure that could not be measured is `None`
//! (rendered as an absent series or JSON `null`), never a made-up zero.

use std::time::{Duration, SystemTime};

use crate::contract::{CheckResult, Health, Section, SectionVerdict};

/// Everything one collection found.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When the collection started (wall clock), for `last_check`.
    pub taken_at: SystemTime,
    /// One section per registered check, in the registry's order.
    pub sections: Vec<Box<dyn Section>>,
    /// Wall time from the scrape's start until the snapshot was assembled.
    pub scrape_duration: Duration,
    verdict: Verdict,
}

/// The one verdict on a collection: `check`'s exit status, `/status`'s `health`, the page's
/// badges and `lotus_follow_exporter_healthy` all read it, and nothing else judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The worst health of any section.
    pub health: Health,
    /// Each section's health and reasons, in the registry's order.
    pub sections: Vec<SectionVerdict>,
}

impl Verdict {
    /// True when nothing would alert: every section is healthy.
    pub fn is_healthy(&self) -> bool {
        self.health == Health::Healthy
    }

    /// The verdict on the section of `check`.
    pub fn section(&self, check: &str) -> Option<&SectionVerdict> {
        self.sections.iter().find(|s| s.check == check)
    }
}

impl Snapshot {
    /// A snapshot of these sections, judged once.
    pub fn new(
        taken_at: SystemTime,
        sections: Vec<Box<dyn Section>>,
        scrape_duration: Duration,
    ) -> Snapshot {
        let sections_verdicts: Vec<SectionVerdict> = sections
            .iter()
            .map(|s| SectionVerdict::of(s.as_ref()))
            .collect();
        let health = sections_verdicts
            .iter()
            .map(|v| v.health)
            .max()
            .unwrap_or(Health::Healthy);
        Snapshot {
            taken_at,
            sections,
            scrape_duration,
            verdict: Verdict {
                health,
                sections: sections_verdicts,
            },
        }
    }

    /// The one verdict on this collection.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// Every check result of every section, in a stable order.
    pub fn checks(&self) -> impl Iterator<Item = &CheckResult> {
        self.sections.iter().flat_map(|s| s.results())
    }

    /// The section of type `T`, when one was collected (for the joins and for tests).
    pub fn section<T: Section>(&self) -> Option<&T> {
        self.sections
            .iter()
            .find_map(|s| s.as_any().downcast_ref::<T>())
    }
}

pub use crate::contract::views::rfc3339;
