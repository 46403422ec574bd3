//! Flags and environment -> [`Config`]: API-info strings, token files, wallets, defaults, validation.
//!
//! Two layers, as ripgrep does it: [`Flags`] is what the command line says (clap), and
//! [`Config::resolve`] turns it, with the environment, into settings the checks use. The
//! resolution is a pure function of the flags and an environment lookup, so it is unit-tested.
//!
//! # Caveats
//! A Lotus API setting that cannot be used (a malformed API-info string, an unreadable token
//! file, a TLS endpoint) does not stop the exporter: the Lotus check reports the reason on every
//! scrape and the other checks keep working.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::files::read_small_file;
use crate::follow::{ApiSpec, FollowConfig};
use crate::http_client::Endpoint;
use crate::lotus::rpc::RpcTarget;
use crate::lotus::{LotusConfig, WalletSpec};
use crate::multiaddr::{Host, Multiaddr};
use crate::ports::PortsConfig;
use crate::secret::Secret;

/// Lotus's default API address (`node/config/def.go`, `[API] ListenAddress`).
/// Default for `--web.max-connections`: far above what a Prometheus HA pair needs.
pub const DEFAULT_MAX_CONNECTIONS: u16 = 1024;

pub const DEFAULT_LOTUS_API: &str = "/ip4/127.0.0.1/tcp/1234/http";

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
    #[arg(long = "follow.api", value_parser = crate::follow::parse_api_spec, global = true)]
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

/// An API-info string split into its token and address (Lotus `cli/util/apiinfo.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiInfo {
    pub token: Option<Secret>,
    pub address: String,
}

impl ApiInfo {
    /// Split `TOKEN:ADDRESS`; a bare multiaddr (`/...`) or URL (`scheme://`) has no token.
    /// With several comma-separated endpoints (`ParseApiInfoMulti`), the first is used.
    pub fn parse(text: &str) -> ApiInfo {
        let text = text.trim();
        let text = text.split(',').next().unwrap_or_default().trim();
        if text.starts_with('/') {
            return ApiInfo {
                token: None,
                address: text.to_string(),
            };
        }
        match text.split_once(':') {
            Some((_, rest)) if rest.starts_with("//") => ApiInfo {
                token: None,
                address: text.to_string(),
            },
            Some((token, address)) => ApiInfo {
                token: Some(Secret::new(token.to_string())).filter(|t| !t.expose().is_empty()),
                address: address.to_string(),
            },
            None => ApiInfo {
                token: None,
                address: text.to_string(),
            },
        }
    }
}

/// Where to POST JSON-RPC, and a token carried in the address itself (`?token=`, which
/// go-jsonrpc accepts).
#[derive(Debug, Clone)]
pub struct ResolvedApi {
    pub target: RpcTarget,
    pub query_token: Option<Secret>,
    /// The address says https (`https://`, `wss://`, `/https`, `/wss`, `/tls`); the target's TLS
    /// settings are filled in by [`Config::resolve`] (roots, `--lotus.ca-file`).
    pub tls: bool,
}

/// Turn an API address (multiaddr or URL) into where to POST JSON-RPC.
///
/// Errors never repeat the address verbatim when it is not recognisably an address: an API-info
/// string written without its `TOKEN:` separator would otherwise print the token.
pub fn rpc_target(address: &str) -> Result<ResolvedApi, String> {
    let address = address.trim();
    if address.is_empty() {
        return Err(
            "the API address is missing (expected TOKEN:MULTIADDR, a multiaddr or an http URL)"
                .to_string(),
        );
    }
    if address.starts_with('/') {
        let multiaddr = Multiaddr::parse(address).map_err(|e| e.to_string())?;
        let endpoint = Endpoint::socket_of(&multiaddr).map_err(|e| e.to_string())?;
        let tls = multiaddr.wants_tls();
        let display = match &endpoint {
            Endpoint::Unix(path) => format!("unix:{}:/rpc/v1", path.display()),
            tcp if tls => format!("https://{tcp}/rpc/v1"),
            tcp => format!("http://{tcp}/rpc/v1"),
        };
        let target = RpcTarget {
            endpoint,
            path: "/rpc/v1".to_string(),
            display,
            tls: None,
        };
        return Ok(ResolvedApi {
            target,
            query_token: None,
            tls,
        });
    }
    url_target(address)
}

fn url_target(url: &str) -> Result<ResolvedApi, String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        "the API address is neither a multiaddr (/ip4/...) nor a URL (http://...); an API-info string is TOKEN:ADDRESS".to_string()
    })?;
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(format!(
            "the {scheme}:// API address carries credentials (user:password@): they are not sent; give a token with --lotus.token-file"
        ));
    }
    let shown = format!("{scheme}://{authority}{path}");
    let (default_port, tls) = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => (80, false),
        "https" | "wss" => (443, true),
        other => {
            return Err(format!(
                "unsupported scheme {other:?} in {shown} (expected http, https, ws or wss)"
            ))
        }
    };
    let (host, port) = split_host_port(authority, default_port)
        .ok_or_else(|| format!("cannot read host and port in {shown}"))?;
    let path = path.trim_end_matches('/');
    let path = if ["/rpc/v0", "/rpc/v1", "/rpc/v2"]
        .iter()
        .any(|v| path.ends_with(v))
    {
        path.to_string()
    } else {
        format!("{path}/rpc/v1")
    };
    let query_token = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("token="))
        .filter(|t| !t.is_empty())
        .map(|t| Secret::new(t.to_string()));
    let endpoint = Endpoint::Tcp { host, port };
    let shown_scheme = if tls { "https" } else { "http" };
    let target = RpcTarget {
        display: format!("{shown_scheme}://{endpoint}{path}"),
        endpoint,
        path,
        tls: None,
    };
    Ok(ResolvedApi {
        target,
        query_token,
        tls,
    })
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((authority.to_string(), default_port)),
    }
}

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

fn resolve_lotus(
    flags: &Flags,
    lotus_path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> LotusConfig {
    let (api_info, api_source) = lotus_api_info(flags, lotus_path, env);
    let api_info = api_info.and_then(|info| match host_port_taken_for_token(&info) {
        Some(hint) => Err(format!("{api_source}: {hint}")),
        None => Ok(info),
    });
    let resolved = api_info
        .clone()
        .and_then(|info| rpc_target(&info.address).map_err(|e| format!("{api_source}: {e}")));
    let mut token = api_info.ok().and_then(|info| info.token);
    let query_token = resolved.as_ref().is_ok_and(|r| r.query_token.is_some());
    if (token.is_some() || query_token) && api_source == "--lotus.api" {
        log::warn!("the Lotus token is on the command line (--lotus.api, as TOKEN: or ?token=), where every user of this host can read it (ps): use --lotus.token-file or FULLNODE_API_INFO");
    }
    let mut target = resolved.and_then(|resolved| {
        token = token.take().or(resolved.query_token);
        with_tls(
            resolved.target,
            resolved.tls,
            flags.lotus_ca_file.as_deref(),
        )
    });
    if let Some(path) = &flags.lotus_token_file {
        warn_if_shared(path);
        match read_small_file(path) {
            Ok(text) if !text.trim().is_empty() => token = Some(Secret::new(text.trim().to_string())),
            Ok(_) => target = Err(format!("--lotus.token-file {} is empty: put a token there (lotus auth create-token --perm read)", path.display())),
            Err(e) => target = Err(token_file_error(path, &e, env)),
        }
    }
    if let Some(bad) = token.as_ref().and_then(|t| token_problem(t.expose())) {
        target = Err(format!(
            "the Lotus token ({}) {bad}: check the token file or API-info string",
            token_source(flags, &api_source)
        ));
        token = None;
    }
    if let (Some(_), Ok(t)) = (&token, &target) {
        if let Some(refusal) = clear_token_refusal(t, flags.lotus_allow_token_over_http) {
            target = Err(refusal);
        }
    }
    let mut wallets: Vec<WalletSpec> = Vec::new();
    for wallet in &flags.lotus_wallet {
        if !wallets.iter().any(|w| w.address == wallet.address) {
            wallets.push(wallet.clone());
        }
    }
    if wallets.len() > flags.lotus_max_wallets {
        log::warn!(
            "{} wallets given but --lotus.max-wallets is {}: watching the first {}",
            wallets.len(),
            flags.lotus_max_wallets,
            flags.lotus_max_wallets
        );
        wallets.truncate(flags.lotus_max_wallets);
    }
    LotusConfig {
        target,
        token,
        api_source,
        wallets,
        max_wallets: flags.lotus_max_wallets,
        sync_lag_threshold: flags.lotus_sync_lag_threshold,
        max_body_bytes: flags.lotus_max_body_bytes,
    }
}

/// The target with its TLS settings when the address says https; `--lotus.ca-file` on a plain
/// http address is said and ignored.
pub(crate) fn with_tls(
    mut target: RpcTarget,
    tls: bool,
    ca_file: Option<&Path>,
) -> Result<RpcTarget, String> {
    if !tls {
        if let Some(path) = ca_file {
            log::warn!(
                "--lotus.ca-file {} is ignored: the Lotus API {} is plain http",
                path.display(),
                target.display
            );
        }
        return Ok(target);
    }
    target.tls = Some(crate::tls_client::client_config(ca_file)?);
    Ok(target)
}

/// Why the token may not be sent to `target` (plain http to another host), or `None` when it
/// may: over https, to this host, or with `--lotus.allow-token-over-http` (then with a warning).
pub(crate) fn clear_token_refusal(target: &RpcTarget, allowed: bool) -> Option<String> {
    if target.tls.is_some() || target.endpoint.is_local() {
        return None;
    }
    if allowed {
        log::warn!(
            "the Lotus token is sent in clear over plain http to {} (--lotus.allow-token-over-http): anyone on the path can read and reuse it; prefer https",
            target.display
        );
        return None;
    }
    Some(format!(
        "the Lotus token would travel in clear over plain http to {} (another host): use https (with --lotus.ca-file for a private CA), run without a token (read methods need none), or accept it with --lotus.allow-token-over-http",
        target.display
    ))
}

/// Why `--lotus.token-file` could not be read, with the path actually tried and the fix that
/// fits the error (a missing file is not a permission problem).
fn token_file_error(
    path: &Path,
    error: &std::io::Error,
    env: &dyn Fn(&str) -> Option<String>,
) -> String {
    use std::io::ErrorKind;
    let tried = if path.is_absolute() {
        String::new()
    } else {
        let cwd = std::env::current_dir()
            .ok()
            .or_else(|| env("PWD").map(PathBuf::from));
        match cwd {
            Some(cwd) => format!(
                " (relative to the working directory: {})",
                cwd.join(path).display()
            ),
            None => " (relative to the working directory, which cannot be read)".to_string(),
        }
    };
    let shown = path.display();
    match error.kind() {
        ErrorKind::NotFound => format!("--lotus.token-file {shown}{tried} does not exist: check the path (an absolute one is safest under systemd), or create it with lotus auth create-token --perm read"),
        ErrorKind::PermissionDenied => format!("--lotus.token-file {shown}{tried} cannot be read: permission denied (make it readable by the exporter's user, e.g. chown it and chmod 600)"),
        _ => format!("cannot read --lotus.token-file {shown}{tried}: {error}"),
    }
}

/// `HOST:PORT` given where an API-info string or URL belongs (`localhost:1234`): Lotus's own
/// parser would take the host for a token. Returns the hint, naming the host only when it
/// cannot be a token.
fn host_port_taken_for_token(info: &ApiInfo) -> Option<String> {
    let token = info.token.as_ref()?.expose();
    let port = info.address.trim();
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err()
    {
        return None;
    }
    let looks_like_host = token == "localhost"
        || token.parse::<std::net::IpAddr>().is_ok()
        || (token.len() <= 253
            && !token.starts_with("eyJ")
            && token.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            }));
    Some(if looks_like_host {
        format!("{token}:{port} is HOST:PORT, not an API-info string (TOKEN:MULTIADDR): write it as the URL http://{token}:{port}")
    } else {
        format!("the address is only a port ({port}): write HOST:PORT as http://HOST:{port}, or an API-info string as TOKEN:/ip4/127.0.0.1/tcp/{port}/http")
    })
}

/// Why a token cannot be sent in an HTTP header, if it cannot.
fn token_problem(token: &str) -> Option<&'static str> {
    if token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Some("contains whitespace or control characters")
    } else if !token.is_ascii() {
        Some("contains non-ASCII characters")
    } else {
        None
    }
}

/// Where the token came from, in words.
fn token_source(flags: &Flags, api_source: &str) -> String {
    match &flags.lotus_token_file {
        Some(path) => format!("--lotus.token-file {}", path.display()),
        None => api_source.to_string(),
    }
}

/// Warn when a secret file can be read by group or others.
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            log::warn!(
                "--lotus.token-file {} is readable by group or others (mode {mode:o}): chmod 600 it",
                path.display()
            );
        }
    }
}

/// Where the Lotus API info comes from, in Lotus's own order.
fn lotus_api_info(
    flags: &Flags,
    lotus_path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Result<ApiInfo, String>, String) {
    if let Some(text) = &flags.lotus_api {
        return (Ok(ApiInfo::parse(text)), "--lotus.api".to_string());
    }
    if let Some(text) = env("FULLNODE_API_INFO").filter(|t| !t.trim().is_empty()) {
        return (Ok(ApiInfo::parse(&text)), "FULLNODE_API_INFO".to_string());
    }
    let api_file = lotus_path.join("api");
    match read_small_file(&api_file) {
        Ok(text) => {
            let source = api_file.display().to_string();
            if text.trim().is_empty() {
                (
                    Err(format!(
                        "{source} is empty (Lotus writes its API multiaddr there while running)"
                    )),
                    source,
                )
            } else {
                (
                    Ok(ApiInfo {
                        token: None,
                        address: text.trim().to_string(),
                    }),
                    source,
                )
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
            Ok(ApiInfo {
                token: None,
                address: DEFAULT_LOTUS_API.to_string(),
            }),
            "default".to_string(),
        ),
        Err(e) => (
            Err(format!(
                "cannot read {}: {e} (or set --lotus.api)",
                api_file.display()
            )),
            api_file.display().to_string(),
        ),
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
        Endpoint::Tcp { host, port } => {
            let host = match host.parse::<std::net::IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) => Host::Dns(host.clone()),
            };
            Some(match host {
                Host::Ip(std::net::IpAddr::V4(ip)) => format!("/ip4/{ip}/tcp/{port}/http"),
                Host::Ip(std::net::IpAddr::V6(ip)) => format!("/ip6/{ip}/tcp/{port}/http"),
                Host::Dns(name) => format!("/dns/{name}/tcp/{port}/http"),
            })
        }
        Endpoint::Unix(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::collections::HashMap;

    #[derive(Parser)]
    struct TestCli {
        #[command(flatten)]
        flags: Flags,
    }

    fn flags(args: &[&str]) -> Flags {
        let mut argv = vec!["exporter"];
        argv.extend_from_slice(args);
        TestCli::try_parse_from(argv).unwrap().flags
    }

    fn resolve(args: &[&str], env: &[(&str, &str)]) -> Config {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::resolve(flags(args), &|name| env.get(name).cloned()).unwrap()
    }

    #[test]
    fn host_and_port_is_not_taken_for_a_token() {
        for (given, hint) in [
            ("localhost:1234", "http://localhost:1234"),
            ("127.0.0.1:1234", "http://127.0.0.1:1234"),
            ("lotus.internal:1234", "http://lotus.internal:1234"),
        ] {
            let c = resolve(&["--lotus.api", given], &[]);
            let reason = c.lotus.target.unwrap_err();
            assert!(reason.contains(hint), "{given}: {reason}");
            assert!(c.lotus.token.is_none(), "{given}");
        }
        // Something that may be a token is never repeated.
        let c = resolve(
            &[
                "--lotus.api",
                "eyJhbGciOiJIUzI1NiJ9.eyJBbGxvdyI6WyJyZWFkIl19.sig:1234",
            ],
            &[],
        );
        let reason = c.lotus.target.unwrap_err();
        assert!(
            !reason.contains("eyJ") && reason.contains("only a port"),
            "{reason}"
        );
        // A real API-info string is still read as one.
        let c = resolve(&["--lotus.api", "tok:/ip4/127.0.0.1/tcp/1234/http"], &[]);
        assert!(c.lotus.target.is_ok() && c.lotus.token.is_some());
    }

    #[test]
    fn log_level_takes_only_the_five_levels() {
        let parse = |level: &str| TestCli::try_parse_from(["exporter", "--log.level", level]);
        for level in LOG_LEVELS {
            assert!(parse(level).is_ok(), "{level}");
        }
        for bad in ["warning", "verbose", "off", ""] {
            let error = parse(bad).err().unwrap().to_string();
            assert!(error.contains("--log.level"), "{bad}: {error}");
        }
    }

    #[test]
    fn parses_api_info_like_lotus() {
        // The cases of lotus cli/util/apiinfo_test.go.
        let cases = [
            (
                "eyJhbG.eyJBbGxvdy.qpZpDnaPmjz:/ip4/127.0.0.1/tcp/1234/http",
                Some("eyJhbG.eyJBbGxvdy.qpZpDnaPmjz"),
                "/ip4/127.0.0.1/tcp/1234/http",
            ),
            (
                "opaque-api-key:/dns/host/tcp/443/wss",
                Some("opaque-api-key"),
                "/dns/host/tcp/443/wss",
            ),
            (
                "GLIFAPIKEY:https://api.node.glif.io/rpc/v1",
                Some("GLIFAPIKEY"),
                "https://api.node.glif.io/rpc/v1",
            ),
            ("tok:/ip6/::1/tcp/1234", Some("tok"), "/ip6/::1/tcp/1234"),
            ("/ip4/127.0.0.1/tcp/1234", None, "/ip4/127.0.0.1/tcp/1234"),
            ("wss://host", None, "wss://host"),
        ];
        for (text, token, address) in cases {
            let info = ApiInfo::parse(text);
            assert_eq!(info.token.as_ref().map(Secret::expose), token, "{text}");
            assert_eq!(info.address, address, "{text}");
        }
    }

    #[test]
    fn the_token_goes_in_clear_only_to_this_host_or_when_allowed() {
        let token = &[("FULLNODE_API_INFO", "TOKEN:http://10.0.0.5:1234")][..];
        let c = resolve(&[], token);
        let err = c.lotus.target.unwrap_err();
        assert!(
            err.contains("in clear") && err.contains("--lotus.allow-token-over-http"),
            "{err}"
        );
        assert!(!err.contains("TOKEN"), "{err}");
        let c = resolve(&["--lotus.allow-token-over-http"], token);
        assert!(c.lotus.target.is_ok());
        let c = resolve(&[], &[("FULLNODE_API_INFO", "TOKEN:http://127.0.0.1:1234")]);
        assert!(c.lotus.target.is_ok());
        let c = resolve(&[], &[("FULLNODE_API_INFO", "http://10.0.0.5:1234")]);
        assert!(c.lotus.target.is_ok(), "no token, nothing to protect");
        // A CA file, so that the test does not depend on this machine's trusted roots.
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let cert = rcgen::generate_simple_self_signed(vec!["ca".to_string()]).unwrap();
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        let ca = ca.to_str().unwrap();
        for info in [
            "TOKEN:https://10.0.0.5/rpc/v1",
            "TOKEN:wss://10.0.0.5:8443/rpc/v1",
        ] {
            let c = resolve(&["--lotus.ca-file", ca], &[("FULLNODE_API_INFO", info)]);
            let target = c.lotus.target.unwrap();
            assert!(
                target.tls.is_some() && target.display.starts_with("https://"),
                "{info}"
            );
            assert_eq!(c.lotus.token.unwrap().expose(), "TOKEN");
        }
    }

    #[test]
    fn a_ca_file_that_cannot_be_read_fails_the_https_target() {
        let c = resolve(
            &[
                "--lotus.api",
                "https://node:8443",
                "--lotus.ca-file",
                "/nonexistent/ca.pem",
            ],
            &[],
        );
        let err = c.lotus.target.unwrap_err();
        assert!(err.contains("--lotus.ca-file /nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn resolves_rpc_targets() {
        let t = rpc_target("/ip4/127.0.0.1/tcp/1234/http").unwrap().target;
        assert_eq!(
            (t.display.as_str(), t.path.as_str()),
            ("http://127.0.0.1:1234/rpc/v1", "/rpc/v1")
        );
        let t = rpc_target("http://10.0.0.5:1234").unwrap().target;
        assert_eq!(t.display, "http://10.0.0.5:1234/rpc/v1");
        let t = rpc_target("http://node:1234/rpc/v0").unwrap().target;
        assert_eq!(t.path, "/rpc/v0");
        let t = rpc_target("ws://[::1]:1234/rpc/v1/").unwrap().target;
        assert_eq!(
            t.endpoint,
            Endpoint::Tcp {
                host: "::1".into(),
                port: 1234
            }
        );
        let t = rpc_target("http://proxy/lotus").unwrap().target;
        assert_eq!(
            (t.path.as_str(), t.endpoint.to_string().as_str()),
            ("/lotus/rpc/v1", "proxy:80")
        );
        for (given, shown) in [
            (
                "https://api.node.glif.io/rpc/v1",
                "https://api.node.glif.io:443/rpc/v1",
            ),
            ("wss://node:8443/rpc/v1", "https://node:8443/rpc/v1"),
            ("/dns/host/tcp/443/wss", "https://host:443/rpc/v1"),
            ("/dns/host/tcp/443/https", "https://host:443/rpc/v1"),
            (
                "/ip4/10.0.0.1/tcp/1234/tls/http",
                "https://10.0.0.1:1234/rpc/v1",
            ),
        ] {
            let resolved = rpc_target(given).unwrap();
            assert!(resolved.tls, "{given}");
            assert_eq!(resolved.target.display, shown);
        }
        assert!(!rpc_target("ws://node:1234").unwrap().tls);
        for (bad, why) in [
            ("ftp://x", "unsupported scheme"),
            ("nonsense", "neither a multiaddr"),
            ("/ip4/1.2.3.4", "names no port"),
            ("http://host:notaport", "cannot read host"),
        ] {
            let err = rpc_target(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn lotus_address_defaults_in_lotus_order() {
        let repo = tempfile::tempdir().unwrap();
        let repo_path = repo.path().to_str().unwrap();
        let c = resolve(&["--lotus.path", repo_path], &[]);
        assert_eq!(c.lotus.api_source, "default");
        assert_eq!(
            c.lotus.target.unwrap().display,
            "http://127.0.0.1:1234/rpc/v1"
        );

        std::fs::write(repo.path().join("api"), "/ip4/127.0.0.1/tcp/4321/http\n").unwrap();
        std::fs::write(repo.path().join("token"), "ADMIN-TOKEN").unwrap();
        let c = resolve(&["--lotus.path", repo_path], &[]);
        assert!(c.lotus.api_source.ends_with("/api"));
        assert_eq!(
            c.lotus.target.unwrap().display,
            "http://127.0.0.1:4321/rpc/v1"
        );
        assert!(
            c.lotus.token.is_none(),
            "the admin token in the repo must never be picked up"
        );

        let c = resolve(
            &["--lotus.path", repo_path],
            &[("FULLNODE_API_INFO", "RTOKEN:/ip4/10.1.1.1/tcp/1234/http")],
        );
        assert_eq!(c.lotus.api_source, "FULLNODE_API_INFO");
        assert_eq!(c.lotus.token.unwrap().expose(), "RTOKEN");

        let c = resolve(
            &[
                "--lotus.path",
                repo_path,
                "--lotus.api",
                "/ip4/10.2.2.2/tcp/1/http",
            ],
            &[("FULLNODE_API_INFO", "X:/ip4/10.1.1.1/tcp/1234/http")],
        );
        assert_eq!(c.lotus.api_source, "--lotus.api");
        assert!(c.lotus.token.is_none());
    }

    #[test]
    fn token_file_is_read_and_its_failures_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "READTOKEN\n").unwrap();
        let c = resolve(
            &["--lotus.token-file", token.to_str().unwrap()],
            &[("HOME", "/nonexistent")],
        );
        assert_eq!(c.lotus.token.unwrap().expose(), "READTOKEN");

        let missing = dir.path().join("missing");
        let c = resolve(
            &["--lotus.token-file", missing.to_str().unwrap()],
            &[("HOME", "/nonexistent")],
        );
        let err = c.lotus.target.unwrap_err();
        assert!(
            err.contains("--lotus.token-file") && err.contains("missing does not exist"),
            "{err}"
        );
    }

    #[test]
    fn secrets_in_addresses_are_never_echoed() {
        let env = |_: &str| None;
        let resolve_api = |api: &str| {
            Config::resolve(flags(&["--lotus.api", api]), &env)
                .unwrap()
                .lotus
        };
        let with_userinfo = resolve_api("http://user:hunter2@127.0.0.1:1234/rpc/v1");
        let err = with_userinfo.target.unwrap_err();
        assert!(
            err.contains("carries credentials") && !err.contains("hunter2"),
            "{err}"
        );

        let token_only = resolve_api("eyJhbGciOiJIUzI1NiJ9.SECRETPART");
        let err = token_only.target.unwrap_err();
        assert!(
            err.contains("neither a multiaddr") && !err.contains("SECRETPART"),
            "{err}"
        );

        let query = resolve_api("http://127.0.0.1:1234/rpc/v1?token=SECRETQ");
        let target = query.target.unwrap();
        assert_eq!(target.display, "http://127.0.0.1:1234/rpc/v1");
        assert_eq!(target.path, "/rpc/v1");
        assert_eq!(
            query.token.unwrap().expose(),
            "SECRETQ",
            "go-jsonrpc's ?token= becomes the bearer token"
        );

        let empty = resolve_api("TOKEN:");
        assert!(empty.target.unwrap_err().contains("address is missing"));
    }

    #[test]
    fn tokens_that_cannot_be_sent_are_refused_by_source() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "two words").unwrap();
        let c = resolve(
            &["--lotus.token-file", token.to_str().unwrap()],
            &[("HOME", "/nonexistent")],
        );
        let err = c.lotus.target.unwrap_err();
        assert!(
            err.contains("--lotus.token-file")
                && err.contains("whitespace")
                && !err.contains("two words"),
            "{err}"
        );
        assert!(c.lotus.token.is_none());
    }

    #[test]
    fn secrets_do_not_print() {
        let info = ApiInfo::parse("SUPERSECRET:/ip4/127.0.0.1/tcp/1234/http");
        assert!(!format!("{info:?}").contains("SUPERSECRET"));
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

    #[test]
    fn local_endpoints() {
        assert!(Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 1
        }
        .is_local());
        assert!(Endpoint::Tcp {
            host: "localhost".into(),
            port: 1
        }
        .is_local());
        assert!(Endpoint::Tcp {
            host: "::1".into(),
            port: 1
        }
        .is_local());
        assert!(!Endpoint::Tcp {
            host: "10.0.0.1".into(),
            port: 1
        }
        .is_local());
        assert!(Endpoint::Unix("/x".into()).is_local());
    }

    #[test]
    fn rejects_bad_flags_with_a_reason() {
        let err = TestCli::try_parse_from(["x", "--collector.timeout", "soon"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("collector.timeout"), "{err}");
        let err = TestCli::try_parse_from(["x", "--lotus.wallet", "nope"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not a Filecoin address"), "{err}");
        let env = |_: &str| None;
        let err = Config::resolve(flags(&["--web.telemetry-path", "metrics"]), &env).unwrap_err();
        assert!(err.to_string().contains("must start with '/'"));
    }
}
