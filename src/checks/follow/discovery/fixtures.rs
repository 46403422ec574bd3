//! Test fixtures of discovery: made-up processes and environments, follower folders, and the
//! discovery inputs most tests share.

use std::path::{Path, PathBuf};

use super::{discover, Discovery, DiscoveryInput, CONFIG_FILE};
use crate::host::process::{ProcessInfo, ProcessTable};
use crate::net::http_client::Endpoint;

/// The uid the tests' processes and folders belong to (the exporter's own).
pub(super) const OWN_UID: u32 = 1000;

pub(super) fn tcp(host: &str, port: u16) -> Endpoint {
    Endpoint::Tcp {
        host: host.into(),
        port,
    }
}

pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn argv(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

pub(super) fn follow_process(pid: u32, line: &str) -> ProcessInfo {
    ProcessInfo {
        pid,
        argv: argv(line),
        comm: "ipfs-cluster-fo".into(),
        uid: Some(OWN_UID),
    }
}

/// Discovery over `dir` as the config folder, with `procs` and their environments.
pub(super) fn discover_in(
    dir: &Path,
    procs: Vec<ProcessInfo>,
    environ: &dyn Fn(u32) -> Option<Vec<(String, String)>>,
    max_followers: usize,
) -> Discovery {
    let procs = ProcessTable {
        processes: procs,
        ..ProcessTable::default()
    };
    discover(&DiscoveryInput {
        config_dir_explicit: true,
        environ,
        max_followers,
        ..input(dir, &procs)
    })
}

/// A follower folder `<dir>/<name>/` holding only its `service.json`: configured, stopped.
pub(super) fn stopped_follower(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir.join(name)).unwrap();
    std::fs::write(dir.join(name).join(CONFIG_FILE), "{}").unwrap();
}

pub(super) fn process_of(uid: u32, pid: u32, line: &str) -> ProcessInfo {
    ProcessInfo {
        uid: Some(uid),
        ..follow_process(pid, line)
    }
}

fn no_environ(_: u32) -> Option<Vec<(String, String)>> {
    None
}

fn no_home(_: u32) -> Option<PathBuf> {
    None
}

fn owned_by_us(_: &Path) -> Option<u32> {
    Some(OWN_UID)
}

fn user_name(uid: u32) -> Option<String> {
    Some(format!("user{uid}"))
}

/// The inputs most tests share: no `--follow.api`, a config folder whose absence is no problem,
/// no process environment readable, everything owned by the exporter's own user, a cap of 64.
pub(super) fn input<'a>(config_dir: &'a Path, procs: &'a ProcessTable) -> DiscoveryInput<'a> {
    DiscoveryInput {
        specs: &[],
        config_dir,
        config_dir_explicit: false,
        procs,
        environ: &no_environ,
        owner_home: &no_home,
        owner_of: &owned_by_us,
        user_name: &user_name,
        own_uid: OWN_UID,
        max_followers: 64,
    }
}
