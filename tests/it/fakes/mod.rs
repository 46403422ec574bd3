//! In-process fakes of the daemons the exporter watches, speaking their real protocols.

pub mod cluster;
pub mod kubo;
pub mod lotus;
pub mod tls_proxy;
