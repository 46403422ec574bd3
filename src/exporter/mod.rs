//! Assembly: the collector that runs every registered check under one deadline, the
//! single-flight it shares runs through, the snapshot (with the one verdict) it makes, and the
//! log of state changes it keeps.

pub mod collector;
pub mod single_flight;
pub mod snapshot;
pub mod transitions;
