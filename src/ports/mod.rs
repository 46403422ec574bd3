//! The port plan of the host (who is configured to listen where), who really listens, and conflicts.
//!
//! STUB: to be replaced by the ports check (issue 3).

use std::path::PathBuf;
use std::sync::Arc;

use tokio::time::Instant;

use crate::follow::FollowReport;
use crate::process::ProcessTable;
use crate::snapshot::CheckResult;

/// Settings of the ports check.
#[derive(Debug, Clone, Default)]
pub struct PortsConfig {
    /// ipfs-cluster-service's `service.json` (default `~/.ipfs-cluster/service.json`, or `$IPFS_CLUSTER_PATH`).
    pub cluster_service_config: PathBuf,
    /// Lotus's `config.toml` (`$LOTUS_PATH/config.toml`).
    pub lotus_config: PathBuf,
    /// The Lotus API address in use (a multiaddr), the claim when `config.toml` sets none.
    pub lotus_api: Option<String>,
    /// Kubo's config (`$IPFS_PATH/config`, default `~/.ipfs/config`).
    pub kubo_config: PathBuf,
    /// This exporter's own listen addresses (`--web.listen-address`).
    pub own_listen: Vec<String>,
}

/// What the host's configs and sockets say, before followers' claims are merged in.
#[derive(Debug, Clone, Default)]
pub struct PortsObservation {
    pub checks: Vec<CheckResult>,
}

/// The port plan with conflicts.
#[derive(Debug, Clone, Default)]
pub struct PortsReport {
    pub checks: Vec<CheckResult>,
}

/// The ports check.
#[derive(Debug)]
pub struct PortsCheck {
    #[allow(dead_code)]
    config: PortsConfig,
}

impl PortsCheck {
    pub fn new(config: PortsConfig) -> PortsCheck {
        PortsCheck { config }
    }

    /// Read the configs and the socket tables before `deadline`.
    pub async fn run(&self, _deadline: Instant, _procs: Arc<ProcessTable>) -> PortsObservation {
        PortsObservation::default()
    }
}

/// Merge the host observation with the followers' claims into the final plan (pure, no I/O).
pub fn assemble(observation: PortsObservation, _followers: &[FollowReport]) -> PortsReport {
    PortsReport {
        checks: observation.checks,
    }
}
