//! `cluster_follow_*` metrics from the follow reports.
//!
//! STUB: to be replaced by the follow check (issue 3).

use super::Families;
use crate::follow::FollowReport;

pub fn render(_reports: &[FollowReport], _out: &mut Families) {}
