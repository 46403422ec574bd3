//! One list of followers from the three sources: flags first, then the config folder, then the
//! processes (each joining the follower it may, or standing apart), one follower per name and
//! endpoint, cut at `--follow.max-followers`.

use crate::net::http_client::Endpoint;

use super::config_dir::from_config_dir;
use super::flags::from_flags;
use super::processes::{from_processes, process_may_join};
use super::{Discovery, DiscoveryInput, Follower, Source};

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
            follower.untrusted_user = Some(user);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::follow::discovery::fixtures::*;
    use crate::checks::follow::discovery::*;
    use crate::host::process::ProcessInfo;

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
            environ: &environ,
            ..input(dir.path(), &procs)
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
                environ: &environ,
                ..input(dir.path(), &procs)
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
            max_followers: 3,
            ..input(dir.path(), &procs)
        });
        assert_eq!(found.followers.len(), 3);
        assert_eq!(found.dropped, 2);
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
            environ: &environ,
            max_followers: 3,
            ..input(dir.path(), &procs)
        });
        assert_eq!(found.followers.len(), 1);
        assert_eq!(found.shadowed.len(), 1, "{found:?}");
        assert!(
            found.shadowed[0].contains("/elsewhere/dup/api-socket"),
            "{:?}",
            found.shadowed
        );
    }

    /// 70 followers' processes of another user (uid 2000), pids 100 to 169: more than the cap.
    fn another_users_processes() -> Vec<ProcessInfo> {
        (0..70)
            .map(|i| {
                process_of(
                    2000,
                    100 + i,
                    &format!("ipfs-cluster-follow -c /x c{i} run"),
                )
            })
            .collect()
    }

    #[test]
    fn processes_never_push_configured_followers_out_of_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        stopped_follower(dir.path(), "zz-real");
        let procs = another_users_processes();
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
        let mut procs = another_users_processes();
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
}
