//! Which processes hold each listening socket, found through the `/proc/<pid>/fd` links and
//! remembered per socket inode, so a scan searches the fd folders only for sockets not seen before.
//!
//! Walking every `/proc/<pid>/fd` costs one `readlink` per open file of every process (a host with
//! thousands of libp2p connections has thousands; a local user can hold 100,000 and open a new
//! listener every few hundred milliseconds). A remembered owner is re-checked on every scan
//! with one `readlink` of the very fd it was found at: a process that exited or closed the socket
//! is forgotten at once, and a socket that lost every known holder (its parent exited, a child
//! kept it) is searched again. Sockets that stopped listening are dropped. Nothing here decides
//! what listens: that comes fresh from the kernel on every scan.
//!
//! # A budget per scan
//! One scan looks at most [`OWNER_LOOKUP_BUDGET`] fd links (re-checks included), for at most
//! [`OWNER_LOOKUP_TIME`]. A search that
//! needs more stops there and goes on at the next scan where it stopped (the known services'
//! processes first, then every other); until it finds a socket's owner, that owner is unknown
//! (shown as `unknown`, as another user's socket is without privileges), and each scan cut short
//! is counted (`lotus_follow_exporter_socket_owner_lookups_cut_total`). A socket no visible
//! process holds is remembered as such once a whole search has passed without finding it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long a socket's holders, once found, are trusted before the fd folders are searched for it
/// again (to see holders that appeared later: a `fork` after `listen`, an fd passed over a socket).
pub const OWNER_CACHE_TTL: Duration = Duration::from_secs(60);

/// Most fd links one scan looks at (about 10 ms of `readlink`s): a scan of a host where one
/// process holds 100,000 descriptors costs a few times a scan at rest, not a second.
pub const OWNER_LOOKUP_BUDGET: usize = 4096;

/// And the longest one scan searches, whatever the links cost (a slow or busy host).
pub const OWNER_LOOKUP_TIME: Duration = Duration::from_millis(20);

/// The holders found for one socket inode.
#[derive(Debug, Clone)]
struct Entry {
    /// `(pid, fd)` where the socket was found; empty when no visible process holds it (another
    /// user's process, and no privilege to read its fd folder).
    holders: Vec<(u32, u32)>,
    found_at: Instant,
}

/// A search of the fd folders in progress, resumed scan after scan.
#[derive(Debug, Default)]
struct Search {
    /// The sockets searched for since the search began.
    wanted: HashSet<u64>,
    /// Sockets added after it began: not settled by its end (the folders before were not
    /// searched for them), searched again.
    late: HashSet<u64>,
    found: HashMap<u64, Vec<(u32, u32)>>,
    /// Processes not searched yet, in order.
    queue: VecDeque<u32>,
    /// The process being searched, and its fd folder's remaining entries.
    current: Option<(u32, std::fs::ReadDir)>,
}

/// Socket owners remembered across scans.
#[derive(Debug)]
pub struct OwnerCache {
    entries: HashMap<u64, Entry>,
    walks: u64,
    search: Option<Search>,
    budget: usize,
    /// Links looked at by the last scan (for tests: counted, not timed).
    looked: usize,
}

impl Default for OwnerCache {
    fn default() -> OwnerCache {
        OwnerCache::with_budget(OWNER_LOOKUP_BUDGET)
    }
}

impl OwnerCache {
    /// A cache whose scans look at most `budget` fd links each.
    pub fn with_budget(budget: usize) -> OwnerCache {
        OwnerCache {
            entries: HashMap::new(),
            walks: 0,
            search: None,
            budget,
            looked: 0,
        }
    }

    /// How many searches of the fd folders were begun (for tests and benchmarks: counted, not
    /// timed).
    pub fn walks(&self) -> u64 {
        self.walks
    }

    /// The fd links the last scan looked at.
    pub fn looked(&self) -> usize {
        self.looked
    }

    /// [`OwnerCache::owners_preferring`] with no process searched first.
    pub fn owners(&mut self, root: &Path, inodes: &HashSet<u64>) -> HashMap<u64, Vec<u32>> {
        self.owners_preferring(root, inodes, &[])
    }

    /// The pids holding each of `inodes` (sorted; inodes with no holder found yet left out),
    /// from the remembered holders still true and, within the budget, the search of `<root>/*/fd`
    /// for the others (`preferred` pids first).
    pub fn owners_preferring(
        &mut self,
        root: &Path,
        inodes: &HashSet<u64>,
        preferred: &[u32],
    ) -> HashMap<u64, Vec<u32>> {
        let mut budget = self.budget;
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
            entry.holders.retain(|(pid, fd)| {
                // Out of budget: taken as still true until the next scan re-checks it.
                if budget == 0 {
                    return true;
                }
                budget -= 1;
                holds(root, *pid, *fd, *inode)
            });
            if had > 0 && entry.holders.is_empty() {
                missing.insert(*inode);
            }
        }
        if let Some(search) = &mut self.search {
            search.wanted.retain(|inode| inodes.contains(inode));
        }
        missing.retain(|inode| {
            self.search
                .as_ref()
                .is_none_or(|s| !s.wanted.contains(inode))
        });
        if !missing.is_empty() || self.search.is_some() {
            budget = self.search_within(root, missing, preferred, budget);
        }
        self.looked = self.budget - budget;
        let mut owners: HashMap<u64, Vec<u32>> = HashMap::new();
        let searching = self.search.iter().flat_map(|s| s.found.iter());
        for (inode, holders) in self
            .entries
            .iter()
            .map(|(inode, entry)| (inode, &entry.holders))
            .chain(searching)
        {
            if inodes.contains(inode) {
                owners
                    .entry(*inode)
                    .or_default()
                    .extend(holders.iter().map(|(pid, _)| *pid));
            }
        }
        owners.retain(|_, pids| {
            pids.sort_unstable();
            pids.dedup();
            !pids.is_empty()
        });
        owners
    }

    /// Go on with the search (begin one for `missing` when none runs), looking at most `budget`
    /// links; what is left of the budget.
    fn search_within(
        &mut self,
        root: &Path,
        missing: HashSet<u64>,
        preferred: &[u32],
        mut budget: usize,
    ) -> usize {
        let began = Instant::now();
        let search = match &mut self.search {
            Some(search) => {
                search.late.extend(missing.iter().copied());
                search.wanted.extend(missing);
                search
            }
            None => {
                self.walks += 1;
                let mut queue: VecDeque<u32> = preferred.iter().copied().collect();
                let seen: HashSet<u32> = queue.iter().copied().collect();
                queue.extend(list_pids(root).into_iter().filter(|p| !seen.contains(p)));
                self.search.insert(Search {
                    wanted: missing,
                    queue,
                    ..Search::default()
                })
            }
        };
        while budget > 0 {
            if budget % 64 == 0 && began.elapsed() >= OWNER_LOOKUP_TIME {
                break;
            }
            let Some((pid, folder)) = &mut search.current else {
                let Some(pid) = search.queue.pop_front() else {
                    break;
                };
                budget -= 1;
                // Another user's fd folder is unreadable without privileges: its sockets stay
                // unknown.
                if let Ok(folder) = std::fs::read_dir(root.join(pid.to_string()).join("fd")) {
                    search.current = Some((pid, folder));
                }
                continue;
            };
            let Some(fd) = folder.next() else {
                search.current = None;
                continue;
            };
            budget -= 1;
            let Ok(fd) = fd else { continue };
            let Some(number) = fd.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if let Some(inode) = target.to_str().and_then(socket_inode) {
                if search.wanted.contains(&inode) {
                    search.found.entry(inode).or_default().push((*pid, number));
                }
            }
        }
        if search.current.is_none() && search.queue.is_empty() {
            self.finish_search();
        } else {
            crate::counters::OWNER_LOOKUPS_CUT.fetch_add(1, Ordering::Relaxed);
        }
        budget
    }

    /// Remember what a whole search found; sockets wanted only part of the way are searched again.
    fn finish_search(&mut self) {
        let Some(mut search) = self.search.take() else {
            return;
        };
        let now = Instant::now();
        for inode in search.wanted {
            let holders = search.found.remove(&inode).unwrap_or_default();
            if holders.is_empty() && search.late.contains(&inode) {
                continue;
            }
            self.entries.insert(
                inode,
                Entry {
                    holders,
                    found_at: now,
                },
            );
        }
    }
}

/// The pids under `<root>`, in order.
fn list_pids(root: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .collect();
    pids.sort_unstable();
    pids
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

/// Blocking: which pids hold each of `inodes` (one whole walk, no budget, nothing remembered:
/// a one-off look, such as naming who holds a busy listen port at start).
pub fn read_socket_owners(root: &Path, inodes: &HashSet<u64>) -> HashMap<u64, Vec<u32>> {
    OwnerCache::with_budget(usize::MAX).owners(root, inodes)
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

    #[test]
    fn a_scan_looks_at_no_more_than_its_budget_and_the_search_goes_on_next_time() {
        let tree = Tree::new();
        // A user with many open files, and a new listener held by another process.
        for fd in 0..2_000 {
            tree.open(50, fd, "/dev/null");
        }
        tree.open(60, 4, "socket:[555]");
        let budget = 300;
        let mut cache = OwnerCache::with_budget(budget);
        let cut_before = crate::counters::OWNER_LOOKUPS_CUT.load(Ordering::Relaxed);
        let mut scans = 0;
        let owners = loop {
            let owners = cache.owners(tree.root(), &set(&[555]));
            scans += 1;
            assert!(
                cache.looked() <= budget,
                "{} links looked at",
                cache.looked()
            );
            if !owners.is_empty() || scans > 20 {
                break owners;
            }
        };
        assert_eq!(owners[&555], vec![60], "found once the search got there");
        assert!(scans > 1, "the search was spread over several scans");
        assert_eq!(cache.walks(), 1, "one search, resumed");
        assert!(crate::counters::OWNER_LOOKUPS_CUT.load(Ordering::Relaxed) > cut_before);
        // Remembered: the next scans re-check one link.
        cache.owners(tree.root(), &set(&[555]));
        assert_eq!(cache.looked(), 1);
    }

    #[test]
    fn the_known_services_processes_are_searched_first() {
        let tree = Tree::new();
        for fd in 0..2_000 {
            tree.open(50, fd, "/dev/null");
        }
        tree.open(70, 3, "socket:[555]");
        let mut cache = OwnerCache::with_budget(100);
        let owners = cache.owners_preferring(tree.root(), &set(&[555]), &[70]);
        assert_eq!(owners[&555], vec![70], "found in the first scan");
    }

    #[test]
    fn a_socket_wanted_halfway_through_a_search_is_searched_again() {
        let tree = Tree::new();
        tree.open(10, 3, "socket:[555]");
        for fd in 0..50 {
            tree.open(20, fd, "/dev/null");
        }
        let mut cache = OwnerCache::with_budget(20);
        cache.owners(tree.root(), &set(&[555]));
        // Pid 10 was searched already: a socket of it wanted now is found by the next search.
        tree.open(10, 9, "socket:[777]");
        let mut found = None;
        for _ in 0..20 {
            let owners = cache.owners(tree.root(), &set(&[555, 777]));
            if owners.contains_key(&777) {
                found = Some(owners);
                break;
            }
        }
        let owners = found.expect("found by a later search");
        assert_eq!(
            (owners[&555].clone(), owners[&777].clone()),
            (vec![10], vec![10])
        );
    }
}
