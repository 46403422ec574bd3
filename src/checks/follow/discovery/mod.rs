//! Finding the followers on this host: `--follow.api` values, `<name>/` folders under the follow
//! config folder (running or stopped), and running `ipfs-cluster-follow <name> run` processes
//! (whose environment may move their folder or their API), trusting each only as far as its
//! owner allows.
//!
//! Everything here is a pure function of its inputs (config, process table, an environment
//! reader and the file system under the config folder), so tests feed it temp dirs and made-up
//! process tables.
//!
//! `flags.rs` reads the `--follow.api` values, `config_dir.rs` lists the config folder,
//! `processes.rs` reads the running processes and decides which follower each may join, and
//! `merge.rs` merges the three sources, one follower per name and endpoint, under the cap.

mod config_dir;
#[cfg(test)]
mod fixtures;
mod flags;
mod merge;
mod processes;

use std::path::{Path, PathBuf};

use crate::host::process::ProcessTable;
use crate::net::http_client::Endpoint;

pub use config_dir::{API_SOCKET, CONFIG_FILE};
pub use flags::{default_name, parse_api_spec, ApiSpec, FollowError};
pub use merge::discover;
pub use processes::{process_api, process_folder, API_ADDRESS_ENV, CLUSTER_PATH_ENV};

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
    /// Known only from a process of this user, whom the exporter does not trust: what it
    /// claims is that user's claim (the port plan never calls it a configured conflict).
    pub untrusted_user: Option<String>,
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
    /// The home directory of a user (by uid): under a process owner's home is the best guess
    /// of its folder when its environment is not readable (another user's process).
    pub owner_home: &'a dyn Fn(u32) -> Option<PathBuf>,
    /// The owner (uid) of a file or folder, `None` when it cannot be looked at.
    pub owner_of: &'a dyn Fn(&Path) -> Option<u32>,
    /// A user's name for a uid (for the `<user>/<name>` of an untrusted process's follower).
    pub user_name: &'a dyn Fn(u32) -> Option<String>,
    /// The exporter's own (effective) uid: its processes are trusted.
    pub own_uid: u32,
    pub max_followers: usize,
}
