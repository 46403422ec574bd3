//! Snapshot -> the `/status` JSON document (the same verdicts as `/metrics`, for dashboards).

mod follow;
mod ports;

use serde_json::{json, Value};

use crate::snapshot::Snapshot;

/// Render the `/status` document.
pub fn render(snapshot: &Snapshot) -> Value {
    json!({
        "cluster_follow": follow::render(&snapshot.follow),
        "ports": ports::render(&snapshot.ports),
    })
}
