//! Host primitives: the process table, bounded file reads, and permissions.

pub mod files;
pub mod permissions;
pub mod process;
