//! The host's process table and binaries: who runs (`lotus daemon`, `ipfs-cluster-follow <name> run`),
//! with which environment, and which user owns what.
//!
//! Everything here reads `/proc` and `/etc/passwd`. The blocking readers are pure functions over a
//! root directory (so tests feed them a fake tree); [`scan()`] runs them off the async runtime under
//! a deadline.
//!
//! The table and its scans are in `scan.rs`, process environments in `environ.rs`, which program
//! a command line runs in `programs.rs`, and owners' names and homes in `users.rs`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

mod environ;
mod programs;
mod scan;
mod users;

pub use environ::{parse_environ, read_environ};
pub use programs::{find_in_path, follow_cluster_name, is_lotus_daemon};
pub use scan::{
    read_cmdline, read_process, read_process_table, read_process_table_cached, scan, scan_cached,
    scan_root, split_cmdline, ProcessCache, ProcessKey, MAX_CMDLINE_BYTES, MAX_SCANS_IN_FLIGHT,
};
pub use users::{home_dir_in, user_name_in};

/// One process as `/proc/<pid>` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// The command line, split on NULs. Empty for kernel threads and zombies.
    pub argv: Vec<String>,
    /// `/proc/<pid>/comm`: the kernel's short name (what a renamed binary shows).
    pub comm: String,
    /// Its owner: the (effective) uid owning `/proc/<pid>`; `None` when it could not be read.
    pub uid: Option<u32>,
}

impl ProcessInfo {
    /// The file name of `argv[0]` (`/usr/local/bin/lotus` gives `lotus`), or `comm` when there is no argv.
    pub fn program(&self) -> &str {
        self.argv
            .first()
            .map(|a| {
                Path::new(a)
                    .file_name()
                    .and_then(OsStr::to_str)
                    .unwrap_or(a)
            })
            .unwrap_or(&self.comm)
    }
}

/// The process table at one moment.
#[derive(Debug, Clone, Default)]
pub struct ProcessTable {
    pub processes: Vec<ProcessInfo>,
    /// Other users' processes are hidden from this one (`/proc` mounted with `hidepid`): a
    /// process not found may still be running.
    pub others_hidden: bool,
}

impl ProcessTable {
    /// Whether a process matching `found` runs: `Some(true)` when one is seen, `Some(false)` when
    /// none is and every process is visible, `None` when other users' processes are hidden.
    pub fn running(&self, found: bool) -> Option<bool> {
        match (found, self.others_hidden) {
            (true, _) => Some(true),
            (false, false) => Some(false),
            (false, true) => None,
        }
    }

    /// Processes running `lotus daemon`.
    pub fn lotus_daemons(&self) -> impl Iterator<Item = &ProcessInfo> {
        self.processes.iter().filter(|p| is_lotus_daemon(&p.argv))
    }

    /// Processes running `ipfs-cluster-follow <name> run`, with the cluster name.
    pub fn follow_peers(&self) -> impl Iterator<Item = (&ProcessInfo, String)> {
        self.processes
            .iter()
            .filter_map(|p| follow_cluster_name(&p.argv).map(|name| (p, name)))
    }

    /// The process with this pid.
    pub fn get(&self, pid: u32) -> Option<&ProcessInfo> {
        self.processes.iter().find(|p| p.pid == pid)
    }
}

/// Why the process table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot list {path}: {source}")]
    List {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("timed out reading the process table")]
    TimedOut,
    #[error("process table reader failed: {0}")]
    Join(String),
    #[error("{MAX_SCANS_IN_FLIGHT} reads of the process table are still running past their deadlines (stuck in the kernel?); not read again until one ends")]
    StillRunning,
}

/// A poisoned cache is only command lines still checked on use: keep using it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
