//! Assembly: the collector that runs every registered check under one deadline, the
//! single-flight it shares runs through, and the snapshot (with the one verdict) it makes.

pub mod collector;
pub mod single_flight;
pub mod snapshot;
