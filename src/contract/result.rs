//! The check-result vocabulary every check speaks: a check's status and timing, a daemon's
//! status, a verdict's health, and failures grouped into lines of words.
//!
//! This sits below the checks and the snapshot, so that the checks never import what assembles
//! them.

use std::time::Duration;

/// What became of one check in one collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckStatus {
    /// The check ran and its figures are trustworthy.
    Ok,
    /// The check ran and failed; the reason says what, where and (when known) how to fix it.
    Failed(String),
    /// The check does not apply here (nothing to watch, a method this node does not serve).
    Skipped(String),
    /// The check did not finish before the scrape deadline.
    TimedOut,
}

impl CheckStatus {
    /// True only for [`CheckStatus::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckStatus::Ok)
    }

    /// The failure reason in words, for failed and timed-out checks.
    pub fn failure(&self) -> Option<String> {
        match self {
            CheckStatus::Failed(reason) => Some(reason.clone()),
            CheckStatus::TimedOut => Some("timed out before the scrape deadline".to_string()),
            CheckStatus::Ok | CheckStatus::Skipped(_) => None,
        }
    }
}

/// One check's outcome and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check's name: one of the fixed set documented in docs/metrics.md (`lotus_chain_head`, ...).
    pub check: &'static str,
    /// For per-follower checks, the cluster the follower belongs to.
    pub cluster_name: Option<String>,
    pub status: CheckStatus,
    pub duration: Duration,
}

impl CheckResult {
    /// A result for a host-level check.
    pub fn new(check: &'static str, status: CheckStatus, duration: Duration) -> CheckResult {
        CheckResult {
            check,
            cluster_name: None,
            status,
            duration,
        }
    }

    /// `"<check>: <reason>"` for a failed or timed-out check.
    pub fn error_line(&self) -> Option<String> {
        let reason = self.status.failure()?;
        Some(format!("{}: {reason}", self.name()))
    }

    /// `"<check>"`, or `"<check> (<follower>)"` for a per-follower check.
    fn name(&self) -> String {
        match &self.cluster_name {
            Some(follower) => format!("{} ({follower})", self.check),
            None => self.check.to_string(),
        }
    }
}

/// Overall verdict on a daemon (`lotus_status{state}`, `cluster_follow_status{state}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonStatus {
    /// The API answers.
    Running,
    /// Nothing answers, and the process table was read and holds no daemon process.
    Stopped,
    /// The API fails, refuses or is not what it should be, while a daemon or a listener is there
    /// or none could be ruled out (the API is on another host, or the process table is hidden).
    Error,
}

impl DaemonStatus {
    pub const ALL: [DaemonStatus; 3] = [
        DaemonStatus::Running,
        DaemonStatus::Stopped,
        DaemonStatus::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DaemonStatus::Running => "running",
            DaemonStatus::Stopped => "stopped",
            DaemonStatus::Error => "error",
        }
    }
}

/// Overall health (`lotus_health{state}`, `cluster_follow_health{state}`).
/// Ordered from best to worst, so the worst of several is their `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Healthy,
    Degraded,
    Unhealthy,
}

impl Health {
    pub const ALL: [Health; 3] = [Health::Healthy, Health::Degraded, Health::Unhealthy];

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// Failed and timed-out checks in words, `"check, check (follower): reason"`, one line per
/// distinct reason naming every check it hit.
pub fn grouped_errors<'a>(checks: impl IntoIterator<Item = &'a CheckResult>) -> Vec<String> {
    let mut grouped: Vec<(Vec<String>, String)> = Vec::new();
    for check in checks {
        let Some(reason) = check.status.failure() else {
            continue;
        };
        let name = check.name();
        match grouped.iter_mut().find(|(_, r)| *r == reason) {
            Some((names, _)) => names.push(name),
            None => grouped.push((vec![name], reason)),
        }
    }
    grouped
        .into_iter()
        .map(|(names, reason)| format!("{}: {reason}", names.join(", ")))
        .collect()
}

/// The failure of a check whose previous read has not returned.
pub fn still_running(what: &str) -> CheckStatus {
    CheckStatus::Failed(format!(
        "previous read of {what} still running (a hung file system?); not started again"
    ))
}
