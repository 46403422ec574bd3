//! The plain data every renderer reads: one collection's verdicts, figures and check timings.
//!
//! Nothing here knows about Prometheus or HTTP. A figure that could not be measured is `None`
//! (rendered as an absent series or JSON `null`), never a made-up zero.

use std::time::{Duration, SystemTime};

use crate::checks::follow::{FollowHost, FollowReport};
use crate::checks::lotus::LotusReport;
use crate::checks::ports::PortsReport;
use crate::contract::CheckResult;

/// Everything one collection found.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When the collection started (wall clock), for `last_check`.
    pub taken_at: SystemTime,
    pub lotus: LotusReport,
    pub follow: Vec<FollowReport>,
    /// Follow figures about the host, not one follower (the binary, discovery).
    pub follow_host: FollowHost,
    pub ports: PortsReport,
    /// Wall time from the scrape's start until the snapshot was assembled.
    pub scrape_duration: Duration,
}

impl Snapshot {
    /// Every check result of every section, in a stable order.
    pub fn checks(&self) -> impl Iterator<Item = &CheckResult> {
        self.lotus
            .checks
            .iter()
            .chain(self.follow.iter().flat_map(|f| f.checks.iter()))
            .chain(self.follow_host.checks.iter())
            .chain(self.ports.checks.iter())
    }
}

/// Format a wall-clock time as RFC 3339 (seconds precision, UTC).
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}
