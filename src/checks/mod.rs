//! The checks, one folder each, and the registry that lists them.

pub mod follow;
pub mod lotus;
pub mod ports;
