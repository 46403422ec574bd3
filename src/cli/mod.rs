//! Flags and environment -> [`Config`]: API-info strings, token files, wallets, defaults, validation.
//!
//! Two layers, as ripgrep does it: [`Flags`] is what the command line says (clap), and
//! [`Config::resolve`] turns it, with the environment, into settings the checks use. The
//! resolution is a pure function of the flags and an environment lookup, so it is unit-tested.
//!
//! The command line is in `flags.rs`, Lotus's API-info and address syntax in `api_info.rs`, and
//! the choice of Lotus target and token in `lotus.rs`; this file assembles the [`Config`].
//!
//! # Caveats
//! A Lotus API setting that cannot be used (a malformed API-info string, an unreadable token
//! file, an unreadable `--lotus.ca-file`) does not stop the exporter: the Lotus check reports the reason on every
//! scrape and the other checks keep working.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::checks::follow::FollowConfig;
use crate::checks::lotus::LotusConfig;
use crate::checks::ports::PortsConfig;
use crate::net::http_client::Endpoint;
use lotus::resolve_lotus;

mod api_info;
mod flags;
mod lotus;

pub use api_info::{rpc_target, ApiInfo, ResolvedApi};
pub use flags::{parse_flags, parse_wallet, Flags, DEFAULT_MAX_CONNECTIONS, LOG_LEVELS};
pub(crate) use lotus::clear_token_refusal;
pub use lotus::DEFAULT_LOTUS_API;

/// A flag combination the exporter cannot start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("--web.telemetry-path {0:?} must start with '/'")]
    TelemetryPath(String),
    #[error("--web.listen-address needs at least one address")]
    NoListenAddress,
}

/// Everything the exporter needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen_addresses: Vec<String>,
    pub telemetry_path: String,
    pub web_config_file: Option<PathBuf>,
    /// `/probe` is served (`--web.enable-probe`).
    pub probe_enabled: bool,
    /// `--probe.config.file`, read at start.
    pub probe_config_file: Option<PathBuf>,
    pub max_connections: usize,
    pub collector_timeout: Duration,
    pub lotus: LotusConfig,
    pub follow: FollowConfig,
    pub ports: PortsConfig,
}

impl Config {
    /// Resolve flags with the process environment.
    pub fn from_flags(flags: Flags) -> Result<Config, ConfigError> {
        Config::resolve(flags, &|name| std::env::var(name).ok())
    }

    /// Resolve flags with an environment lookup (tests pass a map).
    pub fn resolve(
        flags: Flags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        if !flags.telemetry_path.starts_with('/') {
            return Err(ConfigError::TelemetryPath(flags.telemetry_path));
        }
        if flags.listen_address.is_empty() {
            return Err(ConfigError::NoListenAddress);
        }
        let home = env("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"));
        let lotus_path = flags
            .lotus_path
            .clone()
            .unwrap_or_else(|| home.join(".lotus"));
        let lotus = resolve_lotus(&flags, &lotus_path, env);
        let follow = FollowConfig {
            apis: flags.follow_api.clone(),
            config_dir: flags
                .follow_config_dir
                .clone()
                .unwrap_or_else(|| home.join(".ipfs-cluster-follow")),
            config_dir_explicit: flags.follow_config_dir.is_some(),
            basic_auth_file: flags.follow_basic_auth_file.clone(),
            refresh_interval: flags.follow_refresh_interval,
            body_cap: flags.follow_max_body_bytes,
            max_followers: flags.follow_max_followers,
            discover_processes: flags.follow_process_discovery,
            ..FollowConfig::default()
        };
        let cluster_path = env("IPFS_CLUSTER_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".ipfs-cluster"));
        let kubo_path = env("IPFS_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".ipfs"));
        let ports = PortsConfig {
            cluster_service_config: flags
                .ports_cluster_service_config
                .clone()
                .unwrap_or_else(|| cluster_path.join("service.json")),
            lotus_config: lotus_path.join("config.toml"),
            lotus_api: lotus_api_multiaddr(&lotus),
            kubo_config: flags
                .ports_kubo_config
                .clone()
                .unwrap_or_else(|| kubo_path.join("config")),
            own_listen: flags.listen_address.clone(),
        };
        Ok(Config {
            listen_addresses: flags.listen_address,
            telemetry_path: flags.telemetry_path,
            web_config_file: flags.web_config_file,
            probe_enabled: flags.web_enable_probe,
            probe_config_file: flags.probe_config_file,
            max_connections: usize::from(flags.web_max_connections),
            collector_timeout: flags.collector_timeout,
            lotus,
            follow,
            ports,
        })
    }
}

/// The Lotus API as a multiaddr, for the port plan (only when it is on this host).
fn lotus_api_multiaddr(lotus: &LotusConfig) -> Option<String> {
    let endpoint = &lotus.target.as_ref().ok()?.endpoint;
    // A Lotus on another host claims none of this host's ports.
    if !endpoint.is_local() {
        return None;
    }
    match endpoint {
        Endpoint::Tcp { host, port } => Some(match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => format!("/ip4/{ip}/tcp/{port}/http"),
            Ok(IpAddr::V6(ip)) => format!("/ip6/{ip}/tcp/{port}/http"),
            Err(_) => format!("/dns/{host}/tcp/{port}/http"),
        }),
        Endpoint::Unix(_) => None,
    }
}

/// Flags from a command line without the program name, for the tests of every part of the
/// configuration.
#[cfg(test)]
pub(crate) fn test_flags(args: &[&str]) -> Flags {
    let mut argv = vec!["exporter"];
    argv.extend_from_slice(args);
    parse_flags(argv).unwrap()
}

/// [`Config::resolve`] of a command line in an environment given as pairs.
#[cfg(test)]
pub(crate) fn test_resolve(args: &[&str], env: &[(&str, &str)]) -> Config {
    let env: std::collections::HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::resolve(test_flags(args), &|name| env.get(name).cloned()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::test_flags as flags;
    use super::*;

    #[test]
    fn only_a_local_lotus_api_is_a_port_claim() {
        let env = |_: &str| None;
        let local = Config::resolve(
            flags(&["--lotus.api", "/ip4/127.0.0.1/tcp/1234/http"]),
            &env,
        )
        .unwrap();
        assert_eq!(
            local.ports.lotus_api.as_deref(),
            Some("/ip4/127.0.0.1/tcp/1234/http")
        );
        let remote =
            Config::resolve(flags(&["--lotus.api", "http://10.20.30.40:9096"]), &env).unwrap();
        assert_eq!(remote.ports.lotus_api, None);
    }
}
