//! The exporter's own metrics: build info, per-check success and duration, scrape duration, process.

use super::Families;
use crate::snapshot::Snapshot;

pub fn render(_snapshot: &Snapshot, _out: &mut Families) {}
