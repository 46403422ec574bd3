//! Renderers: a snapshot (or the runbook's Markdown) in, text out. No I/O happens here.

pub mod html;
pub mod markdown;
pub mod prometheus;
pub mod status;

pub mod text;
