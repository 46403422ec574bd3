//! Snapshot -> the `/status` JSON document (the same verdicts as `/metrics`, for dashboards):
//! the one verdict's `health`, then each section's own keys.

use serde_json::{json, Value};

use crate::contract::StatusDoc;
use crate::exporter::snapshot::Snapshot;

/// Render the `/status` document.
pub fn render(snapshot: &Snapshot) -> Value {
    let mut doc = StatusDoc::default();
    doc.insert("health", json!(snapshot.verdict().health.as_str()));
    for section in &snapshot.sections {
        section.status(&mut doc);
    }
    doc.into_value()
}
