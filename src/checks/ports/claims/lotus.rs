//! Where the Lotus daemon really listens for its API: its own command line, its environment and
//! the `api` file it writes, before `config.toml`. Since v1.36.1 Lotus itself logs a warning
//! when `--api` overrides the configured address (lotus #13670, fixing #12545); only `--api` is
//! warned of (the configured address it names already carries `LOTUS_API_LISTENADDRESS`), and
//! it compares text, so `--api 1234` over the default `/ip4/127.0.0.1/tcp/1234/http` warns too.
//!
//! Lotus's own order (checked in its source, `cli/lotus/daemon.go`, `node/config/load.go`,
//! `node/builder.go`, `node/repo/fsrepo.go`), highest first:
//! 1. `lotus daemon --api PORT`: the daemon listens on `/ip4/127.0.0.1/tcp/PORT`, only when the
//!    flag is given (its default `1234` is not applied otherwise);
//! 2. `LOTUS_API_LISTENADDRESS` in the daemon's environment (`envconfig.Process("LOTUS", cfg)`
//!    after `config.toml` is decoded);
//! 3. `[API] ListenAddress` of `config.toml`; 4. the default `/ip4/127.0.0.1/tcp/1234/http`.
//!
//! Whichever wins, the daemon writes it to `<repo>/api` (mode 0644) at its start and serves the
//! API on what that file says; the file is removed when the daemon stops.
//!
//! The daemon is the `lotus daemon` whose repo (`--repo`, else `LOTUS_PATH` of its environment,
//! else `~/.lotus`) is the repo of the `config.toml` read; one whose repo cannot be told (its
//! environment is another user's) is taken to be it when no other is. Its command line is in the
//! process table; its environment is read from `/proc/<pid>/environ`, which only its user (or
//! root) may: then the `api` file says what it chose, and where that is missing too the claim
//! says the override is unknown. Only a daemon of root, of the exporter's user or of the repo
//! folder's owner is heard ([`DaemonTrust`]).

use std::path::{Path, PathBuf};

use super::{claim_at, host_address, lotus_listen_address, read_config, skipped_missing};
use super::{ConfigFileError, SERVICE_LOTUS};
use crate::checks::ports::{Claim, ClaimSource};
use crate::checks::ports::{SOURCE_ADDRESS_IN_USE, SOURCE_API_FILE, SOURCE_CONFIG_FILE};
use crate::checks::ports::{SOURCE_DAEMON_ENVIRONMENT, SOURCE_DAEMON_FLAG};
use crate::contract::CheckStatus;
use crate::host::process::{ProcessInfo, ProcessTable};
use crate::net::multiaddr::Transport;

/// The environment variable that overrides `[API] ListenAddress`.
pub const LISTEN_ENV: &str = "LOTUS_API_LISTENADDRESS";
/// The environment variable naming the repo (what `--repo` defaults to).
pub const REPO_ENV: &str = "LOTUS_PATH";
/// The file of the repo where the running daemon writes the API address it listens on.
pub const API_FILE: &str = "api";

/// The process environment, as [`crate::host::process::read_environ`] gives it.
type Environ = Option<Vec<(String, String)>>;

/// What the running daemon says of its API address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonApi {
    /// The address it listens on instead of what `config.toml` would give (a multiaddr), and
    /// where that came from; `None` when nothing overrides the file (or no daemon runs).
    pub address: Option<(String, ClaimSource)>,
    /// Why an override is unknown, or what was assumed, when either is so.
    pub unknown: Option<String>,
    /// The pid of the repo's `lotus daemon`, when one runs (whose sockets are its real listeners).
    pub pid: Option<u32>,
}

/// The value of `--api` (`--api 1235`, `--api=1235`, `-api 1235`) after `daemon`, if given.
pub fn api_flag(argv: &[String]) -> Option<String> {
    let daemon = argv.iter().position(|a| a == "daemon")?;
    flag_value(&argv[daemon + 1..], "api")
}

/// The value of the global `--repo` (before `daemon`), if given.
pub fn repo_flag(argv: &[String]) -> Option<String> {
    let daemon = argv.iter().position(|a| a == "daemon")?;
    flag_value(&argv[1..daemon], "repo")
}

/// `--name value`, `--name=value`, `-name value` or `-name=value` among `args`, up to `--`.
fn flag_value(args: &[String], name: &str) -> Option<String> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            return None;
        }
        if !arg.starts_with('-') {
            continue;
        }
        let flag = arg.trim_start_matches('-');
        if flag == name {
            return args.next().cloned();
        }
        if let Some(value) = flag.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
            return Some(value.to_string());
        }
    }
    None
}

fn env_value<'a>(environ: &'a [(String, String)], name: &str) -> Option<&'a str> {
    environ
        .iter()
        .find(|(key, value)| key == name && !value.trim().is_empty())
        .map(|(_, value)| value.as_str())
}

/// The daemon's repo, `None` when it cannot be told: `--repo`, else `LOTUS_PATH`, else
/// `~/.lotus`, `~` being its `HOME` (the environment is needed for all but an absolute `--repo`).
fn daemon_repo(daemon: &ProcessInfo, environ: Option<&[(String, String)]>) -> Option<PathBuf> {
    let named = repo_flag(&daemon.argv)
        .or_else(|| environ.and_then(|env| env_value(env, REPO_ENV).map(String::from)))
        .unwrap_or_else(|| "~/.lotus".to_string());
    // Lotus expands `~` and `~/...` only (go-homedir refuses `~user`).
    let path = match named.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let home = env_value(environ?, "HOME")?;
            PathBuf::from(format!("{home}{rest}"))
        }
        Some(_) => return None,
        None => PathBuf::from(named),
    };
    path.is_absolute().then_some(path)
}

/// Whose `lotus daemon` may say where the repo's API is: root, this exporter's user and the
/// owner of the repo folder (who runs the daemon that writes it). Anyone on the host can start a
/// process called `lotus daemon --repo <repo> --api <port>`: another user's is left out, and said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaemonTrust {
    /// This exporter's effective uid.
    pub own_uid: u32,
    /// The owner of the repo folder; `None` when it cannot be read (or does not exist).
    pub repo_owner: Option<u32>,
}

impl DaemonTrust {
    /// Blocking: the trust of `repo`'s daemons for this process.
    pub fn of(repo: &Path) -> DaemonTrust {
        use std::os::unix::fs::MetadataExt;
        DaemonTrust {
            own_uid: crate::host::permissions::own_uid(),
            repo_owner: std::fs::metadata(repo).ok().map(|m| m.uid()),
        }
    }

    /// Whether a process of `uid` (`None`: its owner could not be read) is trusted.
    pub fn trusts(&self, uid: Option<u32>) -> bool {
        uid.is_some_and(|uid| uid == 0 || uid == self.own_uid || Some(uid) == self.repo_owner)
    }
}

/// Blocking: the API address the `lotus daemon` of `repo` (see the module) listens on instead of
/// `config.toml`'s, reading environments with `environ` (`None`: not readable); only daemons
/// `trust` trusts are heard.
pub fn daemon_api(
    procs: &ProcessTable,
    repo: &Path,
    environ: &dyn Fn(u32) -> Environ,
    trust: DaemonTrust,
) -> DaemonApi {
    let mut daemons: Vec<&ProcessInfo> = procs.lotus_daemons().collect();
    daemons.sort_by_key(|p| p.pid);
    let (daemons, others): (Vec<&ProcessInfo>, Vec<&ProcessInfo>) =
        daemons.into_iter().partition(|p| trust.trusts(p.uid));
    let ignored = others.first().map(|p| {
        let uid = p
            .uid
            .map_or_else(|| "unknown".to_string(), |u| u.to_string());
        format!(
            "lotus daemon (pid {}) of uid {uid} is not heard: its user neither owns {} nor runs \
             this exporter",
            p.pid,
            repo.display()
        )
    });
    let mut untold = None;
    for daemon in daemons {
        let env = environ(daemon.pid);
        match daemon_repo(daemon, env.as_deref()) {
            Some(its) if crate::host::same_folder(&its, repo) => {
                return overrides(daemon, env, repo, None)
            }
            Some(_) => {}
            None => {
                untold.get_or_insert((daemon, env));
            }
        }
    }
    let Some((daemon, env)) = untold else {
        return DaemonApi {
            unknown: ignored,
            ..DaemonApi::default()
        };
    };
    let assumed = format!(
        "the repo of lotus daemon (pid {}) cannot be told by this user: taken to be {}",
        daemon.pid,
        repo.display()
    );
    overrides(daemon, env, repo, Some(assumed))
}

/// What `daemon` (of `repo`) overrides the file with, `assumed` said with it.
fn overrides(
    daemon: &ProcessInfo,
    env: Environ,
    repo: &Path,
    assumed: Option<String>,
) -> DaemonApi {
    let pid = daemon.pid;
    let with_assumed = |kind, text: String| ClaimSource {
        kind,
        text: match &assumed {
            Some(assumed) => format!("{text} ({assumed})"),
            None => text,
        },
    };
    if let Some(port) = api_flag(&daemon.argv) {
        let address = format!("/ip4/127.0.0.1/tcp/{}", port.trim());
        let source = with_assumed(
            SOURCE_DAEMON_FLAG,
            format!("lotus daemon --api {port} (pid {pid})"),
        );
        return DaemonApi {
            address: Some((address, source)),
            unknown: None,
            pid: Some(pid),
        };
    }
    if let Some(env) = env {
        return DaemonApi {
            address: env_value(&env, LISTEN_ENV).map(|value| {
                let text = format!("{LISTEN_ENV} of lotus daemon (pid {pid})");
                let source = with_assumed(SOURCE_DAEMON_ENVIRONMENT, text);
                (value.trim().to_string(), source)
            }),
            unknown: assumed,
            pid: Some(pid),
        };
    }
    // Not this user's process: the api file says what it chose at its start.
    let file = repo.join(API_FILE);
    let why = match read_config(&file) {
        Ok(Some(text)) if !text.trim().is_empty() => {
            let source = format!(
                "{}, written by lotus daemon (pid {pid}) at its start (its environment cannot be read by this user)",
                file.display()
            );
            return DaemonApi {
                address: Some((
                    text.trim().to_string(),
                    with_assumed(SOURCE_API_FILE, source),
                )),
                unknown: None,
                pid: Some(pid),
            };
        }
        Ok(Some(_)) => format!("{} is empty", file.display()),
        Ok(None) => format!("{} does not exist", file.display()),
        Err(err) => err.to_string(),
    };
    DaemonApi {
        address: None,
        unknown: Some(
            with_assumed(
                SOURCE_CONFIG_FILE,
                format!(
                    "the environment of lotus daemon (pid {pid}) cannot be read by this user and \
                     {why}: whether {LISTEN_ENV} or --api override config.toml is unknown"
                ),
            )
            .text,
        ),
        pid: Some(pid),
    }
}

/// Blocking: the Lotus API claim, where Lotus itself takes its address from: the running
/// daemon's `--api`, `LOTUS_API_LISTENADDRESS` or `api` file (`daemon`, see [`daemon_api`]),
/// else `[API] ListenAddress` of `config.toml` (`path`), else the API address in use. The claim
/// names its source.
pub fn lotus_check(
    path: &Path,
    api_in_use: Option<&(String, u16)>,
    daemon: &DaemonApi,
) -> (CheckStatus, Vec<Claim>) {
    let text = read_config(path);
    let malformed = |source| ConfigFileError::Malformed {
        path: path.to_path_buf(),
        source,
    };
    let configured = match &text {
        Ok(Some(text)) => Some(lotus_listen_address(text).map_err(malformed)),
        _ => None,
    };
    let unknown = daemon
        .unknown
        .as_ref()
        .map_or_else(String::new, |why| format!("; {why}"));
    if let Some((address, source)) = &daemon.address {
        let claim = match claim_at(SERVICE_LOTUS, "api", &source.text, address) {
            Ok(claim) => claim,
            Err(err) => return (CheckStatus::Failed(err.to_string()), Vec::new()),
        };
        // The same socket said another way (`/http` or not) overrides nothing.
        let socket = |c: &Claim| (c.address.clone(), c.port);
        let overridden = match &configured {
            Some(Ok(Some(in_file)))
                if claim_at(SERVICE_LOTUS, "api", "", in_file)
                    .ok()
                    .flatten()
                    .map(|c| socket(&c))
                    != claim.as_ref().map(socket) =>
            {
                format!(
                    ", overriding API.ListenAddress {in_file} of {}",
                    path.display()
                )
            }
            _ => String::new(),
        };
        let said = format!("{}{overridden}", source.text);
        let claims = sourced(claim, source.kind, said);
        // The file still has to be readable and well formed: the daemon reads it too.
        let status = match (text, configured) {
            (Err(err), _) | (_, Some(Err(err))) => CheckStatus::Failed(err.to_string()),
            _ => CheckStatus::Ok,
        };
        return (status, claims);
    }
    let text = match text {
        Ok(text) => text,
        Err(err) => return (CheckStatus::Failed(err.to_string()), Vec::new()),
    };
    let in_use = |why: &str| -> Vec<Claim> {
        api_in_use
            .filter(|(_, port)| *port != 0)
            .and_then(|(host, port)| {
                Some(Claim {
                    service: SERVICE_LOTUS.to_string(),
                    role: "api".into(),
                    protocol: Transport::Tcp,
                    address: host_address(host)?,
                    port: *port,
                    source: Some(ClaimSource {
                        kind: SOURCE_ADDRESS_IN_USE,
                        text: format!("the Lotus API address in use ({why}){unknown}"),
                    }),
                })
            })
            .into_iter()
            .collect()
    };
    match (text, configured) {
        (None, _) => {
            let claims = in_use(&format!("{} does not exist", path.display()));
            if claims.is_empty() {
                (skipped_missing(path, "lotus"), claims)
            } else {
                let why = format!(
                    "{} does not exist: claiming the Lotus API address in use",
                    path.display()
                );
                (CheckStatus::Skipped(why), claims)
            }
        }
        (Some(_), Some(Err(err))) => (CheckStatus::Failed(err.to_string()), Vec::new()),
        (Some(_), Some(Ok(Some(address)))) => {
            match claim_at(SERVICE_LOTUS, "api", "API.ListenAddress", &address) {
                Ok(claim) => {
                    let source = format!("API.ListenAddress of {}{unknown}", path.display());
                    (CheckStatus::Ok, sourced(claim, SOURCE_CONFIG_FILE, source))
                }
                Err(source) => (
                    CheckStatus::Failed(malformed(source).to_string()),
                    Vec::new(),
                ),
            }
        }
        (Some(_), _) => (
            CheckStatus::Ok,
            in_use(&format!("{} sets no API.ListenAddress", path.display())),
        ),
    }
}

/// The claim (if any) with where it came from.
fn sourced(claim: Option<Claim>, kind: &'static str, text: String) -> Vec<Claim> {
    claim
        .map(|claim| Claim {
            source: Some(ClaimSource { kind, text }),
            ..claim
        })
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::ports::claims::lines;
    use crate::host::process::ProcessInfo;

    fn argv(line: &str) -> Vec<String> {
        line.split(' ').map(String::from).collect()
    }

    fn table(lines: &[(u32, &str)]) -> ProcessTable {
        ProcessTable {
            processes: lines
                .iter()
                .map(|(pid, line)| ProcessInfo {
                    pid: *pid,
                    argv: argv(line),
                    comm: "lotus".into(),
                    uid: Some(1000),
                })
                .collect(),
            others_hidden: false,
        }
    }

    /// Trusts the tables' processes (uid 1000, the repo's owner).
    const ALL: DaemonTrust = DaemonTrust {
        own_uid: 0,
        repo_owner: Some(1000),
    };

    fn vars(pairs: &[(&str, &str)]) -> Environ {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn address(api: &DaemonApi) -> Option<(&str, &str)> {
        api.address
            .as_ref()
            .map(|(a, s)| (a.as_str(), s.text.as_str()))
    }

    #[test]
    fn the_api_and_repo_flags_in_every_form_lotus_accepts() {
        for line in [
            "lotus daemon --api 1235",
            "lotus daemon --api=1235",
            "/usr/local/bin/lotus daemon -api 1235",
            "lotus --repo /r daemon --bootstrap=false --api 1235",
        ] {
            assert_eq!(api_flag(&argv(line)).as_deref(), Some("1235"), "{line}");
        }
        for line in [
            "lotus daemon",
            "lotus daemon --api-max-req-size 9",
            "lotus daemon --apix=1",
            "lotus --api 1 net peers",
            "lotus daemon -- --api 1",
        ] {
            assert_eq!(api_flag(&argv(line)), None, "{line}");
        }
        for line in ["lotus --repo /r daemon", "lotus --repo=/r daemon --api 1"] {
            assert_eq!(repo_flag(&argv(line)).as_deref(), Some("/r"), "{line}");
        }
        // Only a global flag (before `daemon`) names the repo.
        assert_eq!(repo_flag(&argv("lotus daemon --repo /r")), None);
    }

    #[test]
    fn the_flag_wins_over_the_environment_which_wins_over_the_file() {
        let repo = tempfile::tempdir().unwrap();
        let home = repo.path().display().to_string();
        let env = |pid: u32| match pid {
            42 => vars(&[
                (REPO_ENV, &home),
                (LISTEN_ENV, "/ip4/0.0.0.0/tcp/2345/http"),
            ]),
            44 => vars(&[(REPO_ENV, &home)]),
            _ => None,
        };
        let at = |lines: &[(u32, &str)]| daemon_api(&table(lines), repo.path(), &env, ALL);

        let by_flag = at(&[(42, "lotus daemon --api 1235")]);
        assert_eq!(
            address(&by_flag),
            Some((
                "/ip4/127.0.0.1/tcp/1235",
                "lotus daemon --api 1235 (pid 42)"
            ))
        );
        let by_env = at(&[(42, "lotus daemon"), (7, "lotus net peers")]);
        assert_eq!(
            address(&by_env),
            Some((
                "/ip4/0.0.0.0/tcp/2345/http",
                "LOTUS_API_LISTENADDRESS of lotus daemon (pid 42)"
            ))
        );
        assert_eq!(by_flag.address.unwrap().1.kind, SOURCE_DAEMON_FLAG);
        assert_eq!(by_env.address.unwrap().1.kind, SOURCE_DAEMON_ENVIRONMENT);
        // Readable and not set: config.toml decides, nothing unknown.
        let readable = DaemonApi {
            pid: Some(44),
            ..DaemonApi::default()
        };
        assert_eq!(at(&[(44, "lotus daemon")]), readable);
        assert_eq!(at(&[]), DaemonApi::default());
    }

    #[test]
    fn another_users_daemon_is_read_from_the_api_file_it_wrote() {
        let repo = tempfile::tempdir().unwrap();
        let unreadable = |_: u32| None;
        let at = |line: &str| daemon_api(&table(&[(43, line)]), repo.path(), &unreadable, ALL);

        let missing = at("lotus daemon");
        assert_eq!(missing.address, None);
        let why = missing.unknown.unwrap();
        assert!(
            why.contains("pid 43") && why.contains("does not exist"),
            "{why}"
        );
        assert!(why.contains("taken to be"), "{why}");

        std::fs::write(repo.path().join(API_FILE), "/ip4/127.0.0.1/tcp/3456/http\n").unwrap();
        let from_file = at("lotus daemon");
        let (addr, source) = address(&from_file).unwrap();
        assert_eq!(addr, "/ip4/127.0.0.1/tcp/3456/http");
        assert!(
            source.contains("written by lotus daemon (pid 43)"),
            "{source}"
        );
        assert_eq!(from_file.address.as_ref().unwrap().1.kind, SOURCE_API_FILE);
        assert!(
            source.contains(&repo.path().display().to_string()),
            "{source}"
        );

        // An absolute --repo is told without the environment; the flag needs neither.
        let named = format!("lotus --repo {} daemon --api 1240", repo.path().display());
        let (addr, source) = address(&at(&named))
            .map(|(a, s)| (a.to_string(), s.to_string()))
            .unwrap();
        assert_eq!(addr, "/ip4/127.0.0.1/tcp/1240");
        assert_eq!(source, "lotus daemon --api 1240 (pid 43)");
    }

    #[test]
    fn the_daemon_of_the_configured_repo_is_chosen_over_others() {
        let ours = tempfile::tempdir().unwrap();
        let theirs = tempfile::tempdir().unwrap();
        let lines = [
            (
                10,
                format!("lotus --repo {} daemon --api 1111", theirs.path().display()),
            ),
            (
                20,
                format!("lotus --repo {} daemon --api 2222", ours.path().display()),
            ),
        ];
        let lines: Vec<(u32, &str)> = lines.iter().map(|(p, l)| (*p, l.as_str())).collect();
        let api = daemon_api(&table(&lines), ours.path(), &|_| None, ALL);
        assert_eq!(address(&api).unwrap().0, "/ip4/127.0.0.1/tcp/2222");
        // Only another repo's daemon runs: nothing overrides this repo's file.
        let api = daemon_api(&table(&lines[..1]), ours.path(), &|_| None, ALL);
        assert_eq!(api, DaemonApi::default());
        // ~/.lotus of the daemon's HOME when neither --repo nor LOTUS_PATH says.
        let home = theirs.path().display().to_string();
        let env = |_: u32| vars(&[("HOME", &home), (LISTEN_ENV, "/ip4/127.0.0.1/tcp/9/http")]);
        let dot_lotus = theirs.path().join(".lotus");
        let api = daemon_api(&table(&[(5, "lotus daemon")]), &dot_lotus, &env, ALL);
        assert_eq!(address(&api).unwrap().0, "/ip4/127.0.0.1/tcp/9/http");
        assert_eq!(
            daemon_api(&table(&[(5, "lotus daemon")]), ours.path(), &env, ALL),
            DaemonApi::default()
        );
        // `~user` is no repo Lotus would open; a relative one is its working folder's: neither
        // can be told, so the daemon is taken to be this repo's, and said so.
        for line in ["lotus --repo ~lotus/x daemon", "lotus --repo rel daemon"] {
            let api = daemon_api(&table(&[(5, line)]), ours.path(), &env, ALL);
            assert!(
                api.address.unwrap().1.text.contains("taken to be"),
                "{line}"
            );
        }
    }

    #[test]
    fn another_users_daemon_naming_this_repo_is_not_heard_and_said() {
        let repo = tempfile::tempdir().unwrap();
        let line = format!("lotus --repo {} daemon --api 9097", repo.path().display());
        let stranger = DaemonTrust {
            own_uid: 0,
            repo_owner: Some(2000),
        };
        let api = daemon_api(&table(&[(66, &line)]), repo.path(), &|_| None, stranger);
        assert_eq!(api.address, None);
        assert_eq!(api.pid, None);
        let why = api.unknown.unwrap();
        assert!(why.contains("pid 66") && why.contains("uid 1000"), "{why}");
        // Root, the exporter's own user and the repo's owner are heard; an unknown owner is not.
        for (uid, heard) in [
            (Some(0), true),
            (Some(7), true),
            (Some(2000), true),
            (Some(8), false),
            (None, false),
        ] {
            let trust = DaemonTrust {
                own_uid: 7,
                repo_owner: Some(2000),
            };
            assert_eq!(trust.trusts(uid), heard, "{uid:?}");
        }
    }

    #[test]
    fn the_override_claims_with_its_source_and_names_the_file_it_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[API]\nListenAddress = \"/ip4/0.0.0.0/tcp/2345/http\"\n",
        )
        .unwrap();
        let daemon = DaemonApi {
            address: Some((
                "/ip4/127.0.0.1/tcp/1235".into(),
                ClaimSource {
                    kind: SOURCE_DAEMON_FLAG,
                    text: "lotus daemon --api 1235 (pid 42)".into(),
                },
            )),
            unknown: None,
            pid: Some(42),
        };
        let (status, claims) = lotus_check(&path, None, &daemon);
        assert_eq!(status, CheckStatus::Ok);
        assert_eq!(lines(&claims), ["lotus api tcp 127.0.0.1 1235"]);
        assert_eq!(claims[0].source.as_ref().unwrap().kind, SOURCE_DAEMON_FLAG);
        let source = &claims[0].source.as_ref().unwrap().text;
        assert!(source.starts_with("lotus daemon --api 1235 (pid 42), overriding API.ListenAddress /ip4/0.0.0.0/tcp/2345/http of "), "{source}");

        // The file's address said another way is the same socket: nothing overridden.
        std::fs::write(
            &path,
            "[API]\nListenAddress = \"/ip4/127.0.0.1/tcp/1235/http\"\n",
        )
        .unwrap();
        let (_, claims) = lotus_check(&path, None, &daemon);
        let source = &claims[0].source.as_ref().unwrap().text;
        assert_eq!(source, "lotus daemon --api 1235 (pid 42)");

        // A malformed file fails its check; the daemon's claim still stands.
        std::fs::write(&path, "[API\n").unwrap();
        let (status, claims) = lotus_check(&path, None, &daemon);
        assert!(status.failure().unwrap().contains("not valid TOML"));
        assert_eq!(lines(&claims), ["lotus api tcp 127.0.0.1 1235"]);

        // An override that is no multiaddr fails, naming where it came from.
        let bad = DaemonApi {
            address: Some((
                "1235".into(),
                ClaimSource {
                    kind: SOURCE_DAEMON_ENVIRONMENT,
                    text: "LOTUS_API_LISTENADDRESS of lotus daemon (pid 42)".into(),
                },
            )),
            unknown: None,
            pid: Some(42),
        };
        let (status, claims) = lotus_check(&path, None, &bad);
        assert!(status
            .failure()
            .unwrap()
            .contains("LOTUS_API_LISTENADDRESS"));
        assert!(claims.is_empty());

        // An unknown override is said beside the file's claim.
        std::fs::write(
            &path,
            "[API]\nListenAddress = \"/ip4/0.0.0.0/tcp/2345/http\"\n",
        )
        .unwrap();
        let unknown = DaemonApi {
            address: None,
            unknown: Some("the environment of lotus daemon (pid 43) cannot be read".into()),
            pid: Some(43),
        };
        let (_, claims) = lotus_check(&path, None, &unknown);
        let source = &claims[0].source.as_ref().unwrap().text;
        assert!(source.starts_with("API.ListenAddress of "), "{source}");
        assert!(
            source.ends_with("; the environment of lotus daemon (pid 43) cannot be read"),
            "{source}"
        );
    }

    #[test]
    fn lotus_check_prefers_config_then_falls_back_to_api_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let in_use = ("127.0.0.1".to_string(), 1234);
        let fallback = Some(&in_use);

        let (status, claims) = lotus_check(&path, fallback, &DaemonApi::default());
        assert!(matches!(status, CheckStatus::Skipped(_)), "{status:?}");
        assert_eq!(lines(&claims), ["lotus api tcp 127.0.0.1 1234"]);
        let source = claims[0].source.as_ref().unwrap();
        assert_eq!(source.kind, SOURCE_ADDRESS_IN_USE);
        assert!(source.text.contains("does not exist"), "{}", source.text);

        std::fs::write(
            &path,
            include_str!("../../../../tests/data/lotus-default-config.toml"),
        )
        .unwrap();
        let (status, claims) = lotus_check(&path, fallback, &DaemonApi::default());
        assert_eq!(status, CheckStatus::Ok);
        assert_eq!(lines(&claims), ["lotus api tcp 127.0.0.1 1234"]);

        std::fs::write(
            &path,
            "[API]\nListenAddress = \"/ip4/0.0.0.0/tcp/2345/http\"\n",
        )
        .unwrap();
        let (_, claims) = lotus_check(&path, fallback, &DaemonApi::default());
        assert_eq!(lines(&claims), ["lotus api tcp 0.0.0.0 2345"]);
        assert_eq!(claims[0].source.as_ref().unwrap().kind, SOURCE_CONFIG_FILE);

        std::fs::write(&path, "[API]\nListenAddress = \"/ip4/0.0.0.0\"\n").unwrap();
        let (status, claims) = lotus_check(&path, fallback, &DaemonApi::default());
        let reason = status.failure().unwrap();
        assert!(reason.contains(&path.display().to_string()), "{reason}");
        assert!(reason.contains("API.ListenAddress"), "{reason}");
        assert!(claims.is_empty());
    }
}
