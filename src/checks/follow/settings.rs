//! The settings of the follow check (`--follow.*` flags and their defaults).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::ApiSpec;

/// Settings of the follow check, resolved from flags and environment.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// `--follow.api` (repeatable): `[NAME=]<multiaddr | http URL>`, parsed by [`parse_api_spec`](super::parse_api_spec)
    /// (usable as a clap `value_parser`). Merged with discovered followers.
    pub apis: Vec<ApiSpec>,
    /// `--follow.config-dir` (default `~/.ipfs-cluster-follow`): every `<name>/` below holding a
    /// `service.json` or an `api-socket` is a follower, running or not; also the folder assumed
    /// for a follow process whose environment is unreadable.
    pub config_dir: PathBuf,
    /// `config_dir` was named by `--follow.config-dir`: a missing folder fails discovery.
    pub config_dir_explicit: bool,
    /// `--follow.basic-auth-file`: a file holding `user:password` for the REST API (read at every
    /// scrape, so it may be rotated).
    pub basic_auth_file: Option<PathBuf>,
    /// `--follow.refresh-interval` (default 5m): how often the expensive full pin listing and the
    /// trust graph are fetched.
    pub refresh_interval: Duration,
    /// `--follow.max-body-bytes` (default 4 MiB): largest `/id` or `/health/graph` body read. An `/id`
    /// lists every cluster peer with its addresses: ~600 bytes a peer, so ~7000 peers fit.
    pub body_cap: usize,
    /// Largest single line of the `/pins` stream (default 64 KiB, no flag; one pin
    /// with its metadata); the stream itself is counted line by line and never held.
    pub pin_line_cap: usize,
    /// `--follow.max-followers` (default 64): followers checked per scrape; the rest are dropped
    /// (logged once).
    pub max_followers: usize,
    /// Where to look for the `ipfs-cluster-follow` binary (a `PATH`-style list); `None` means the
    /// exporter's own `$PATH`. Mostly for tests.
    pub binary_search_path: Option<OsString>,
    /// `--follow.process-discovery` (default true): find followers among running
    /// `ipfs-cluster-follow <name> run` processes too.
    pub discover_processes: bool,
    /// `--follow.max-pin-wait` (default 1h): a pin queued or pinning for longer than this is
    /// stuck (the follower degraded by `pins_stuck`, `ClusterFollowPinsStuck`); exported as
    /// `cluster_follow_pin_wait_max_seconds`, which the rule compares with.
    pub max_pin_wait: Duration,
}

/// The default of `--follow.max-pin-wait`.
pub const DEFAULT_MAX_PIN_WAIT: Duration = Duration::from_secs(3600);

impl Default for FollowConfig {
    fn default() -> FollowConfig {
        FollowConfig {
            apis: Vec::new(),
            config_dir: default_config_dir(),
            config_dir_explicit: false,
            basic_auth_file: None,
            refresh_interval: Duration::from_secs(5 * 60),
            body_cap: 4 * 1024 * 1024,
            pin_line_cap: 64 * 1024,
            max_followers: 64,
            binary_search_path: None,
            discover_processes: true,
            max_pin_wait: DEFAULT_MAX_PIN_WAIT,
        }
    }
}

/// `$HOME/.ipfs-cluster-follow` (ipfs-cluster-follow's own default folder).
pub fn default_config_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".ipfs-cluster-follow")
}
