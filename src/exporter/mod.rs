//! Assembly: the collector that runs every check under one deadline, and the snapshot it makes.

pub mod collector;
pub mod snapshot;
