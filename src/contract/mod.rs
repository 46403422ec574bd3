//! The contract every check answers in: what one check reports (results, health), and the
//! neutral builders it renders itself into.

pub mod result;

pub use result::*;
