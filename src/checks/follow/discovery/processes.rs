//! The followers found among running `ipfs-cluster-follow <name> run` processes: where each one's
//! folder and API are (its arguments and environment), and whether it may join a follower found
//! before (its user must be trusted with that follower).

use std::path::{Path, PathBuf};

use crate::net::http_client::Endpoint;
use crate::net::multiaddr::Multiaddr;

use super::{DiscoveryInput, FollowProcess, Follower, Source, API_SOCKET};

/// Env var ipfs-cluster-follow reads for its config folder (`cmd/ipfs-cluster-follow/main.go`).
pub const CLUSTER_PATH_ENV: &str = "IPFS_CLUSTER_PATH";
/// Env var that moves the follow REST API (`api/rest/config.go`, prefix `cluster_restapi`).
pub const API_ADDRESS_ENV: &str = "CLUSTER_RESTAPI_HTTPLISTENMULTIADDRESS";

/// Every `ipfs-cluster-follow <name> run` process as a follower, with the process's owner.
pub(super) fn from_processes<'a>(
    input: &'a DiscoveryInput<'a>,
) -> impl Iterator<Item = (Follower, Option<u32>)> + 'a {
    input.procs.follow_peers().map(move |(process, name)| {
        let (env, default_dir) = match (input.environ)(process.pid) {
            Some(env) => (env, input.config_dir.to_path_buf()),
            // Another user's process: its folder is most likely under its owner's home.
            None => {
                let guess = process
                    .uid
                    .and_then(input.owner_home)
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
            untrusted_user: None,
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

/// Whether the running follower `process` (of user `uid`) is the follower `kept` found before:
/// `Some(true)` when its user may run it, `Some(false)` when it is named like a `--follow.api`
/// follower but its user cannot be verified (it joins that follower, which then reads "running
/// unknown", rather than showing as a second, unreachable one), `None` when it is another.
pub(super) fn process_may_join(
    kept: &Follower,
    process: &Follower,
    uid: Option<u32>,
    trusted_user: bool,
    input: &DiscoveryInput<'_>,
) -> Option<bool> {
    let found = process.process.as_ref()?;
    match kept.source {
        Source::ConfigDir => (kept.name == found.cluster_name
            && crate::host::same_folder(&found.folder, input.config_dir)
            && uid.is_some()
            && uid == kept.folder_owner)
            .then_some(true),
        Source::Flag if kept.same_as(process) => {
            Some(trusted_user || (uid.is_some() && uid == kept.folder_owner))
        }
        Source::Flag | Source::Process => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::follow::discovery::fixtures::*;
    use crate::checks::follow::discovery::*;
    use crate::host::process::ProcessInfo;

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

    #[test]
    fn another_users_follower_is_looked_for_under_its_owners_home() {
        let procs = ProcessTable {
            processes: vec![process_of(1001, 77, "ipfs-cluster-follow shared run")],
            ..ProcessTable::default()
        };
        let found = discover(&DiscoveryInput {
            owner_home: &|uid| (uid == 1001).then(|| PathBuf::from("/home/ipfs")),
            max_followers: 3,
            ..input(Path::new("/root/.ipfs-cluster-follow"), &procs)
        });
        assert_eq!(
            found.followers[0].api,
            Ok(Endpoint::Unix(
                "/home/ipfs/.ipfs-cluster-follow/shared/api-socket".into()
            ))
        );
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
            environ: &|_| Some(Vec::new()),
            owner_of: &owner_of,
            ..input(Path::new("/nonexistent/follow"), &procs)
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
            ..input(dir.path(), &procs)
        });
        // One follower, not a second `user2000/mycluster`; its API stays the flag's.
        assert_eq!(found.followers.len(), 1, "{found:?}");
        let follower = &found.followers[0];
        assert_eq!(follower.api, Ok(tcp("127.0.0.1", 9094)));
        let process = follower.process.as_ref().unwrap();
        assert_eq!((process.pid, process.verified), (77, false));
    }
}
