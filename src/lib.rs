//! lotus-follow-exporter: Prometheus metrics about a Filecoin Lotus daemon, ipfs-cluster-follow
//! peers and the host's port plan.

pub mod http_client;
pub mod multiaddr;
pub mod process;
