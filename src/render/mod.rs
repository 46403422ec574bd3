//! Renderers: a snapshot in, text out. No I/O happens here.

pub mod html;
pub mod prometheus;
pub mod status;

pub mod text;
