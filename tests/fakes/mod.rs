//! In-process fake backends for the integration tests.
#![allow(dead_code)]

pub mod lotus;
