//! Flags and environment -> [`Config`]: the exporter's own settings (listen addresses, web
//! config, `/probe`, the collector's timeout) and, through [`crate::checks::Settings`], every
//! check's.
//!
//! Two layers, as ripgrep does it: [`Flags`] is what the command line says (clap; each check's
//! flags are its own `#[command(flatten)]` struct), and [`Config::resolve`] turns it, with the
//! environment, into settings. Resolution reads the environment through a lookup (tests pass a
//! map) and reads a few small files (Lotus's `api` file, token files, a CA file) with deadlines.
//!
//! # Caveats
//! A Lotus API setting that cannot be used (a malformed API-info string, an unreadable token
//! file, an unreadable `--lotus.ca-file`) does not stop the exporter: the Lotus check reports the
//! reason on every scrape and the other checks keep working.

use std::path::PathBuf;
use std::time::Duration;

use crate::checks::{Settings, Shared};

mod flags;
pub mod logging;
pub mod version;

pub use flags::{
    parse_flags, Flags, DEFAULT_MAX_CONNECTIONS, DEFAULT_PROBE_MAX_CONCURRENT, LOG_LEVELS,
};

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
    /// `--probe.max-concurrent`: probes answered at once, more are answered 503.
    pub probe_max_concurrent: usize,
    pub max_connections: usize,
    pub collector_timeout: Duration,
    /// Every check's settings.
    pub checks: Settings,
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
        let shared = Shared {
            home: env("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/")),
            listen_addresses: flags.listen_address.clone(),
        };
        Ok(Config {
            checks: Settings::resolve(&flags.checks, &shared, env),
            listen_addresses: flags.listen_address,
            telemetry_path: flags.telemetry_path,
            web_config_file: flags.web_config_file,
            probe_enabled: flags.web_enable_probe,
            probe_config_file: flags.probe_config_file,
            probe_max_concurrent: usize::from(flags.probe_max_concurrent),
            max_connections: usize::from(flags.web_max_connections),
            collector_timeout: flags.collector_timeout,
        })
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
