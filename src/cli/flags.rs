//! The command line: the clap [`Flags`] shared by `serve`, `check` and `ports`, and the small
//! parsers of their values (durations, wallets, `--follow.max-followers`, `--log.level`).

use std::path::PathBuf;
use std::time::Duration;

use super::logging::LogFormat;
use crate::contract::values::parse_duration;

/// Default for `--web.max-connections`: far above what a Prometheus HA pair needs.
pub const DEFAULT_MAX_CONNECTIONS: u16 = 1024;

/// Default for `--probe.max-concurrent` (see `server::probe::DEFAULT_MAX_CONCURRENT`).
pub const DEFAULT_PROBE_MAX_CONCURRENT: u16 = 16;

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

    /// YAML file of `/probe` modules (per module: token_file, token_targets, ca_file, timeout); module `lotus` exists without it and sends no token; a token goes only to the configured Lotus and the module's token_targets.
    #[arg(long = "probe.config.file", global = true)]
    pub probe_config_file: Option<PathBuf>,

    /// Most `/probe` requests answered at once; one more is answered 503 at once (each probe holds a few connections and up to its module's memory budget).
    #[arg(long = "probe.max-concurrent", default_value_t = DEFAULT_PROBE_MAX_CONCURRENT, value_parser = clap::value_parser!(u16).range(1..), global = true)]
    pub probe_max_concurrent: u16,

    /// Most connections served at once; more wait until one closes.
    #[arg(long = "web.max-connections", default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u16).range(1..), global = true)]
    pub web_max_connections: u16,

    /// Upper bound for one collection; Prometheus's scrape timeout (minus 0.5s) lowers it further.
    #[arg(long = "collector.timeout", default_value = "5s", value_parser = parse_duration, global = true)]
    pub collector_timeout: Duration,

    #[command(flatten)]
    pub checks: crate::checks::Args,

    /// Log level: error, warn, info, debug or trace [default: info; warn for check and ports, which print only their report] (RUST_LOG, when set, wins).
    #[arg(long = "log.level", value_parser = LOG_LEVELS, ignore_case = true, global = true)]
    pub log_level: Option<String>,

    /// Output format of log lines on stderr: logfmt or json.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt, global = true)]
    pub log_format: LogFormat,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::lotus::{parse_wallet, WalletSpec};
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
        let addresses: Vec<_> = c
            .checks
            .lotus
            .wallets
            .iter()
            .map(|w| w.address.as_str())
            .collect();
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
