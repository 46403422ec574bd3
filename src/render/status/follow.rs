//! The `cluster_follow` section of `/status`.
//!
//! STUB: to be replaced by the follow check (issue 3).

use serde_json::Value;

use crate::follow::FollowReport;

pub fn render(_reports: &[FollowReport]) -> Value {
    Value::Array(Vec::new())
}
