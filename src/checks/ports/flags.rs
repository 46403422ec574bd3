//! The ports check's flags (`--ports.*`).

use std::path::PathBuf;

/// Ports check's flags (flattened into the command line by `checks::Args`).
#[derive(Debug, Clone, clap::Args)]
pub struct PortsArgs {
    /// ipfs-cluster-service's service.json (default $IPFS_CLUSTER_PATH/service.json or ~/.ipfs-cluster/service.json).
    #[arg(long = "ports.cluster-service-config", global = true)]
    pub ports_cluster_service_config: Option<PathBuf>,

    /// Kubo's config file (default $IPFS_PATH/config or ~/.ipfs/config).
    #[arg(long = "ports.kubo-config", global = true)]
    pub ports_kubo_config: Option<PathBuf>,
}

/// The ports settings from its flags, where the daemons keep their configs, and the Lotus API
/// in use (`lotus_api`: TCP host and port, when on this host).
pub fn resolve(
    args: &PortsArgs,
    shared: &crate::contract::values::Shared,
    lotus_path: &std::path::Path,
    lotus_api: Option<(String, u16)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> super::PortsConfig {
    let cluster_path = env("IPFS_CLUSTER_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| shared.home.join(".ipfs-cluster"));
    let kubo_path = env("IPFS_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| shared.home.join(".ipfs"));
    super::PortsConfig {
        cluster_service_config: args
            .ports_cluster_service_config
            .clone()
            .unwrap_or_else(|| cluster_path.join("service.json")),
        lotus_config: lotus_path.join("config.toml"),
        lotus_api,
        kubo_config: args
            .ports_kubo_config
            .clone()
            .unwrap_or_else(|| kubo_path.join("config")),
        own_listen: shared.listen_addresses.clone(),
    }
}
