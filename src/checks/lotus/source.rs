//! Where the Lotus address and token come from, and following the files they come from as they
//! change: a Lotus that restarts writes a new `api` file (`node/repo/fsrepo.go`
//! `SetAPIEndpoint`, on every start) and removes it on a clean shutdown, so the address read at
//! start is not the address of the Lotus running an hour later.
//!
//! What follows its file: the address when it comes from the repo's `api` file, or is the
//! default because that file does not exist (a file that appears later is read); the token of
//! `--lotus.token-file`. What is fixed: `--lotus.api` and `FULLNODE_API_INFO` (a process's
//! environment does not change).
//!
//! Cheaply: each followed file is stamped (device, inode, modification time, size) with one
//! `stat` at most once per round, and read again only when its stamp moved. The stamp is taken
//! *before* the file is read, so a file rewritten while it was being read has moved by the next
//! round and is read again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::api_info::{rpc_target_as, ApiInfo, UrlPath};
use super::flags::LotusArgs as Flags;
use super::locate::{
    host_port_taken_for_token, shared_file_warning, token_file_error, token_in_clear,
    token_problem, token_refusal, with_tls, DEFAULT_LOTUS_API,
};
use super::rpc::RpcTarget;
use crate::host::files::read_small_file;
use crate::secret::Secret;

/// A file's identity and version, as `stat` gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stamp {
    /// The file does not exist.
    Missing,
    /// `stat` failed otherwise (permission denied on the folder, say).
    Unreadable(std::io::ErrorKind),
    Seen {
        device: u64,
        inode: u64,
        modified_ns: i128,
        size: u64,
    },
}

impl Stamp {
    /// The stamp of `path` now (one `stat`, following symlinks).
    pub fn of(path: &Path) -> Stamp {
        match std::fs::metadata(path) {
            Ok(meta) => Stamp::Seen {
                device: meta.dev(),
                inode: meta.ino(),
                modified_ns: i128::from(meta.mtime()) * 1_000_000_000
                    + i128::from(meta.mtime_nsec()),
                size: meta.size(),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Stamp::Missing,
            Err(e) => Stamp::Unreadable(e.kind()),
        }
    }
}

/// A file followed, with its stamp when it was last read.
#[derive(Debug, Clone)]
struct Followed {
    path: PathBuf,
    stamp: Stamp,
}

impl Followed {
    fn new(path: PathBuf) -> Followed {
        Followed {
            path,
            stamp: Stamp::Missing,
        }
    }

    /// Stamp it now (before reading it).
    fn restamp(&mut self) {
        self.stamp = Stamp::of(&self.path);
    }

    fn moved(&self) -> bool {
        Stamp::of(&self.path) != self.stamp
    }
}

/// Where Lotus was found: the address (or why it cannot be used), the token, and where the
/// address came from in words.
#[derive(Debug, Clone)]
pub struct Located {
    pub target: Result<RpcTarget, String>,
    pub token: Option<Secret>,
    /// `--lotus.api`, `FULLNODE_API_INFO`, the `api` file's path, or `default: no PATH`.
    pub api_source: String,
}

/// What the Lotus address and token are resolved from, kept to resolve them again when a
/// followed file changes. Its `Debug` shows only the files (the flags and the environment may
/// carry a token).
#[derive(Clone)]
pub struct Sources {
    flags: Flags,
    lotus_path: PathBuf,
    /// `FULLNODE_API_INFO` at start (non-empty).
    env_api_info: Option<String>,
    /// `$PWD` at start, to name a relative token file's full path when the working directory
    /// cannot be read.
    pwd: Option<String>,
    /// The repo's `api` file, followed while the address comes from it (or from the default
    /// because it does not exist).
    api_file: Option<Followed>,
    /// `--lotus.token-file`.
    token_file: Option<Followed>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("lotus_path", &self.lotus_path)
            .field("api_file", &self.api_file)
            .field("token_file", &self.token_file)
            .finish_non_exhaustive()
    }
}

impl Sources {
    /// What to read, from the flags and the environment; nothing is read yet.
    pub fn new(flags: &Flags, lotus_path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Sources {
        let env_api_info = env("FULLNODE_API_INFO").filter(|t| !t.trim().is_empty());
        let follows_repo = flags.lotus_api.is_none() && env_api_info.is_none();
        Sources {
            flags: flags.clone(),
            lotus_path: lotus_path.to_path_buf(),
            env_api_info,
            pwd: env("PWD"),
            api_file: follows_repo.then(|| Followed::new(lotus_path.join("api"))),
            token_file: flags.lotus_token_file.clone().map(Followed::new),
        }
    }

    /// True when a followed file changed since it was last read (at most two `stat`s).
    pub fn moved(&self) -> bool {
        self.api_file
            .iter()
            .chain(&self.token_file)
            .any(Followed::moved)
    }

    /// True when anything is followed at all.
    pub fn follows_files(&self) -> bool {
        self.api_file.is_some() || self.token_file.is_some()
    }

    /// Read the address and token (stamping each followed file first), in Lotus's own order.
    /// What the operator should hear about is handed to `warn` (logged at start, once each
    /// when read again).
    pub fn locate(&mut self, warn: &mut dyn FnMut(String)) -> Located {
        let (api_info, api_source, rule) = self.api_info();
        let api_info = api_info.and_then(|info| match host_port_taken_for_token(&info) {
            Some(hint) => Err(format!("{api_source}: {hint}")),
            None => Ok(info),
        });
        let resolved = api_info.clone().and_then(|info| {
            rpc_target_as(&info.address, rule).map_err(|e| format!("{api_source}: {e}"))
        });
        if let Some(warning) = resolved.as_ref().ok().and_then(|r| r.warning.as_ref()) {
            warn(format!("{api_source}: {warning}"));
        }
        let mut token = api_info.ok().and_then(|info| info.token);
        let query_token = resolved.as_ref().is_ok_and(|r| r.query_token.is_some());
        if (token.is_some() || query_token) && api_source == "--lotus.api" {
            warn("the Lotus token is on the command line (--lotus.api, as TOKEN: or ?token=), where every user of this host can read it (ps): use --lotus.token-file or FULLNODE_API_INFO".to_string());
        }
        let ca_file = self.flags.lotus_ca_file.as_deref();
        let mut target = resolved.and_then(|resolved| {
            token = token.take().or(resolved.query_token);
            with_tls(resolved.target, resolved.tls, ca_file, warn)
        });
        if let Some(file) = &mut self.token_file {
            file.restamp();
            let path = file.path.clone();
            if let Some(warning) = shared_file_warning(&path) {
                warn(warning);
            }
            match read_small_file(&path) {
                Ok(text) if !text.trim().is_empty() => {
                    token = Some(Secret::new(text.trim().to_string()))
                }
                Ok(_) => target = Err(format!("--lotus.token-file {} is empty: put a token there (lotus auth create-token --perm read)", path.display())),
                Err(e) => {
                    let pwd = self.pwd.clone();
                    target = Err(token_file_error(&path, &e, &move |name: &str| {
                        (name == "PWD").then(|| pwd.clone()).flatten()
                    }))
                }
            }
        }
        if let Some(bad) = token.as_ref().and_then(|t| token_problem(t.expose())) {
            target = Err(format!(
                "the Lotus token ({}) {bad}: check the token file or API-info string",
                self.token_source(&api_source)
            ));
            token = None;
        }
        if let (Some(_), Ok(t)) = (&token, &target) {
            if token_in_clear(t) {
                if self.flags.lotus_allow_token_over_http {
                    warn(format!("the Lotus token is sent in clear over plain http to {} (--lotus.allow-token-over-http): anyone on the path can read and reuse it; prefer https", t.display));
                } else {
                    target = Err(token_refusal(t));
                }
            }
        }
        Located {
            target,
            token,
            api_source,
        }
    }

    /// Where the token came from, in words.
    fn token_source(&self, api_source: &str) -> String {
        match &self.flags.lotus_token_file {
            Some(path) => format!("--lotus.token-file {}", path.display()),
            None => api_source.to_string(),
        }
    }

    /// The API info, where it came from, and how its URL path is read: `--lotus.api` as given,
    /// `FULLNODE_API_INFO` and the `api` file as Lotus reads API info.
    fn api_info(&mut self) -> (Result<ApiInfo, String>, String, UrlPath) {
        if let Some(text) = &self.flags.lotus_api {
            return (
                Ok(ApiInfo::parse(text)),
                "--lotus.api".to_string(),
                UrlPath::AsGiven,
            );
        }
        if let Some(text) = &self.env_api_info {
            return (
                Ok(ApiInfo::parse(text)),
                "FULLNODE_API_INFO".to_string(),
                UrlPath::LotusRoot,
            );
        }
        let api_file = self.lotus_path.join("api");
        if let Some(file) = &mut self.api_file {
            file.restamp();
        }
        let source = api_file.display().to_string();
        let info = match read_small_file(&api_file) {
            Ok(text) if text.trim().is_empty() => Err(format!(
                "{source} is empty (Lotus writes its API multiaddr there while running)"
            )),
            Ok(text) => Ok(ApiInfo {
                token: None,
                address: text.trim().to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let info = ApiInfo {
                    token: None,
                    address: DEFAULT_LOTUS_API.to_string(),
                };
                return (
                    Ok(info),
                    format!("default: no {source}"),
                    UrlPath::LotusRoot,
                );
            }
            Err(e) => Err(format!("cannot read {source}: {e} (or set --lotus.api)")),
        };
        (info, source, UrlPath::LotusRoot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(args: &[&str], env: &[(&str, &str)]) -> Sources {
        use clap::Parser;
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            lotus: Flags,
        }
        let mut argv = vec!["exporter"];
        argv.extend_from_slice(args);
        let flags = Only::try_parse_from(argv).unwrap().lotus;
        let env: std::collections::HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let repo = flags
            .lotus_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("/nonexistent"));
        Sources::new(&flags, &repo, &|name| env.get(name).cloned())
    }

    fn display(located: &Located) -> String {
        located.target.as_ref().unwrap().display.clone()
    }

    #[test]
    fn a_stamp_moves_when_the_file_is_rewritten_replaced_or_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api");
        assert_eq!(Stamp::of(&path), Stamp::Missing);
        std::fs::write(&path, "/ip4/127.0.0.1/tcp/1234/http").unwrap();
        let first = Stamp::of(&path);
        assert!(matches!(first, Stamp::Seen { .. }));
        assert_eq!(Stamp::of(&path), first, "nothing changed, nothing moved");
        // Same size, another inode (written beside and renamed over, as editors and tools do).
        let beside = dir.path().join("api.new");
        std::fs::write(&beside, "/ip4/127.0.0.1/tcp/4321/http").unwrap();
        std::fs::rename(&beside, &path).unwrap();
        let second = Stamp::of(&path);
        assert_ne!(second, first);
        // Rewritten in place with another size.
        std::fs::write(&path, "/ip4/127.0.0.1/tcp/54321/http").unwrap();
        assert_ne!(Stamp::of(&path), second);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(Stamp::of(&path), Stamp::Missing);
    }

    #[test]
    fn the_api_file_is_followed_only_when_the_address_comes_from_the_repo() {
        let repo = tempfile::tempdir().unwrap();
        let repo_path = repo.path().to_str().unwrap();
        let mut followed = sources(&["--lotus.path", repo_path], &[]);
        assert!(followed.follows_files());
        let located = followed.locate(&mut |_| {});
        assert_eq!(display(&located), "http://127.0.0.1:1234/rpc/v1");
        assert!(
            located.api_source.starts_with("default: no "),
            "{}",
            located.api_source
        );
        assert!(!followed.moved());

        // The file appears (Lotus started after the exporter): moved, and read.
        std::fs::write(repo.path().join("api"), "/ip4/127.0.0.1/tcp/4321/http\n").unwrap();
        assert!(followed.moved());
        let located = followed.locate(&mut |_| {});
        assert_eq!(display(&located), "http://127.0.0.1:4321/rpc/v1");
        assert!(
            located.api_source.ends_with("/api"),
            "{}",
            located.api_source
        );
        assert!(!followed.moved(), "stamped when read");

        // Lotus's clean shutdown removes it: back to the default.
        std::fs::remove_file(repo.path().join("api")).unwrap();
        assert!(followed.moved());
        assert!(followed
            .locate(&mut |_| {})
            .api_source
            .starts_with("default"));

        for fixed in [
            sources(
                &["--lotus.path", repo_path, "--lotus.api", "http://h:1"],
                &[],
            ),
            sources(
                &["--lotus.path", repo_path],
                &[("FULLNODE_API_INFO", "/ip4/10.0.0.1/tcp/1234/http")],
            ),
        ] {
            assert!(!fixed.follows_files());
            std::fs::write(repo.path().join("api"), "/ip4/127.0.0.1/tcp/9/http").unwrap();
            assert!(!fixed.moved(), "a fixed address follows no file");
        }
    }

    #[test]
    fn a_token_file_is_followed_and_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "FIRST").unwrap();
        let mut followed = sources(
            &[
                "--lotus.api",
                "http://127.0.0.1:1234",
                "--lotus.token-file",
                token.to_str().unwrap(),
            ],
            &[],
        );
        let located = followed.locate(&mut |_| {});
        assert_eq!(located.token.unwrap().expose(), "FIRST");
        assert!(!followed.moved());
        std::fs::write(&token, "SECOND-TOKEN").unwrap();
        assert!(followed.moved());
        let located = followed.locate(&mut |_| {});
        assert_eq!(located.token.unwrap().expose(), "SECOND-TOKEN");
        assert_eq!(located.api_source, "--lotus.api");
    }

    #[test]
    fn what_is_followed_never_prints_a_token() {
        let followed = sources(
            &["--lotus.api", "CMDTOKEN:/ip4/127.0.0.1/tcp/1234/http"],
            &[("FULLNODE_API_INFO", "ENVTOKEN:/ip4/127.0.0.1/tcp/1234/http")],
        );
        let shown = format!("{followed:?}");
        assert!(
            !shown.contains("CMDTOKEN") && !shown.contains("ENVTOKEN"),
            "{shown}"
        );
    }

    #[test]
    fn each_source_reads_a_url_path_its_own_way() {
        // --lotus.api: the endpoint as given.
        let located = sources(&["--lotus.api", "http://host/filecoin"], &[]).locate(&mut |_| {});
        assert_eq!(display(&located), "http://host:80/filecoin");
        // FULLNODE_API_INFO: the API's root, /rpc/v1 added (Lotus's DialArgs).
        let located =
            sources(&[], &[("FULLNODE_API_INFO", "http://host/filecoin")]).locate(&mut |_| {});
        assert_eq!(display(&located), "http://host:80/filecoin/rpc/v1");
        // Ending in /rpc/vN: used as written, and said.
        let mut warnings = Vec::new();
        let located = sources(
            &[],
            &[("FULLNODE_API_INFO", "http://127.0.0.1:1234/rpc/v1")],
        )
        .locate(&mut |w| warnings.push(w));
        assert_eq!(display(&located), "http://127.0.0.1:1234/rpc/v1");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("FULLNODE_API_INFO: ") && warnings[0].contains("#13870"),
            "{warnings:?}"
        );
    }
}
