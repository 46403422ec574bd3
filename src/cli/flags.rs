//! The command line: the clap [`Flags`] shared by `serve`, `check` and `ports`, and the small
//! parsers of their values (durations, wallets, `--follow.max-followers`, `--log.level`).

use std::path::PathBuf;
use std::time::Duration;

use crate::checks::follow::ApiSpec;
use crate::checks::lotus::WalletSpec;

/// Default for `--web.max-connections`: far above what a Prometheus HA pair needs.
pub const DEFAULT_MAX_CONNECTIONS: u16 = 1024;

/// The command-line flags shared by `serve`, `check` and `ports`.
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    /// Address on which to expose metrics and the web interface (repeatable), e.g. `:10234` or `127.0.0.1:10234`.
    #[arg(long = "web.listen-address", default_value = ":10234", global = true)]
    pub listen_address: Vec<String>,

    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", default_value = "/metrics", global = true)]
    pub telemetry_path: String,

    /// Path to a configuration file that can enable TLS or basic authentication (exporter-toolkit format).
    #[arg(long = "web.config.file", global = true)]
    pub web_config_file: Option<PathBuf>,

    /// Serve `/probe?target=<lotus api>&module=<module>` (blackbox_exporter style): anyone who can reach the exporter can make it call any URL, so it is off unless given.
    #[arg(long = "web.enable-probe", global = true)]
    pub web_enable_probe: bool,

    /// YAML file of `/probe` modules (per module: token_file, ca_file, timeout); module `lotus` exists without it and sends no token.
    #[arg(long = "probe.config.file", global = true)]
    pub probe_config_file: Option<PathBuf>,

    /// Most connections served at once; more wait until one closes.
    #[arg(long = "web.max-connections", default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u16).range(1..), global = true)]
    pub web_max_connections: u16,

    /// Upper bound for one collection; Prometheus's scrape timeout (minus 0.5s) lowers it further.
    #[arg(long = "collector.timeout", default_value = "5s", value_parser = parse_duration, global = true)]
    pub collector_timeout: Duration,

    /// Lotus API info, as FULLNODE_API_INFO takes it: `[TOKEN:]MULTIADDR` or an http URL. Default: $FULLNODE_API_INFO, else the `api` file in the Lotus repo, else /ip4/127.0.0.1/tcp/1234/http.
    #[arg(long = "lotus.api", global = true)]
    pub lotus_api: Option<String>,

    /// The Lotus repo, where the `api` file and `config.toml` are read (never the admin `token`).
    #[arg(long = "lotus.path", env = "LOTUS_PATH", global = true)]
    pub lotus_path: Option<PathBuf>,

    /// A PEM file of the CA(s) that signed an https Lotus API's certificate; replaces the system's trusted roots for Lotus.
    #[arg(long = "lotus.ca-file", global = true)]
    pub lotus_ca_file: Option<PathBuf>,

    /// Send the Lotus token even over plain http to a host that is not this one (it travels in clear; a warning is logged).
    #[arg(long = "lotus.allow-token-over-http", global = true)]
    pub lotus_allow_token_over_http: bool,

    /// A file holding a Lotus API token (a read-only one: `lotus auth create-token --perm read`).
    #[arg(long = "lotus.token-file", global = true)]
    pub lotus_token_file: Option<PathBuf>,

    /// A wallet to watch, `ADDRESS[=ALIAS]` (repeatable).
    #[arg(long = "lotus.wallet", value_parser = parse_wallet, global = true)]
    pub lotus_wallet: Vec<WalletSpec>,

    /// At most this many wallet balance series.
    #[arg(long = "lotus.max-wallets", default_value_t = 50, global = true)]
    pub lotus_max_wallets: usize,

    /// The node counts as synced while it is fewer than this many epochs behind the clock (Lotus readyz uses 5).
    #[arg(long = "lotus.sync-lag-threshold", default_value_t = 5, global = true)]
    pub lotus_sync_lag_threshold: u64,

    /// Largest Lotus answer read, in bytes.
    #[arg(long = "lotus.max-body-bytes", default_value_t = 8 << 20, global = true)]
    pub lotus_max_body_bytes: usize,

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

    /// At most this many followers are watched (at least 1: 0 would watch none while saying
    /// nothing is wrong).
    #[arg(long = "follow.max-followers", default_value_t = 64, value_parser = parse_max_followers, global = true)]
    pub follow_max_followers: usize,

    /// ipfs-cluster-service's service.json (default $IPFS_CLUSTER_PATH/service.json or ~/.ipfs-cluster/service.json).
    #[arg(long = "ports.cluster-service-config", global = true)]
    pub ports_cluster_service_config: Option<PathBuf>,

    /// Kubo's config file (default $IPFS_PATH/config or ~/.ipfs/config).
    #[arg(long = "ports.kubo-config", global = true)]
    pub ports_kubo_config: Option<PathBuf>,

    /// Log level: error, warn, info, debug or trace (RUST_LOG, when set, wins).
    #[arg(long = "log.level", default_value = "info", value_parser = LOG_LEVELS, ignore_case = true, global = true)]
    pub log_level: String,
}

/// The values `--log.level` takes (anything else stops the exporter at start, naming the flag,
/// rather than silently turning logging off).
pub const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// Parse flags from an argument list (the first item is the program name); for tests and embedding.
pub fn parse_flags<I, T>(args: I) -> Result<Flags, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::Parser;
    #[derive(Parser)]
    struct FlagsOnly {
        #[command(flatten)]
        flags: Flags,
    }
    FlagsOnly::try_parse_from(args).map(|cli| cli.flags)
}

/// `--follow.max-followers`: a whole number of at least 1.
fn parse_max_followers(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1 (0 would watch no follower)".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration =
        humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 5s, 500ms, 1m)"))?;
    if duration.is_zero() {
        return Err("must be greater than zero".to_string());
    }
    Ok(duration)
}

/// Parse `ADDRESS[=ALIAS]`, checking the address looks like a Filecoin address.
pub fn parse_wallet(text: &str) -> Result<WalletSpec, String> {
    let (address, alias) = match text.split_once('=') {
        Some((address, alias)) => (address.trim(), alias.trim()),
        None => (text.trim(), ""),
    };
    if !is_filecoin_address(address) {
        return Err(format!(
            "{address:?} is not a Filecoin address (expected f0..., f1..., f2..., f3..., f4... or t... on test networks)"
        ));
    }
    Ok(WalletSpec {
        address: address.to_string(),
        alias: alias.to_string(),
    })
}

fn is_filecoin_address(address: &str) -> bool {
    let mut chars = address.chars();
    matches!(chars.next(), Some('f' | 't'))
        && matches!(chars.next(), Some('0'..='4'))
        && address.len() <= 120
        && address.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{test_flags as flags, test_resolve as resolve, Config};

    #[test]
    fn log_level_takes_only_the_five_levels() {
        let parse = |level: &str| parse_flags(["exporter", "--log.level", level]);
        for level in LOG_LEVELS {
            assert!(parse(level).is_ok(), "{level}");
        }
        for bad in ["warning", "verbose", "off", ""] {
            let error = parse(bad).err().unwrap().to_string();
            assert!(error.contains("--log.level"), "{bad}: {error}");
        }
    }

    #[test]
    fn wallets_are_validated_deduplicated_and_capped() {
        assert_eq!(
            parse_wallet("f01234=hot").unwrap(),
            WalletSpec {
                address: "f01234".into(),
                alias: "hot".into()
            }
        );
        assert_eq!(parse_wallet("f3abc").unwrap().alias, "");
        assert!(parse_wallet("0x1234").is_err());
        assert!(parse_wallet("f9abc").is_err());
        let c = resolve(
            &[
                "--lotus.wallet",
                "f01",
                "--lotus.wallet",
                "f01=dup",
                "--lotus.wallet",
                "f02",
                "--lotus.wallet",
                "f03",
                "--lotus.max-wallets",
                "2",
            ],
            &[("HOME", "/nonexistent")],
        );
        let addresses: Vec<_> = c.lotus.wallets.iter().map(|w| w.address.as_str()).collect();
        assert_eq!(addresses, ["f01", "f02"]);
    }

    #[test]
    fn rejects_bad_flags_with_a_reason() {
        let err = parse_flags(["x", "--collector.timeout", "soon"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("collector.timeout"), "{err}");
        let err = parse_flags(["x", "--lotus.wallet", "nope"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not a Filecoin address"), "{err}");
        let env = |_: &str| None;
        let err = Config::resolve(flags(&["--web.telemetry-path", "metrics"]), &env).unwrap_err();
        assert!(err.to_string().contains("must start with '/'"));
    }
}
