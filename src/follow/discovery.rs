//! Finding the followers on this host: `--follow.api` values, `<name>/` folders under the follow
//! config folder (running or stopped), and running `ipfs-cluster-follow <name> run` processes
//! (whose environment may move their folder or their API), trusting each only as far as its
//! owner allows.
//!
//! Everything here is a pure function of its inputs (config, process table, an environment
//! reader and the file system under the config folder), so tests feed it temp dirs and made-up
//! process tables.

use std::path::{Path, PathBuf};

use crate::http_client::Endpoint;
use crate::multiaddr::Multiaddr;
use crate::process::ProcessTable;

/// Env var ipfs-cluster-follow reads for its config folder (`cmd/ipfs-cluster-follow/main.go`).
pub const CLUSTER_PATH_ENV: &str = "IPFS_CLUSTER_PATH";
/// Env var that moves the follow REST API (`api/rest/config.go`, prefix `cluster_restapi`).
pub const API_ADDRESS_ENV: &str = "CLUSTER_RESTAPI_HTTPLISTENMULTIADDRESS";
/// The socket ipfs-cluster-follow `run` serves its API on, inside `<folder>/<name>/`.
pub const API_SOCKET: &str = "api-socket";
/// The configuration every follower folder holds (`ipfs-cluster-follow <name> init` writes it).
pub const CONFIG_FILE: &str = "service.json";

/// Why a `--follow.api` value (or a follower's API setting) cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FollowError {
    #[error("follow API {spec:?}: {reason}")]
    BadApiSpec { spec: String, reason: String },
}

/// One `--follow.api` value, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSpec {
    /// The `NAME=` prefix, when given.
    pub name: Option<String>,
    pub endpoint: Endpoint,
}

/// Parse `[NAME=]<multiaddr | http://host[:port][/]>`. Multiaddrs may be `/unix/<path>`,
/// `/ip4|ip6|dns.../tcp/<port>[/http]`; TLS, UDP, URL paths and credentials in URLs are refused.
pub fn parse_api_spec(spec: &str) -> Result<ApiSpec, FollowError> {
    let bad = |reason: String| FollowError::BadApiSpec {
        spec: spec.to_string(),
        reason,
    };
    let spec_trimmed = spec.trim();
    let (name, address) = split_name(spec_trimmed);
    if let Some(name) = name {
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(bad(
                "the cluster name before '=' must be non-empty, without spaces".into(),
            ));
        }
    }
    let endpoint = if address.starts_with('/') {
        let addr = Multiaddr::parse(address).map_err(|e| bad(e.to_string()))?;
        Endpoint::from_multiaddr(&addr).map_err(|e| bad(e.to_string()))?
    } else {
        parse_http_url(address).map_err(bad)?
    };
    Ok(ApiSpec {
        name: name.map(str::to_string),
        endpoint,
    })
}

/// `NAME=rest` when the part before the first `=` cannot be part of an address.
fn split_name(spec: &str) -> (Option<&str>, &str) {
    match spec.split_once('=') {
        Some((name, rest)) if !name.contains(['/', ':']) => (Some(name), rest),
        _ => (None, spec),
    }
}

fn parse_http_url(url: &str) -> Result<Endpoint, String> {
    if url.starts_with("https://") {
        return Err("https is not supported; use http:// or a /unix/ socket".into());
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or("expected a multiaddr (/unix/..., /ip4/.../tcp/...) or an http:// URL")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !path.is_empty() {
        return Err(format!(
            "a URL path (/{path}) is not supported; give the API root"
        ));
    }
    if authority.contains('@') {
        return Err(
            "credentials in the URL are not supported; use --follow.basic-auth-file".into(),
        );
    }
    let (host, port) = split_host_port(authority)?;
    if host.is_empty() {
        return Err("the URL names no host".into());
    }
    Ok(Endpoint::Tcp { host, port })
}

fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    let parse_port = |p: &str| p.parse::<u16>().map_err(|_| format!("{p:?} is not a port"));
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed '[' in the URL host")?;
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None if after.is_empty() => 80,
            None => return Err(format!("unexpected {after:?} after the IPv6 host")),
        };
        return Ok((host.to_string(), port));
    }
    match authority.split_once(':') {
        Some((host, port)) => Ok((host.to_string(), parse_port(port)?)),
        None => Ok((authority.to_string(), 80)),
    }
}

/// Where a follower was found (the first source wins when several name the same follower).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// A `--follow.api` value.
    Flag,
    /// A `<name>/` folder under the config folder holding a `service.json` or an `api-socket`.
    ConfigDir,
    /// A running `ipfs-cluster-follow <name> run` process.
    Process,
}

impl Source {
    /// Every source, in the order discovery consults them.
    pub const ALL: [Source; 3] = [Source::Flag, Source::ConfigDir, Source::Process];

    /// The `source` label of `cluster_follow_configured`.
    pub fn label(self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::ConfigDir => "config_dir",
            Source::Process => "process",
        }
    }
}

/// The running `ipfs-cluster-follow <name> run` process a follower was matched with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowProcess {
    pub pid: u32,
    /// The cluster name in its arguments; may differ from the follower's label (a `NAME=` of
    /// `--follow.api`, or an unnamed flag's address).
    pub cluster_name: String,
    /// Its config folder (`-c`, `IPFS_CLUSTER_PATH`, or `.ipfs-cluster-follow` in its home).
    pub folder: PathBuf,
    /// Its user may run this follower (the folder's owner, or a trusted user). `false` for a
    /// process of another user named like a `--follow.api` follower: it may be that follower
    /// (a TCP API has no owner to check) or pose as it, so whether the follower runs is unknown.
    pub verified: bool,
    /// The process's user (uid), when known.
    pub uid: Option<u32>,
}

/// A follower to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follower {
    /// The cluster name (`cluster_name` label). A follower known only from a process of a user
    /// the exporter does not trust is named `<user>/<name>`, which no trusted follower's name
    /// can equal (folder names and `NAME=` hold no `/`).
    pub name: String,
    /// Its API, or why its configured API cannot be used.
    pub api: Result<Endpoint, String>,
    pub source: Source,
    /// The running process serving it, when one was found (kept when a `--follow.api` value
    /// names the same follower under another name).
    pub process: Option<FollowProcess>,
    /// Configured by the operator (`--follow.api` or the config folder): only these are sent
    /// `--follow.basic-auth-file`'s credentials.
    pub trusted: bool,
    /// The owner (uid) of its folder: under the config folder, or the folder of the unix
    /// socket a `--follow.api` value names; `None` when it has none or it cannot be seen.
    pub folder_owner: Option<u32>,
}

impl Follower {
    /// True when `other` is the same follower: the same label, or the same usable endpoint.
    fn same_as(&self, other: &Follower) -> bool {
        self.name == other.name || (self.api.is_ok() && self.api == other.api)
    }

    /// The API as shown to operators (`127.0.0.1:9094`, `unix:/path`, or the bad setting).
    pub fn api_display(&self) -> String {
        match &self.api {
            Ok(endpoint) => endpoint.to_string(),
            Err(reason) => reason.clone(),
        }
    }
}

/// The followers found, after merging and the cap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    pub followers: Vec<Follower>,
    /// How many followers each source found (before merging), for every source.
    pub found_by: Vec<(Source, usize)>,
    /// How many followers were dropped by the cap (process-found ones go first).
    pub dropped: usize,
    /// Problems worth telling the operator (unreadable config folder, ...).
    pub problems: Vec<String>,
    /// Followers left out because another one already has their cluster name (at another API).
    pub shadowed: Vec<String>,
}

impl Discovery {
    /// The followers named by `--follow.api` alone (up to the cap), for a pass that could not
    /// look at the config folder or the processes: nothing is said of the other sources.
    pub fn only_flags(specs: &[ApiSpec], max_followers: usize) -> Discovery {
        Discovery {
            followers: from_flags(specs).take(max_followers).collect(),
            ..Discovery::default()
        }
    }
}

/// Inputs of a discovery pass.
pub struct DiscoveryInput<'a> {
    pub specs: &'a [ApiSpec],
    /// The follow config folder (`~/.ipfs-cluster-follow`).
    pub config_dir: &'a Path,
    /// The config folder was named by `--follow.config-dir`: its absence is a problem (the
    /// default folder missing is not: a host without followers).
    pub config_dir_explicit: bool,
    pub procs: &'a ProcessTable,
    /// Reads a process's environment (`None` when not readable).
    pub environ: &'a dyn Fn(u32) -> Option<Vec<(String, String)>>,
    /// The home directory of a process's owner, the best guess of its folder when its
    /// environment is not readable (another user's process).
    pub owner_home: &'a dyn Fn(u32) -> Option<PathBuf>,
    /// The owner (uid) of a file or folder, `None` when it cannot be looked at.
    pub owner_of: &'a dyn Fn(&Path) -> Option<u32>,
    /// A user's name for a uid (for the `<user>/<name>` of an untrusted process's follower).
    pub user_name: &'a dyn Fn(u32) -> Option<String>,
    /// The exporter's own (effective) uid: its processes are trusted.
    pub own_uid: u32,
    pub max_followers: usize,
}

/// Find followers: flags first, then folders under the config folder (stopped ones too), then
/// running processes. A process may only join a follower its owner owns: the follower of the
/// same name in the config folder when the process's folder is that folder and the process's
/// user owns the follower's folder (then an API its environment moved is used), or a flag's
/// follower when the process's user is trusted (the exporter's, or an owner of the config
/// folder or of one of its followers' folders). Any other process is a follower of its own,
/// named `<user>/<name>` when its user is not trusted, never given credentials. Later sources
/// never push earlier ones out of the cap, nor untrusted users' processes trusted users' ones.
/// Blocking: reads the config folder.
pub fn discover(input: &DiscoveryInput<'_>) -> Discovery {
    let mut found = Discovery::default();
    let flags: Vec<Follower> = from_flags(input.specs)
        .map(|mut follower| {
            // The operator named this socket: the owner of its folder runs the follower.
            if let Ok(Endpoint::Unix(socket)) = &follower.api {
                follower.folder_owner = socket.parent().and_then(|f| (input.owner_of)(f));
            }
            follower
        })
        .collect();
    let folders = from_config_dir(input, &mut found.problems);
    let processes: Vec<(Follower, Option<u32>)> = from_processes(input).collect();
    found.found_by = vec![
        (Source::Flag, flags.len()),
        (Source::ConfigDir, folders.len()),
        (Source::Process, processes.len()),
    ];
    let mut trusted_uids: Vec<u32> = vec![input.own_uid];
    trusted_uids.extend((input.owner_of)(input.config_dir));
    trusted_uids.extend(folders.iter().filter_map(|f| f.folder_owner));
    let mut followers: Vec<Follower> = Vec::new();
    for follower in flags.into_iter().chain(folders) {
        add(&mut followers, follower, &mut found.shadowed);
    }
    // Processes of trusted users first: another user's processes, however many and whatever
    // their pids, never push a trusted user's follower out of the cap.
    let mut processes: Vec<(Follower, Option<u32>, bool)> = processes
        .into_iter()
        .map(|(follower, uid)| {
            let trusted_user = uid.is_some_and(|uid| trusted_uids.contains(&uid));
            (follower, uid, trusted_user)
        })
        .collect();
    processes.sort_by_key(|(_, _, trusted_user)| !trusted_user);
    for (mut follower, uid, trusted_user) in processes {
        let joined = followers.iter_mut().find_map(|kept| {
            process_may_join(kept, &follower, uid, trusted_user, input).map(|v| (kept, v))
        });
        if let Some((kept, verified)) = joined {
            if let Some(process) = follower.process.as_mut() {
                process.verified = verified;
            }
            if verified
                && kept.source == Source::ConfigDir
                && kept.api != follower.api
                && follower.api.is_ok()
            {
                // Its environment moved the API (CLUSTER_RESTAPI_HTTPLISTENMULTIADDRESS).
                kept.api = follower.api;
            }
            // A verified process replaces an unverified one found before.
            if kept
                .process
                .as_ref()
                .is_none_or(|p| !p.verified && verified)
            {
                kept.process = follower.process;
            }
            continue;
        }
        if !trusted_user {
            let user = uid
                .and_then(|uid| (input.user_name)(uid).or_else(|| Some(format!("uid {uid}"))))
                .unwrap_or_else(|| "unknown user".to_string());
            follower.name = format!("{user}/{}", follower.name);
        }
        add(&mut followers, follower, &mut found.shadowed);
    }
    if followers.len() > input.max_followers {
        found.dropped = followers.len() - input.max_followers;
        followers.truncate(input.max_followers);
    }
    found.followers = followers;
    found
}

/// Add `follower` unless one already found is the same; say so when that one is elsewhere.
fn add(followers: &mut Vec<Follower>, follower: Follower, shadowed: &mut Vec<String>) {
    match followers.iter().find(|kept| kept.same_as(&follower)) {
        Some(kept) => {
            if kept.api.is_ok() && follower.api.is_ok() && kept.api != follower.api {
                shadowed.push(format!(
                    "two followers are named {:?}: {} and {}; only the first is watched (name them apart with --follow.api NAME=ADDRESS)",
                    kept.name,
                    kept.api_display(),
                    follower.api_display()
                ));
            }
        }
        None => followers.push(follower),
    }
}

/// Whether the running follower `process` (of user `uid`) is the follower `kept` found before:
/// `Some(true)` when its user may run it, `Some(false)` when it is named like a `--follow.api`
/// follower but its user cannot be verified (it joins that follower, which then reads "running
/// unknown", rather than showing as a second, unreachable one), `None` when it is another.
fn process_may_join(
    kept: &Follower,
    process: &Follower,
    uid: Option<u32>,
    trusted_user: bool,
    input: &DiscoveryInput<'_>,
) -> Option<bool> {
    let found = process.process.as_ref()?;
    match kept.source {
        Source::ConfigDir => (kept.name == found.cluster_name
            && same_folder(&found.folder, input.config_dir)
            && uid.is_some()
            && uid == kept.folder_owner)
            .then_some(true),
        Source::Flag if kept.same_as(process) => {
            Some(trusted_user || (uid.is_some() && uid == kept.folder_owner))
        }
        Source::Flag | Source::Process => None,
    }
}

fn same_folder(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

fn from_flags(specs: &[ApiSpec]) -> impl Iterator<Item = Follower> + '_ {
    specs.iter().map(|spec| Follower {
        name: spec
            .name
            .clone()
            .unwrap_or_else(|| default_name(&spec.endpoint)),
        api: Ok(spec.endpoint.clone()),
        source: Source::Flag,
        process: None,
        trusted: true,
        folder_owner: None,
    })
}

/// The name for an unnamed `--follow.api`: the folder of an `<name>/api-socket`, else the address.
pub fn default_name(endpoint: &Endpoint) -> String {
    if let Endpoint::Unix(path) = endpoint {
        let folder = path
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str());
        if let (Some(folder), Some(API_SOCKET)) =
            (folder, path.file_name().and_then(|n| n.to_str()))
        {
            return folder.to_string();
        }
    }
    endpoint.to_string()
}

/// Every `ipfs-cluster-follow <name> run` process as a follower, with the process's owner.
fn from_processes<'a>(
    input: &'a DiscoveryInput<'a>,
) -> impl Iterator<Item = (Follower, Option<u32>)> + 'a {
    input.procs.follow_peers().map(move |(process, name)| {
        let (env, default_dir) = match (input.environ)(process.pid) {
            Some(env) => (env, input.config_dir.to_path_buf()),
            // Another user's process: its folder is most likely under its owner's home.
            None => {
                let guess = (input.owner_home)(process.pid)
                    .map(|home| home.join(".ipfs-cluster-follow"))
                    .unwrap_or_else(|| input.config_dir.to_path_buf());
                (Vec::new(), guess)
            }
        };
        let api = process_api(&process.argv, &env, &name, &default_dir);
        let folder = process_folder(&process.argv, &env, &default_dir);
        let follower = Follower {
            name: name.clone(),
            api,
            source: Source::Process,
            process: Some(FollowProcess {
                pid: process.pid,
                cluster_name: name,
                folder,
                verified: true,
                uid: process.uid,
            }),
            trusted: false,
            folder_owner: None,
        };
        (follower, process.uid)
    })
}

/// The API of a running follower: its `CLUSTER_RESTAPI_HTTPLISTENMULTIADDRESS` (first usable
/// address of the comma list), else `<folder>/<name>/api-socket` where the folder is `-c/--config`,
/// else `IPFS_CLUSTER_PATH`, else `$HOME/.ipfs-cluster-follow` of its environment, else ours.
pub fn process_api(
    argv: &[String],
    env: &[(String, String)],
    name: &str,
    default_dir: &Path,
) -> Result<Endpoint, String> {
    let var = |key: &str| {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    };
    if let Some(addresses) = var(API_ADDRESS_ENV) {
        return first_endpoint(addresses)
            .map_err(|reason| format!("{API_ADDRESS_ENV}={addresses} ({reason})"));
    }
    let folder = process_folder(argv, env, default_dir);
    Ok(Endpoint::Unix(folder.join(name).join(API_SOCKET)))
}

/// The config folder of a running follower: `-c/--config`, else `IPFS_CLUSTER_PATH`, else
/// `$HOME/.ipfs-cluster-follow` of its environment, else `default_dir`.
pub fn process_folder(argv: &[String], env: &[(String, String)], default_dir: &Path) -> PathBuf {
    let var = |key: &str| {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    };
    config_flag(argv)
        .map(PathBuf::from)
        .or_else(|| var(CLUSTER_PATH_ENV).map(PathBuf::from))
        .or_else(|| var("HOME").map(|home| Path::new(home).join(".ipfs-cluster-follow")))
        .unwrap_or_else(|| default_dir.to_path_buf())
}

fn first_endpoint(addresses: &str) -> Result<Endpoint, String> {
    let mut last_error = String::from("empty");
    for text in addresses
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        match Multiaddr::parse(text)
            .map_err(|e| e.to_string())
            .and_then(|addr| Endpoint::from_multiaddr(&addr).map_err(|e| e.to_string()))
        {
            Ok(endpoint) => return Ok(endpoint),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// The value of ipfs-cluster-follow's global `-c`/`--config` flag.
fn config_flag(argv: &[String]) -> Option<&str> {
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        for flag in ["-c", "--config", "-config"] {
            if arg == flag {
                return args.next().map(String::as_str);
            }
            if let Some(value) = arg.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                return Some(value);
            }
        }
    }
    None
}

/// Every `<name>/` folder under the config folder that holds a `service.json` or an
/// `api-socket`: configured followers, running or not. A folder the exporter may not look into
/// is a follower too, whose API setting says why and how to fix it.
fn from_config_dir(input: &DiscoveryInput<'_>, problems: &mut Vec<String>) -> Vec<Follower> {
    let dir = input.config_dir;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !input.config_dir_explicit => {
            return Vec::new();
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            problems.push(format!(
                "--follow.config-dir {} does not exist: name the folder that holds one folder per followed cluster (ipfs-cluster-follow's -c or IPFS_CLUSTER_PATH)",
                dir.display()
            ));
            return Vec::new();
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            problems.push(format!(
                "cannot list the follow config folder {}: {e}{}",
                dir.display(),
                crate::permissions::folder_hint(dir, "the followers' folders")
            ));
            return Vec::new();
        }
        Err(e) => {
            problems.push(format!(
                "cannot list the follow config folder {}: {e}",
                dir.display()
            ));
            return Vec::new();
        }
    };
    let mut found: Vec<Follower> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            let folder = entry.path();
            // Follows a symlinked folder; files and sockets directly here are not followers.
            if !std::fs::metadata(&folder).ok()?.is_dir() {
                return None;
            }
            let socket = folder.join(API_SOCKET);
            let looked: Vec<std::io::Result<std::fs::Metadata>> = [CONFIG_FILE, API_SOCKET]
                .iter()
                .map(|file| std::fs::symlink_metadata(folder.join(file)))
                .collect();
            let api = if looked.iter().any(Result::is_ok) {
                Ok(Endpoint::Unix(socket))
            } else if let Some(Err(e)) = looked
                .iter()
                .find(|r| matches!(r, Err(e) if e.kind() != std::io::ErrorKind::NotFound))
            {
                let hint = match e.kind() {
                    std::io::ErrorKind::PermissionDenied => {
                        crate::permissions::folder_hint(&folder, "its service.json and api-socket")
                    }
                    _ => String::new(),
                };
                Err(format!(
                    "cannot look into the follower's folder {}: {e}{hint}",
                    folder.display()
                ))
            } else {
                return None;
            };
            Some(Follower {
                name,
                api,
                source: Source::ConfigDir,
                process: None,
                trusted: true,
                folder_owner: (input.owner_of)(&folder),
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ProcessInfo;

    /// The uid the tests' processes and folders belong to (the exporter's own).
    const OWN_UID: u32 = 1000;

    fn tcp(host: &str, port: u16) -> Endpoint {
        Endpoint::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn api_specs_in_every_form() {
        let cases: Vec<(&str, Option<&str>, Endpoint)> = vec![
            ("/ip4/127.0.0.1/tcp/19094", None, tcp("127.0.0.1", 19094)),
            (
                "mycluster=/ip4/127.0.0.1/tcp/19094",
                Some("mycluster"),
                tcp("127.0.0.1", 19094),
            ),
            ("/ip4/127.0.0.1/tcp/9094/http", None, tcp("127.0.0.1", 9094)),
            ("/dns/localhost/tcp/9094", None, tcp("localhost", 9094)),
            (
                "c=/unix//home/u/.ipfs-cluster-follow/c/api-socket",
                Some("c"),
                Endpoint::Unix("/home/u/.ipfs-cluster-follow/c/api-socket".into()),
            ),
            ("http://127.0.0.1:9094", None, tcp("127.0.0.1", 9094)),
            (
                "x=http://localhost:9094/",
                Some("x"),
                tcp("localhost", 9094),
            ),
            ("http://[::1]:9094", None, tcp("::1", 9094)),
            ("http://host", None, tcp("host", 80)),
        ];
        for (input, name, endpoint) in cases {
            let spec = parse_api_spec(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(spec.name.as_deref(), name, "{input}");
            assert_eq!(spec.endpoint, endpoint, "{input}");
        }
    }

    #[test]
    fn bad_api_specs_say_why() {
        let cases = [
            ("https://h:9094", "https is not supported"),
            ("/dns/h/tcp/443/https", "TLS"),
            ("/ip4/1.2.3.4/udp/9094", "not a TCP address"),
            ("http://h:9094/api", "URL path"),
            ("http://u:p@h:9094", "basic-auth-file"),
            ("http://h:99999", "not a port"),
            ("localhost:9094", "expected a multiaddr"),
            ("=/ip4/1.2.3.4/tcp/1", "cluster name"),
            ("a b=/ip4/1.2.3.4/tcp/1", "cluster name"),
            ("/ip4/1.2.3.4", "names no port"),
        ];
        for (input, expected) in cases {
            let err = parse_api_spec(input).unwrap_err().to_string();
            assert!(err.contains(expected), "{input}: {err}");
            assert!(err.contains(input), "{input}: {err}");
        }
    }

    #[test]
    fn unnamed_specs_take_the_socket_folder_or_the_address() {
        let socket = Endpoint::Unix("/x/.ipfs-cluster-follow/mine/api-socket".into());
        assert_eq!(default_name(&socket), "mine");
        assert_eq!(
            default_name(&Endpoint::Unix("/tmp/s".into())),
            "unix:/tmp/s"
        );
        assert_eq!(default_name(&tcp("127.0.0.1", 1)), "127.0.0.1:1");
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn argv(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn process_environment_moves_the_api() {
        let default = Path::new("/me/.ipfs-cluster-follow");
        let run = argv("ipfs-cluster-follow c run");
        assert_eq!(
            process_api(&run, &[], "c", default),
            Ok(Endpoint::Unix(
                "/me/.ipfs-cluster-follow/c/api-socket".into()
            ))
        );
        assert_eq!(
            process_api(&run, &env(&[("HOME", "/home/f")]), "c", default),
            Ok(Endpoint::Unix(
                "/home/f/.ipfs-cluster-follow/c/api-socket".into()
            ))
        );
        assert_eq!(
            process_api(
                &run,
                &env(&[("HOME", "/h"), (CLUSTER_PATH_ENV, "/srv/follow")]),
                "c",
                default
            ),
            Ok(Endpoint::Unix("/srv/follow/c/api-socket".into()))
        );
        assert_eq!(
            process_api(
                &argv("ipfs-cluster-follow -c /etc/f c run"),
                &env(&[(CLUSTER_PATH_ENV, "/srv")]),
                "c",
                default
            ),
            Ok(Endpoint::Unix("/etc/f/c/api-socket".into()))
        );
        assert_eq!(
            process_api(
                &run,
                &env(&[(API_ADDRESS_ENV, "/ip4/127.0.0.1/tcp/9097")]),
                "c",
                default
            ),
            Ok(tcp("127.0.0.1", 9097))
        );
        assert_eq!(
            process_api(
                &run,
                &env(&[(
                    API_ADDRESS_ENV,
                    "/ip4/1.1.1.1/udp/1, /ip4/127.0.0.1/tcp/9099"
                )]),
                "c",
                default
            ),
            Ok(tcp("127.0.0.1", 9099))
        );
        let err =
            process_api(&run, &env(&[(API_ADDRESS_ENV, "nonsense")]), "c", default).unwrap_err();
        assert!(err.contains(API_ADDRESS_ENV), "{err}");
    }

    fn follow_process(pid: u32, line: &str) -> ProcessInfo {
        ProcessInfo {
            pid,
            argv: argv(line),
            comm: "ipfs-cluster-fo".into(),
            uid: Some(OWN_UID),
        }
    }

    #[test]
    fn merges_flags_processes_and_sockets_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["alpha", "beta", "gamma"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("alpha/api-socket"), "").unwrap();
        std::fs::write(dir.path().join("beta/api-socket"), "").unwrap();
        // gamma has no socket and no process: not a follower.
        let procs = ProcessTable {
            processes: vec![
                follow_process(10, "ipfs-cluster-follow beta run"),
                follow_process(11, "ipfs-cluster-follow delta run"),
                follow_process(12, "ipfs-cluster-follow alpha list"),
            ],
            ..ProcessTable::default()
        };
        let specs = vec![parse_api_spec("alpha=/ip4/127.0.0.1/tcp/19094").unwrap()];
        let environ =
            |pid: u32| (pid == 11).then(|| env(&[(API_ADDRESS_ENV, "/ip4/127.0.0.1/tcp/19095")]));
        let found = discover(&DiscoveryInput {
            specs: &specs,
            config_dir: dir.path(),
            procs: &procs,
            environ: &environ,
            owner_home: &|_| None,
            max_followers: 64,
            config_dir_explicit: false,
            owner_of: &|_| Some(OWN_UID),
            user_name: &|uid| Some(format!("user{uid}")),
            own_uid: OWN_UID,
        });
        let summary: Vec<(&str, Source, String)> = found
            .followers
            .iter()
            .map(|f| (f.name.as_str(), f.source, f.api_display()))
            .collect();
        let beta_socket = format!("unix:{}", dir.path().join("beta/api-socket").display());
        assert_eq!(
            summary,
            vec![
                ("alpha", Source::Flag, "127.0.0.1:19094".to_string()),
                ("beta", Source::ConfigDir, beta_socket),
                ("delta", Source::Process, "127.0.0.1:19095".to_string()),
            ]
        );
        // beta's process (folder: the config folder, same owner) joined its folder's follower.
        assert_eq!(found.followers[1].process.as_ref().map(|p| p.pid), Some(10));
        assert_eq!(found.dropped, 0);
        assert_eq!(
            found.found_by,
            vec![
                (Source::Flag, 1),
                (Source::ConfigDir, 2),
                (Source::Process, 2)
            ]
        );
    }

    #[test]
    fn a_flag_naming_a_running_follower_differently_keeps_its_process() {
        // The process serves its API where its environment says; the flag names that endpoint
        // under another label (NAME=, or unnamed: the address).
        let dir = tempfile::tempdir().unwrap();
        let procs = ProcessTable {
            processes: vec![follow_process(42, "ipfs-cluster-follow c run")],
            ..ProcessTable::default()
        };
        let environ = |pid: u32| {
            (pid == 42).then(|| {
                env(&[
                    (API_ADDRESS_ENV, "/ip4/127.0.0.1/tcp/19094"),
                    (CLUSTER_PATH_ENV, "/srv/follow"),
                ])
            })
        };
        for flag in [
            "mycluster=/ip4/127.0.0.1/tcp/19094",
            "/ip4/127.0.0.1/tcp/19094",
        ] {
            let specs = vec![parse_api_spec(flag).unwrap()];
            let found = discover(&DiscoveryInput {
                specs: &specs,
                config_dir: dir.path(),
                procs: &procs,
                environ: &environ,
                owner_home: &|_| None,
                max_followers: 64,
                config_dir_explicit: false,
                owner_of: &|_| Some(OWN_UID),
                user_name: &|uid| Some(format!("user{uid}")),
                own_uid: OWN_UID,
            });
            assert_eq!(found.followers.len(), 1, "{flag}: {found:?}");
            let follower = &found.followers[0];
            assert_eq!(follower.source, Source::Flag, "{flag}");
            assert_ne!(follower.name, "c", "{flag}: the flag's label wins");
            assert_eq!(
                follower.process,
                Some(FollowProcess {
                    pid: 42,
                    cluster_name: "c".into(),
                    folder: "/srv/follow".into(),
                    verified: true,
                    uid: Some(OWN_UID),
                }),
                "{flag}"
            );
        }
    }

    #[test]
    fn the_cap_bites_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let procs = ProcessTable {
            processes: (0..5)
                .map(|i| follow_process(i, &format!("ipfs-cluster-follow c{i} run")))
                .collect(),
            ..ProcessTable::default()
        };
        let found = discover(&DiscoveryInput {
            specs: &[],
            config_dir: dir.path(),
            procs: &procs,
            environ: &|_| None,
            owner_home: &|_| None,
            max_followers: 3,
            config_dir_explicit: false,
            owner_of: &|_| Some(OWN_UID),
            user_name: &|uid| Some(format!("user{uid}")),
            own_uid: OWN_UID,
        });
        assert_eq!(found.followers.len(), 3);
        assert_eq!(found.dropped, 2);
    }

    #[test]
    fn another_users_follower_is_looked_for_under_its_owners_home() {
        let procs = ProcessTable {
            processes: vec![follow_process(77, "ipfs-cluster-follow shared run")],
            ..ProcessTable::default()
        };
        let found = discover(&DiscoveryInput {
            specs: &[],
            config_dir: Path::new("/root/.ipfs-cluster-follow"),
            procs: &procs,
            environ: &|_| None,
            owner_home: &|pid| (pid == 77).then(|| PathBuf::from("/home/ipfs")),
            max_followers: 3,
            config_dir_explicit: false,
            owner_of: &|_| Some(OWN_UID),
            user_name: &|uid| Some(format!("user{uid}")),
            own_uid: OWN_UID,
        });
        assert_eq!(
            found.followers[0].api,
            Ok(Endpoint::Unix(
                "/home/ipfs/.ipfs-cluster-follow/shared/api-socket".into()
            ))
        );
    }

    #[test]
    fn two_followers_with_one_name_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("dup")).unwrap();
        std::os::unix::net::UnixListener::bind(dir.path().join("dup/api-socket")).unwrap();
        let procs = ProcessTable {
            processes: vec![follow_process(9, "ipfs-cluster-follow dup run")],
            ..ProcessTable::default()
        };
        let environ = |_| {
            Some(vec![(
                "IPFS_CLUSTER_PATH".to_string(),
                "/elsewhere".to_string(),
            )])
        };
        let found = discover(&DiscoveryInput {
            specs: &[],
            config_dir: dir.path(),
            procs: &procs,
            environ: &environ,
            owner_home: &|_| None,
            max_followers: 3,
            config_dir_explicit: false,
            owner_of: &|_| Some(OWN_UID),
            user_name: &|uid| Some(format!("user{uid}")),
            own_uid: OWN_UID,
        });
        assert_eq!(found.followers.len(), 1);
        assert_eq!(found.shadowed.len(), 1, "{found:?}");
        assert!(
            found.shadowed[0].contains("/elsewhere/dup/api-socket"),
            "{:?}",
            found.shadowed
        );
    }

    #[test]
    fn a_missing_config_folder_is_no_problem() {
        let found = discover(&DiscoveryInput {
            specs: &[],
            config_dir: Path::new("/nonexistent/.ipfs-cluster-follow"),
            procs: &ProcessTable::default(),
            environ: &|_| None,
            owner_home: &|_| None,
            max_followers: 3,
            config_dir_explicit: false,
            owner_of: &|_| Some(OWN_UID),
            user_name: &|uid| Some(format!("user{uid}")),
            own_uid: OWN_UID,
        });
        assert!(found.followers.is_empty());
        assert!(found.problems.is_empty());
    }

    /// Discovery over `dir` as the config folder, with `procs` and their environments.
    fn discover_in(
        dir: &Path,
        procs: Vec<ProcessInfo>,
        environ: &dyn Fn(u32) -> Option<Vec<(String, String)>>,
        max_followers: usize,
    ) -> Discovery {
        discover(&DiscoveryInput {
            specs: &[],
            config_dir: dir,
            config_dir_explicit: true,
            procs: &ProcessTable {
                processes: procs,
                ..ProcessTable::default()
            },
            environ,
            owner_home: &|_| None,
            owner_of: &|_| Some(OWN_UID),
            user_name: &|uid| Some(format!("user{uid}")),
            own_uid: OWN_UID,
            max_followers,
        })
    }

    /// A follower folder `<dir>/<name>/` holding only its `service.json`: configured, stopped.
    fn stopped_follower(dir: &Path, name: &str) {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        std::fs::write(dir.join(name).join(CONFIG_FILE), "{}").unwrap();
    }

    #[test]
    fn a_folder_with_a_service_json_is_a_follower_even_when_stopped() {
        let dir = tempfile::tempdir().unwrap();
        stopped_follower(dir.path(), "websites");
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        std::fs::write(dir.path().join("stray-file"), "").unwrap();
        let found = discover_in(dir.path(), Vec::new(), &|_| None, 64);
        let names: Vec<&str> = found.followers.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["websites"]);
        let follower = &found.followers[0];
        assert_eq!(follower.source, Source::ConfigDir);
        assert!(follower.trusted);
        assert_eq!(
            follower.api,
            Ok(Endpoint::Unix(dir.path().join("websites").join(API_SOCKET)))
        );
        assert!(found.problems.is_empty(), "{:?}", found.problems);
    }

    #[test]
    fn a_config_folder_named_explicitly_and_missing_is_a_problem() {
        let found = discover_in(Path::new("/nonexistent/follow"), Vec::new(), &|_| None, 64);
        assert_eq!(found.problems.len(), 1, "{found:?}");
        assert!(found.problems[0].contains("/nonexistent/follow does not exist"));
        assert!(found.problems[0].contains("--follow.config-dir"));
    }

    fn process_of(uid: u32, pid: u32, line: &str) -> ProcessInfo {
        ProcessInfo {
            uid: Some(uid),
            ..follow_process(pid, line)
        }
    }

    #[test]
    fn another_users_process_cannot_rename_replace_or_shadow_a_follower() {
        let dir = tempfile::tempdir().unwrap();
        stopped_follower(dir.path(), "mycluster");
        let config_dir = dir.path().display().to_string();
        let procs = vec![
            // Its own folder, its own socket.
            process_of(
                2000,
                50,
                "ipfs-cluster-follow -c /home/evil/x mycluster run",
            ),
            // Pointing at the real folder, its API moved to a port of its own.
            process_of(
                2000,
                51,
                &format!("ipfs-cluster-follow -c {config_dir} mycluster run"),
            ),
        ];
        let environ =
            |pid: u32| (pid == 51).then(|| env(&[(API_ADDRESS_ENV, "/ip4/127.0.0.1/tcp/6666")]));
        let found = discover_in(dir.path(), procs, &environ, 64);
        let real = &found.followers[0];
        assert_eq!(real.name, "mycluster");
        assert_eq!(
            real.api,
            Ok(Endpoint::Unix(
                dir.path().join("mycluster").join(API_SOCKET)
            ))
        );
        assert_eq!(real.process, None, "another user's process joined it");
        let others: Vec<(&str, bool)> = found.followers[1..]
            .iter()
            .map(|f| (f.name.as_str(), f.trusted))
            .collect();
        // Shown apart, under a name no trusted follower can have, and never trusted.
        assert_eq!(others, vec![("user2000/mycluster", false)]);
        assert_eq!(found.shadowed.len(), 1, "{found:?}");
    }

    #[test]
    fn processes_never_push_configured_followers_out_of_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        stopped_follower(dir.path(), "zz-real");
        let procs = (0..70)
            .map(|i| {
                process_of(
                    2000,
                    100 + i,
                    &format!("ipfs-cluster-follow -c /x c{i} run"),
                )
            })
            .collect();
        let found = discover_in(dir.path(), procs, &|_| None, 64);
        assert_eq!(found.followers.len(), 64);
        assert_eq!(found.followers[0].name, "zz-real");
        assert_eq!(found.dropped, 7);
    }

    #[test]
    fn other_users_processes_never_push_a_trusted_users_process_out_of_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        // The other user's processes started first (lower pids) than the exporter's own
        // follower, restarted in another folder and found only by its process.
        let mut procs: Vec<ProcessInfo> = (0..70)
            .map(|i| {
                process_of(
                    2000,
                    100 + i,
                    &format!("ipfs-cluster-follow -c /x c{i} run"),
                )
            })
            .collect();
        procs.push(process_of(
            OWN_UID,
            9000,
            "ipfs-cluster-follow -c /own mine run",
        ));
        let found = discover_in(dir.path(), procs, &|_| None, 64);
        assert_eq!(found.followers.len(), 64);
        assert_eq!(found.followers[0].name, "mine", "{:?}", found.followers[0]);
        assert_eq!(found.dropped, 7);
    }

    #[test]
    fn the_owner_of_a_flagged_sockets_folder_runs_that_follower() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("c");
        let socket = format!("c=/unix{}", folder.join(API_SOCKET).display());
        let specs = vec![parse_api_spec(&socket).unwrap()];
        let home = dir.path().display().to_string();
        let procs = ProcessTable {
            processes: vec![
                // Another user (the follower's, say `ipfs`) runs it in the folder named.
                process_of(2000, 7, &format!("ipfs-cluster-follow -c {home} c run")),
                // A third user's process claiming the same name and folder.
                process_of(3000, 8, &format!("ipfs-cluster-follow -c {home} c run")),
            ],
            ..ProcessTable::default()
        };
        let folder_for_owner = folder.clone();
        let owner_of = move |path: &Path| (path == folder_for_owner).then_some(2000);
        let found = discover(&DiscoveryInput {
            specs: &specs,
            config_dir: Path::new("/nonexistent/follow"),
            config_dir_explicit: false,
            procs: &procs,
            environ: &|_| Some(Vec::new()),
            owner_home: &|_| None,
            owner_of: &owner_of,
            user_name: &|uid| Some(format!("user{uid}")),
            own_uid: OWN_UID,
            max_followers: 64,
        });
        assert_eq!(found.followers.len(), 1, "{found:?}");
        let follower = &found.followers[0];
        assert_eq!(
            (follower.name.as_str(), follower.source),
            ("c", Source::Flag)
        );
        assert_eq!(follower.folder_owner, Some(2000));
        assert_eq!(follower.process.as_ref().map(|p| p.pid), Some(7));
    }

    #[test]
    fn the_owners_process_moves_its_followers_api_to_tcp() {
        let dir = tempfile::tempdir().unwrap();
        stopped_follower(dir.path(), "c");
        let config_dir = dir.path().display().to_string();
        let environ = |_| {
            Some(env(&[
                (API_ADDRESS_ENV, "/ip4/127.0.0.1/tcp/19094"),
                (CLUSTER_PATH_ENV, config_dir.as_str()),
            ]))
        };
        let procs = vec![process_of(OWN_UID, 7, "ipfs-cluster-follow c run")];
        let found = discover_in(dir.path(), procs, &environ, 64);
        assert_eq!(found.followers.len(), 1, "{found:?}");
        let follower = &found.followers[0];
        assert_eq!(
            (follower.name.as_str(), follower.source),
            ("c", Source::ConfigDir)
        );
        assert_eq!(follower.api, Ok(tcp("127.0.0.1", 19094)));
        assert_eq!(follower.process.as_ref().map(|p| p.pid), Some(7));
        assert!(follower.trusted);
    }

    #[test]
    fn a_pass_that_could_not_finish_keeps_the_followers_named_by_flag() {
        let specs = vec![
            parse_api_spec("a=/ip4/127.0.0.1/tcp/1").unwrap(),
            parse_api_spec("b=/ip4/127.0.0.1/tcp/2").unwrap(),
        ];
        let found = Discovery::only_flags(&specs, 1);
        let names: Vec<&str> = found.followers.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["a"]);
        assert!(found.followers[0].trusted);
        assert!(
            found.found_by.is_empty(),
            "nothing is said of sources not looked at"
        );
    }

    #[test]
    fn another_users_process_named_like_a_flag_follower_joins_it_unverified() {
        let dir = tempfile::tempdir().unwrap();
        let specs = vec![parse_api_spec("mycluster=/ip4/127.0.0.1/tcp/9094").unwrap()];
        let procs = ProcessTable {
            processes: vec![ProcessInfo {
                uid: Some(2000),
                ..follow_process(77, "ipfs-cluster-follow mycluster run")
            }],
            ..ProcessTable::default()
        };
        let found = discover(&DiscoveryInput {
            specs: &specs,
            config_dir: dir.path(),
            config_dir_explicit: false,
            procs: &procs,
            environ: &|_| None,
            owner_home: &|_| None,
            owner_of: &|_| Some(OWN_UID),
            user_name: &|uid| Some(format!("user{uid}")),
            own_uid: OWN_UID,
            max_followers: 64,
        });
        // One follower, not a second `user2000/mycluster`; its API stays the flag's.
        assert_eq!(found.followers.len(), 1, "{found:?}");
        let follower = &found.followers[0];
        assert_eq!(follower.api, Ok(tcp("127.0.0.1", 9094)));
        let process = follower.process.as_ref().unwrap();
        assert_eq!((process.pid, process.verified), (77, false));
    }
}
