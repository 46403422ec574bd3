//! Which program a process runs: `lotus daemon`, `ipfs-cluster-follow <name> run`, and where a
//! binary is on a `PATH`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// True for `lotus daemon ...` (any path to the binary, flags before or after the subcommand).
pub fn is_lotus_daemon(argv: &[String]) -> bool {
    let Some(program) = argv.first() else {
        return false;
    };
    let name = Path::new(program).file_name().and_then(OsStr::to_str);
    name == Some("lotus") && first_positional(&argv[1..]) == Some("daemon")
}

/// For `ipfs-cluster-follow [flags] <name> run [flags]`, the cluster name.
pub fn follow_cluster_name(argv: &[String]) -> Option<String> {
    let program = argv.first()?;
    let name = Path::new(program).file_name().and_then(OsStr::to_str)?;
    if name != "ipfs-cluster-follow" {
        return None;
    }
    let positionals = positionals(&argv[1..]);
    match positionals.as_slice() {
        [cluster, "run", ..] => Some((*cluster).to_string()),
        _ => None,
    }
}

/// Flags of ipfs-cluster-follow and lotus that take a separate value.
const FLAGS_WITH_VALUE: &[&str] = &["-c", "-config", "--config", "--repo", "--init", "--gateway"];

fn positionals(args: &[String]) -> Vec<&str> {
    let mut out = Vec::new();
    let mut skip_next = false;
    for arg in args {
        if skip_next {
            skip_next = false;
            continue;
        }
        if arg.starts_with('-') {
            skip_next = !arg.contains('=') && FLAGS_WITH_VALUE.contains(&arg.as_str());
            continue;
        }
        out.push(arg.as_str());
    }
    out
}

fn first_positional(args: &[String]) -> Option<&str> {
    positionals(args).first().copied()
}

/// The first executable called `name` on `path` (a `PATH`-style list).
pub fn find_in_path(name: &str, path: &OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn recognises_lotus_daemon_command_lines() {
        assert!(is_lotus_daemon(&argv("lotus daemon")));
        assert!(is_lotus_daemon(&argv(
            "/usr/local/bin/lotus daemon --import-snapshot x"
        )));
        assert!(is_lotus_daemon(&argv("lotus --repo /data/lotus daemon")));
        assert!(!is_lotus_daemon(&argv("lotus sync wait")));
        assert!(!is_lotus_daemon(&argv("lotus-miner run")));
        assert!(!is_lotus_daemon(&argv("python lotus daemon")));
        assert!(!is_lotus_daemon(&[]));
    }

    #[test]
    fn finds_follow_cluster_name_only_for_run() {
        assert_eq!(
            follow_cluster_name(&argv("ipfs-cluster-follow mycluster run")),
            Some("mycluster".into())
        );
        assert_eq!(
            follow_cluster_name(&argv(
                "/usr/bin/ipfs-cluster-follow -c /x mycluster run --init u"
            )),
            Some("mycluster".into())
        );
        assert_eq!(
            follow_cluster_name(&argv("ipfs-cluster-follow mycluster list")),
            None
        );
        assert_eq!(follow_cluster_name(&argv("ipfs-cluster-follow")), None);
        assert_eq!(
            follow_cluster_name(&argv("ipfs-cluster-follow -config /x c run")),
            Some("c".into())
        );
        assert_eq!(
            follow_cluster_name(&argv("tail -f ipfs-cluster-follow")),
            None
        );
    }
}
