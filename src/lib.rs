//! lotus-follow-exporter: Prometheus metrics about a Filecoin Lotus daemon, ipfs-cluster-follow
//! peers and the host's port plan.

pub mod collector;
pub mod config;
pub mod files;
pub mod follow;
pub mod http_client;
pub mod lotus;
pub mod multiaddr;
pub mod ports;
pub mod process;
pub mod render;
pub mod server;
pub mod snapshot;
pub mod web;
