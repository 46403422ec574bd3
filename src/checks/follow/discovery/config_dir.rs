//! The followers configured under the follow config folder: every `<name>/` holding a
//! `service.json` or an `api-socket`, running or not.

use crate::net::http_client::Endpoint;

use super::{DiscoveryInput, Follower, Source};

/// The socket ipfs-cluster-follow `run` serves its API on, inside `<folder>/<name>/`.
pub const API_SOCKET: &str = "api-socket";
/// The configuration every follower folder holds (`ipfs-cluster-follow <name> init` writes it).
pub const CONFIG_FILE: &str = "service.json";

/// Every `<name>/` folder under the config folder that holds a `service.json` or an
/// `api-socket`: configured followers, running or not. A folder the exporter may not look into
/// is a follower too, whose API setting says why and how to fix it.
pub(super) fn from_config_dir(
    input: &DiscoveryInput<'_>,
    problems: &mut Vec<String>,
) -> Vec<Follower> {
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
                crate::host::permissions::folder_hint(dir, "the followers' folders")
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
                    std::io::ErrorKind::PermissionDenied => crate::host::permissions::folder_hint(
                        &folder,
                        "its service.json and api-socket",
                    ),
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
                untrusted_user: None,
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::follow::discovery::fixtures::*;
    use crate::checks::follow::discovery::*;

    #[test]
    fn a_missing_config_folder_is_no_problem() {
        let found = discover(&DiscoveryInput {
            max_followers: 3,
            ..input(
                Path::new("/nonexistent/.ipfs-cluster-follow"),
                &ProcessTable::default(),
            )
        });
        assert!(found.followers.is_empty());
        assert!(found.problems.is_empty());
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
}
