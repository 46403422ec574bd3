//! The ipfs-cluster-follow check: find the followers on this host, ask each one's REST API
//! (unix socket or TCP) who it is, whom it sees and how its pins fare.
//!
//! STUB: to be replaced by the follow check (issue 3).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::process::ProcessTable;
use crate::snapshot::CheckResult;

/// Settings of the follow check, resolved from flags and environment.
#[derive(Debug, Clone, Default)]
pub struct FollowConfig {
    /// `--follow.api` values as given (`[NAME=]multiaddr-or-url`).
    pub apis: Vec<String>,
    /// `--follow.config-dir` (default `~/.ipfs-cluster-follow`).
    pub config_dir: PathBuf,
    /// `--follow.basic-auth-file`: a file holding `user:password`.
    pub basic_auth_file: Option<PathBuf>,
    /// `--follow.refresh-interval`: how often the expensive full pin listing and trust graph run.
    pub refresh_interval: Duration,
}

/// What one follower looked like in one collection.
#[derive(Debug, Clone)]
pub struct FollowReport {
    pub cluster_name: String,
    pub status: crate::snapshot::DaemonStatus,
    pub health: crate::snapshot::Health,
    pub checks: Vec<CheckResult>,
}

/// The follow check with its caches (slow-interval figures, binary version).
#[derive(Debug)]
pub struct FollowChecks {
    #[allow(dead_code)]
    config: FollowConfig,
}

impl FollowChecks {
    pub fn new(config: FollowConfig) -> FollowChecks {
        FollowChecks { config }
    }

    /// Check every follower, concurrently, before `deadline`.
    pub async fn run(&self, _deadline: Instant, _procs: Arc<ProcessTable>) -> Vec<FollowReport> {
        Vec::new()
    }
}
