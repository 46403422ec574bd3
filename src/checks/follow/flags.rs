//! The follow check's flags (`--follow.*`).

use std::path::PathBuf;
use std::time::Duration;

use super::ApiSpec;
use crate::contract::values::parse_duration;

/// Follow check's flags (flattened into the command line by `checks::Args`).
#[derive(Debug, Clone, clap::Args)]
pub struct FollowArgs {
    /// An ipfs-cluster-follow REST API to watch, `[NAME=]MULTIADDR|URL` (repeatable); added to the discovered ones.
    #[arg(long = "follow.api", value_parser = crate::checks::follow::parse_api_spec, global = true)]
    pub follow_api: Vec<ApiSpec>,

    /// Where ipfs-cluster-follow keeps one folder per cluster (default ~/.ipfs-cluster-follow).
    #[arg(long = "follow.config-dir", global = true)]
    pub follow_config_dir: Option<PathBuf>,

    /// A file holding `user:password` for the follow REST API's basic auth.
    #[arg(long = "follow.basic-auth-file", global = true)]
    pub follow_basic_auth_file: Option<PathBuf>,

    /// How often the expensive full pin listing and trust graph are refreshed.
    #[arg(long = "follow.refresh-interval", default_value = "5m", value_parser = parse_duration, global = true)]
    pub follow_refresh_interval: Duration,

    /// Also find followers among running `ipfs-cluster-follow <name> run` processes (`--follow.process-discovery=false` to look only at the config folder and --follow.api).
    #[arg(long = "follow.process-discovery", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub follow_process_discovery: bool,

    /// Largest follow REST API answer read (`/id`, `/health/graph`), in bytes; the pin stream is counted line by line.
    #[arg(long = "follow.max-body-bytes", default_value_t = 4 << 20, global = true)]
    pub follow_max_body_bytes: usize,

    /// A pin queued or pinning for longer than this is stuck: the follower is degraded (exported as cluster_follow_pin_wait_max_seconds, which ClusterFollowPinsStuck compares with).
    #[arg(long = "follow.max-pin-wait", default_value = "1h", value_parser = parse_duration, global = true)]
    pub follow_max_pin_wait: Duration,

    /// At most this many followers are watched (at least 1: 0 would watch none while saying
    /// nothing is wrong).
    #[arg(long = "follow.max-followers", default_value_t = 64, value_parser = parse_max_followers, global = true)]
    pub follow_max_followers: usize,
}

/// `--follow.max-followers`: a whole number of at least 1.
fn parse_max_followers(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1 (0 would watch no follower)".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// The follow settings from its flags: the config folder defaults to `~/.ipfs-cluster-follow`.
pub fn resolve(args: &FollowArgs, shared: &crate::contract::values::Shared) -> super::FollowConfig {
    super::FollowConfig {
        apis: args.follow_api.clone(),
        config_dir: args
            .follow_config_dir
            .clone()
            .unwrap_or_else(|| shared.home.join(".ipfs-cluster-follow")),
        config_dir_explicit: args.follow_config_dir.is_some(),
        basic_auth_file: args.follow_basic_auth_file.clone(),
        refresh_interval: args.follow_refresh_interval,
        body_cap: args.follow_max_body_bytes,
        max_followers: args.follow_max_followers,
        discover_processes: args.follow_process_discovery,
        max_pin_wait: args.follow_max_pin_wait,
        ..super::FollowConfig::default()
    }
}
