//! Which processes hold each listening socket, found through the `/proc/<pid>/fd` links and
//! remembered per socket inode, so a scan searches the fd folders only for sockets not seen before.
//!
//! Walking every `/proc/<pid>/fd` costs one `readlink` per open file of every process (a host with
//! thousands of libp2p connections has thousands). A remembered owner is re-checked on every scan
//! with one `readlink` of the very fd it was found at: a process that exited or closed the socket
//! is forgotten at once, and a socket that lost every known holder (its parent exited, a child
//! kept it) is searched again. Sockets that stopped listening are dropped. Nothing here decides
//! what listens: that comes fresh from the kernel on every scan.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a socket's holders, once found, are trusted before the fd folders are searched for it
/// again (to see holders that appeared later: a `fork` after `listen`, an fd passed over a socket).
pub const OWNER_CACHE_TTL: Duration = Duration::from_secs(60);

/// The holders found for one socket inode.
#[derive(Debug, Clone)]
struct Entry {
    /// `(pid, fd)` where the socket was found; empty when no visible process holds it (another
    /// user's process, and no privilege to read its fd folder).
    holders: Vec<(u32, u32)>,
    found_at: Instant,
}

/// Socket owners remembered across scans.
#[derive(Debug, Default)]
pub struct OwnerCache {
    entries: HashMap<u64, Entry>,
    walks: u64,
}

impl OwnerCache {
    /// How many times the fd folders were walked (for tests and benchmarks: counted, not timed).
    pub fn walks(&self) -> u64 {
        self.walks
    }

    /// The pids holding each of `inodes` (sorted; inodes with no visible holder left out), from
    /// the remembered holders still true and one walk of `<root>/*/fd` for the others.
    pub fn owners(&mut self, root: &Path, inodes: &HashSet<u64>) -> HashMap<u64, Vec<u32>> {
        self.entries.retain(|inode, _| inodes.contains(inode));
        let mut missing = HashSet::new();
        for inode in inodes {
            let Some(entry) = self.entries.get_mut(inode) else {
                missing.insert(*inode);
                continue;
            };
            if entry.found_at.elapsed() >= OWNER_CACHE_TTL {
                missing.insert(*inode);
                continue;
            }
            let had = entry.holders.len();
            entry
                .holders
                .retain(|(pid, fd)| holds(root, *pid, *fd, *inode));
            if had > 0 && entry.holders.is_empty() {
                missing.insert(*inode);
            }
        }
        if !missing.is_empty() {
            self.walks += 1;
            let found = walk_fds(root, &missing);
            let now = Instant::now();
            for inode in missing {
                let holders = found.get(&inode).cloned().unwrap_or_default();
                self.entries.insert(
                    inode,
                    Entry {
                        holders,
                        found_at: now,
                    },
                );
            }
        }
        self.entries
            .iter()
            .filter(|(_, entry)| !entry.holders.is_empty())
            .map(|(inode, entry)| {
                let mut pids: Vec<u32> = entry.holders.iter().map(|(pid, _)| *pid).collect();
                pids.sort_unstable();
                pids.dedup();
                (*inode, pids)
            })
            .collect()
    }
}

/// Whether `<root>/<pid>/fd/<fd>` still links to this socket.
fn holds(root: &Path, pid: u32, fd: u32, inode: u64) -> bool {
    let link = root.join(pid.to_string()).join("fd").join(fd.to_string());
    std::fs::read_link(link)
        .ok()
        .and_then(|target| target.to_str().and_then(socket_inode))
        == Some(inode)
}

/// The inode of a `/proc/<pid>/fd/<n>` link target `socket:[12345]`.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Blocking: where each of `inodes` is open, as `(pid, fd)`, from the `<root>/<pid>/fd/*` links
/// this user may read.
pub fn walk_fds(root: &Path, inodes: &HashSet<u64>) -> HashMap<u64, Vec<(u32, u32)>> {
    let mut found: HashMap<u64, Vec<(u32, u32)>> = HashMap::new();
    if inodes.is_empty() {
        return found;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return found;
    };
    for pid in entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
    {
        // Another user's fd directory is unreadable without privileges: its sockets stay unknown.
        let Ok(fds) = std::fs::read_dir(root.join(pid.to_string()).join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Some(number) = fd.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = target.to_str().and_then(socket_inode) else {
                continue;
            };
            if inodes.contains(&inode) {
                found.entry(inode).or_default().push((pid, number));
            }
        }
    }
    found
}

/// Blocking: which pids hold each of `inodes` (one full walk, nothing remembered).
pub fn read_socket_owners(root: &Path, inodes: &HashSet<u64>) -> HashMap<u64, Vec<u32>> {
    OwnerCache::default().owners(root, inodes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Tree(tempfile::TempDir);

    impl Tree {
        fn new() -> Tree {
            Tree(tempfile::tempdir().unwrap())
        }
        fn root(&self) -> &Path {
            self.0.path()
        }
        fn open(&self, pid: u32, fd: u32, target: &str) {
            let dir = self.root().join(pid.to_string()).join("fd");
            std::fs::create_dir_all(&dir).unwrap();
            symlink(target, dir.join(fd.to_string())).unwrap();
        }
        fn close(&self, pid: u32, fd: u32) {
            let link = self
                .root()
                .join(pid.to_string())
                .join("fd")
                .join(fd.to_string());
            std::fs::remove_file(link).unwrap();
        }
        fn exit(&self, pid: u32) {
            std::fs::remove_dir_all(self.root().join(pid.to_string())).unwrap();
        }
    }

    fn set(inodes: &[u64]) -> HashSet<u64> {
        inodes.iter().copied().collect()
    }

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode("socket:[12345]"), Some(12345));
        assert_eq!(socket_inode("pipe:[12345]"), None);
        assert_eq!(socket_inode("socket:[]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn fd_folders_are_walked_only_for_sockets_not_seen_before() {
        let tree = Tree::new();
        tree.open(10, 3, "socket:[555]");
        tree.open(10, 0, "/dev/null");
        let mut cache = OwnerCache::default();
        let owners = cache.owners(tree.root(), &set(&[555]));
        assert_eq!(owners[&555], vec![10]);
        assert_eq!(cache.walks(), 1);

        // Same sockets: no walk.
        assert_eq!(cache.owners(tree.root(), &set(&[555]))[&555], vec![10]);
        assert_eq!(cache.walks(), 1);

        // A new listening socket: one walk, for it only.
        tree.open(11, 5, "socket:[777]");
        let owners = cache.owners(tree.root(), &set(&[555, 777]));
        assert_eq!(owners[&777], vec![11]);
        assert_eq!(owners[&555], vec![10]);
        assert_eq!(cache.walks(), 2);

        // A socket no visible process holds is remembered as such: no walk every scan.
        let owners = cache.owners(tree.root(), &set(&[555, 777, 999]));
        assert!(!owners.contains_key(&999));
        assert_eq!(cache.owners(tree.root(), &set(&[555, 777, 999])).len(), 2);
        assert_eq!(cache.walks(), 3);
    }

    #[test]
    fn an_exited_owner_is_gone_from_the_very_next_scan() {
        let tree = Tree::new();
        tree.open(10, 3, "socket:[555]");
        tree.open(11, 4, "socket:[555]");
        let mut cache = OwnerCache::default();
        assert_eq!(cache.owners(tree.root(), &set(&[555]))[&555], vec![10, 11]);

        // One holder exits: forgotten without a walk.
        tree.exit(10);
        assert_eq!(cache.owners(tree.root(), &set(&[555]))[&555], vec![11]);
        assert_eq!(cache.walks(), 1);

        // The last known holder closes it, but the socket still listens: search again.
        tree.close(11, 4);
        tree.open(12, 9, "socket:[555]");
        assert_eq!(cache.owners(tree.root(), &set(&[555]))[&555], vec![12]);
        assert_eq!(cache.walks(), 2);

        // A pid reused by another process at the same fd number with another file: not a holder.
        tree.exit(12);
        tree.open(12, 9, "socket:[888]");
        let owners = cache.owners(tree.root(), &set(&[555]));
        assert!(!owners.contains_key(&555), "{owners:?}");
    }

    #[test]
    fn a_socket_that_stopped_listening_is_forgotten() {
        let tree = Tree::new();
        tree.open(10, 3, "socket:[555]");
        let mut cache = OwnerCache::default();
        cache.owners(tree.root(), &set(&[555]));
        assert!(cache.owners(tree.root(), &set(&[])).is_empty());
        assert!(cache.entries.is_empty());
        // Listening again (same inode): searched again.
        cache.owners(tree.root(), &set(&[555]));
        assert_eq!(cache.walks(), 2);
    }
}
