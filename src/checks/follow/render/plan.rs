//! The followers' note under the `ports` command's plan: whose swarm ports may be stale.

use crate::checks::follow::FollowReport;
use crate::contract::CheckResult;

/// Followers whose `/id` failed, so their swarm ports come from an earlier answer or are missing.
pub fn follow_notes(followers: &[FollowReport]) -> String {
    followers
        .iter()
        .flat_map(|f| f.checks.iter())
        .filter(|c| c.check == crate::checks::follow::CHECK_API)
        .filter_map(CheckResult::error_line)
        .map(|line| format!("{line}\n  (its swarm ports are from its last good /id, if any)\n"))
        .collect()
}
