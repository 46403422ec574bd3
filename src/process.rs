//! The host's process table and binaries: who runs (`lotus daemon`, `ipfs-cluster-follow <name> run`),
//! with which environment, and which user owns what.
//!
//! Everything here reads `/proc` and `/etc/passwd`. The blocking readers are pure functions over a
//! root directory (so tests feed them a fake tree); [`scan`] runs them off the async runtime under
//! a deadline.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::{timeout_at, Instant};

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

/// Most bytes of a `/proc/<pid>/cmdline` read (argv can reach megabytes).
pub const MAX_CMDLINE_BYTES: u64 = 64 * 1024;

/// Scans of the process table that may be in flight at once. Rounds that overlap (a hurried
/// scrape's and a patient one's) each scan; a scan stuck in the kernel past its deadline keeps
/// its thread, so this many stuck ones stop further scans instead of piling up threads.
pub const MAX_SCANS_IN_FLIGHT: usize = 4;

static SCANS_IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One scan's place among the [`MAX_SCANS_IN_FLIGHT`], given back when dropped.
struct ScanGuard;

impl ScanGuard {
    fn take() -> Option<ScanGuard> {
        use std::sync::atomic::Ordering;
        SCANS_IN_FLIGHT
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_SCANS_IN_FLIGHT).then_some(n + 1)
            })
            .ok()
            .map(|_| ScanGuard)
    }
}

impl Drop for ScanGuard {
    fn drop(&mut self) {
        SCANS_IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// `/proc/<pid>/cmdline`, capped at [`MAX_CMDLINE_BYTES`].
pub fn read_cmdline(dir: &Path) -> Option<Vec<u8>> {
    match crate::files::read_capped_here(&dir.join("cmdline"), MAX_CMDLINE_BYTES) {
        Ok(Some(raw)) => Some(raw),
        Err(crate::files::ReadError::TooLarge { .. }) => {
            use std::io::Read;
            let file = std::fs::File::open(dir.join("cmdline")).ok()?;
            let mut raw = Vec::new();
            file.take(MAX_CMDLINE_BYTES).read_to_end(&mut raw).ok()?;
            Some(raw)
        }
        _ => None,
    }
}

/// Read the process table from `/proc` before `deadline` (every process read afresh).
pub async fn scan(deadline: Instant) -> Result<ProcessTable, ProcessError> {
    scan_root(PathBuf::from("/proc"), deadline).await
}

/// Read the process table from a `/proc`-shaped directory before `deadline`.
pub async fn scan_root(root: PathBuf, deadline: Instant) -> Result<ProcessTable, ProcessError> {
    let Some(guard) = ScanGuard::take() else {
        return Err(ProcessError::StillRunning);
    };
    let task = tokio::task::spawn_blocking(move || {
        let _guard = guard;
        read_process_table(&root)
    });
    match timeout_at(deadline, task).await {
        Err(_) => Err(ProcessError::TimedOut),
        Ok(Err(join)) => Err(ProcessError::Join(join.to_string())),
        Ok(Ok(result)) => result,
    }
}

/// Read the process table from `/proc` before `deadline`, reading the command line only of
/// processes `cache` does not know as they are (see [`ProcessCache`]).
pub async fn scan_cached(
    deadline: Instant,
    cache: Arc<Mutex<ProcessCache>>,
) -> Result<ProcessTable, ProcessError> {
    let Some(guard) = ScanGuard::take() else {
        return Err(ProcessError::StillRunning);
    };
    let task = tokio::task::spawn_blocking(move || {
        let _guard = guard;
        // Taken out for the scan, so no lock is held across the reads; a scan still running
        // from a timed-out round leaves the next one an empty cache.
        let mut taken = std::mem::take(&mut *lock(&cache));
        let table = read_process_table_cached(Path::new("/proc"), &mut taken);
        publish_keys(&taken);
        *lock(&cache) = taken;
        table
    });
    match timeout_at(deadline, task).await {
        Err(_) => Err(ProcessError::TimedOut),
        Ok(Err(join)) => Err(ProcessError::Join(join.to_string())),
        Ok(Ok(result)) => result,
    }
}

/// A poisoned cache is only command lines still checked on use: keep using it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Blocking: read every `<root>/<pid>/cmdline` and `comm`. Processes that vanish mid-scan are skipped.
pub fn read_process_table(root: &Path) -> Result<ProcessTable, ProcessError> {
    read_process_table_cached(root, &mut ProcessCache::default())
}

/// What identifies one program run: `exec` keeps the pid (and the process's `/proc/<pid>`
/// directory) but changes the executable; a reused pid is another process with another
/// `/proc/<pid>` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessKey {
    /// The inode of `/proc/<pid>`, which the kernel ties to one process for as long as it lives
    /// (a reused pid gets a new one): the start time, without reading `stat`. A directory the
    /// kernel merely dropped from its cache and made again also changes it, which costs only a read.
    pub instance: u64,
    /// The `exe` link; `None` for a kernel thread or a zombie (which cannot `exec`).
    pub exe: Option<PathBuf>,
}

/// Each process's command line, kept while its [`ProcessKey`] stays the same, so a scan lists
/// `/proc` and reads each `exe` link but reads `cmdline` and `comm` only of new or changed
/// processes. A process whose `exe` this user may not read (another user's, without privileges)
/// could `exec` unseen, so it is read on every scan.
#[derive(Debug, Default)]
pub struct ProcessCache {
    entries: HashMap<u32, (ProcessKey, ProcessInfo)>,
    cmdline_reads: u64,
    exe_reads: u64,
}

impl ProcessCache {
    /// How many `cmdline` files were read (for tests and benchmarks: counted, not timed).
    pub fn cmdline_reads(&self) -> u64 {
        self.cmdline_reads
    }

    /// How many `exe` links were read (counted, not timed).
    pub fn exe_reads(&self) -> u64 {
        self.exe_reads
    }
}

/// Blocking: the process table under `root`, reading `cmdline` only of processes `cache` does
/// not know as they are. Processes that vanish mid-scan are skipped and forgotten.
pub fn read_process_table_cached(
    root: &Path,
    cache: &mut ProcessCache,
) -> Result<ProcessTable, ProcessError> {
    use std::os::unix::fs::DirEntryExt;
    let entries = std::fs::read_dir(root).map_err(|source| ProcessError::List {
        path: root.to_path_buf(),
        source,
    })?;
    let mut kept = HashMap::with_capacity(cache.entries.len());
    let mut processes = Vec::with_capacity(cache.entries.len());
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        // A kernel thread or a zombie seen before (no executable, the same `/proc/<pid>`) can
        // never exec: it is known without even reading its `exe` link.
        let never_execs = cache
            .entries
            .get(&pid)
            .is_some_and(|(key, _)| key.exe.is_none() && key.instance == entry.ino());
        if never_execs {
            if let Some((cached_key, info)) = cache.entries.remove(&pid) {
                processes.push(info.clone());
                kept.insert(pid, (cached_key, info));
                continue;
            }
        }
        cache.exe_reads += 1;
        let (exe, cacheable) = match std::fs::read_link(dir.join("exe")) {
            Ok(exe) => (Some(exe), true),
            // A kernel thread or a zombie has no executable, and never gets one.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => (None, true),
            // Not ours to see: an exec would go unseen, so it is read every time.
            Err(_) => (None, false),
        };
        let key = ProcessKey {
            instance: entry.ino(),
            exe,
        };
        let info = match cache.entries.remove(&pid) {
            Some((cached_key, info)) if cacheable && cached_key == key => info,
            _ => {
                cache.cmdline_reads += 1;
                let Some(cmdline) = read_cmdline(&dir) else {
                    continue;
                };
                let comm = std::fs::read_to_string(dir.join("comm"))
                    .map(|c| c.trim_end().to_string())
                    .unwrap_or_default();
                let uid = {
                    use std::os::unix::fs::MetadataExt;
                    std::fs::metadata(&dir).ok().map(|meta| meta.uid())
                };
                ProcessInfo {
                    pid,
                    argv: split_cmdline(&cmdline),
                    comm,
                    uid,
                }
            }
        };
        if cacheable {
            kept.insert(pid, (key, info.clone()));
        }
        processes.push(info);
    }
    // Processes not seen this time have exited: forgotten.
    cache.entries = kept;
    processes.sort_by_key(|p| p.pid);
    // PID 1 is visible to everyone unless /proc hides other users' processes (hidepid=1,2).
    let others_hidden = !processes.iter().any(|p| p.pid == 1);
    Ok(ProcessTable {
        processes,
        others_hidden,
    })
}

/// Split a `/proc/<pid>/cmdline` buffer into arguments.
pub fn split_cmdline(raw: &[u8]) -> Vec<String> {
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Parse a `/proc/<pid>/environ` buffer into `(name, value)` pairs.
pub fn parse_environ(raw: &[u8]) -> Vec<(String, String)> {
    raw.split(|b| *b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (name, value) = entry.split_once('=')?;
            (!name.is_empty()).then(|| (name.to_string(), value.to_string()))
        })
        .collect()
}

/// Environments read by [`read_environ`], kept per process while the last [`scan_cached`]
/// still sees that process under the same [`ProcessKey`] (an `exec` or a reused pid drops it).
static ENVIRONS: Mutex<EnvironCache> = Mutex::new(EnvironCache {
    keys: None,
    environs: Vec::new(),
});

/// Most environments kept (followers are capped at a few dozen).
const MAX_ENVIRONS: usize = 256;

struct EnvironCache {
    /// The keys of the processes the last cached scan saw.
    keys: Option<HashMap<u32, ProcessKey>>,
    environs: Vec<(u32, ProcessKey, Environ)>,
}

/// A process environment as `(name, value)` pairs.
type Environ = Vec<(String, String)>;

/// After a scan: remember its keys, forget environments of processes gone or changed.
fn publish_keys(cache: &ProcessCache) {
    let keys: HashMap<u32, ProcessKey> = cache
        .entries
        .iter()
        .map(|(pid, (key, _))| (*pid, key.clone()))
        .collect();
    let mut environs = lock(&ENVIRONS);
    environs
        .environs
        .retain(|(pid, key, _)| keys.get(pid) == Some(key));
    environs.keys = Some(keys);
}

/// Read another process's environment, when this user may (`None` when not readable); reused
/// while the process is the one the last scan saw (see [`ProcessCache`]).
pub fn read_environ(pid: u32) -> Option<Vec<(String, String)>> {
    let key = {
        let cache = lock(&ENVIRONS);
        let key = cache.keys.as_ref().and_then(|keys| keys.get(&pid)).cloned();
        if let Some(key) = &key {
            let hit = cache
                .environs
                .iter()
                .find(|(p, k, _)| *p == pid && k == key);
            if let Some((_, _, environ)) = hit {
                return Some(environ.clone());
            }
        }
        key
    };
    let environ = read_environ_uncached(pid)?;
    if let Some(key) = key {
        let mut cache = lock(&ENVIRONS);
        if cache.environs.len() < MAX_ENVIRONS {
            cache.environs.push((pid, key, environ.clone()));
        }
    }
    Some(environ)
}

fn read_environ_uncached(pid: u32) -> Option<Vec<(String, String)>> {
    let path = PathBuf::from(format!("/proc/{pid}/environ"));
    crate::files::read_capped(&path, ENVIRON_CAP)
        .ok()
        .flatten()
        .map(|raw| parse_environ(&raw))
}

/// Largest process environment read (Linux caps argv + environ at a few MiB).
const ENVIRON_CAP: u64 = 1 << 20;

/// The home directory of the user who owns a process, from `/etc/passwd`.
pub fn owner_home(pid: u32) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(format!("/proc/{pid}")).ok()?.uid();
    let passwd = crate::permissions::read_passwd()?;
    home_dir_in(&passwd, uid)
}

/// The home directory of `uid` in a passwd-format text.
pub fn home_dir_in(passwd: &str, uid: u32) -> Option<PathBuf> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let line_uid: u32 = fields.get(2)?.parse().ok()?;
        let home = fields.get(5).filter(|h| !h.is_empty())?;
        (line_uid == uid).then(|| PathBuf::from(home))
    })
}

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

/// The user name for a uid, from `/etc/passwd`.
pub fn user_name(uid: u32) -> Option<String> {
    crate::permissions::user_name(uid)
}

/// The user name for a uid in a passwd-format text.
pub fn user_name_in(passwd: &str, uid: u32) -> Option<String> {
    crate::permissions::name_in(passwd, uid)
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

/// A generous bound for one blocking read of `/proc` or a small config file.
pub const FILE_READ_TIMEOUT: Duration = Duration::from_secs(2);

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

    #[test]
    fn parses_cmdline_and_environ_buffers() {
        assert_eq!(split_cmdline(b"lotus\0daemon\0"), vec!["lotus", "daemon"]);
        assert_eq!(
            parse_environ(b"A=1\0IPFS_CLUSTER_PATH=/x=y\0junk\0=v\0"),
            vec![
                ("A".to_string(), "1".to_string()),
                ("IPFS_CLUSTER_PATH".to_string(), "/x=y".to_string())
            ]
        );
    }

    #[test]
    fn looks_up_user_names() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nlotus:x:1001:1001::/home/lotus:/bin/sh\nbroken\n";
        assert_eq!(user_name_in(passwd, 1001), Some("lotus".into()));
        assert_eq!(user_name_in(passwd, 5), None);
        assert_eq!(
            home_dir_in(passwd, 1001),
            Some(PathBuf::from("/home/lotus"))
        );
        assert_eq!(home_dir_in(passwd, 0), Some(PathBuf::from("/root")));
        assert_eq!(home_dir_in(passwd, 7), None);
    }

    #[test]
    fn command_lines_are_read_again_only_for_new_or_changed_processes() {
        let dir = tempfile::tempdir().unwrap();
        // A new process under `pid`: its directory is made before the old one goes, so it is
        // another inode, as the kernel's /proc/<pid> of a new process is.
        let start = |pid: u32, cmdline: &[u8], exe: &str| {
            let fresh = dir.path().join(format!("{pid}.new"));
            std::fs::create_dir_all(&fresh).unwrap();
            std::fs::write(fresh.join("cmdline"), cmdline).unwrap();
            std::os::unix::fs::symlink(exe, fresh.join("exe")).unwrap();
            let old = dir.path().join(pid.to_string());
            let _ = std::fs::remove_dir_all(&old);
            std::fs::rename(&fresh, &old).unwrap();
        };
        // exec: the same process (directory), another executable and command line.
        let exec = |pid: u32, cmdline: &[u8], exe: &str| {
            let proc_dir = dir.path().join(pid.to_string());
            std::fs::write(proc_dir.join("cmdline"), cmdline).unwrap();
            std::fs::remove_file(proc_dir.join("exe")).unwrap();
            std::os::unix::fs::symlink(exe, proc_dir.join("exe")).unwrap();
        };
        let argv = |table: &ProcessTable, pid| table.get(pid).map(|p| p.argv.join(" "));
        start(1, b"init\0", "/sbin/init");
        start(10, b"lotus\0daemon\0", "/usr/bin/lotus");
        let mut cache = ProcessCache::default();
        let table = read_process_table_cached(dir.path(), &mut cache).unwrap();
        assert_eq!(argv(&table, 10).as_deref(), Some("lotus daemon"));
        assert_eq!(cache.cmdline_reads(), 2);

        // Nothing changed: nothing read again.
        let table = read_process_table_cached(dir.path(), &mut cache).unwrap();
        assert_eq!(table.processes.len(), 2);
        assert_eq!(cache.cmdline_reads(), 2);

        // A kernel thread (no executable) seen before is not even looked at again.
        let kthread = dir.path().join("2");
        std::fs::create_dir_all(&kthread).unwrap();
        std::fs::write(kthread.join("cmdline"), b"").unwrap();
        read_process_table_cached(dir.path(), &mut cache).unwrap();
        let exe_reads = cache.exe_reads();
        read_process_table_cached(dir.path(), &mut cache).unwrap();
        assert_eq!(
            cache.exe_reads(),
            exe_reads + 2,
            "only the two with an executable"
        );

        exec(
            10,
            b"ipfs-cluster-follow\0c\0run\0",
            "/usr/bin/ipfs-cluster-follow",
        );
        let table = read_process_table_cached(dir.path(), &mut cache).unwrap();
        assert_eq!(
            argv(&table, 10).as_deref(),
            Some("ipfs-cluster-follow c run")
        );
        assert_eq!(table.follow_peers().count(), 1);
        assert_eq!(
            cache.cmdline_reads(),
            4,
            "init, lotus, the kernel thread, the exec"
        );

        // The pid reused by a new run of the same program.
        start(
            10,
            b"ipfs-cluster-follow\0d\0run\0",
            "/usr/bin/ipfs-cluster-follow",
        );
        let table = read_process_table_cached(dir.path(), &mut cache).unwrap();
        assert_eq!(
            argv(&table, 10).as_deref(),
            Some("ipfs-cluster-follow d run")
        );

        // It exits: gone from the very next scan.
        std::fs::remove_dir_all(dir.path().join("10")).unwrap();
        let table = read_process_table_cached(dir.path(), &mut cache).unwrap();
        assert_eq!(argv(&table, 10), None);
        assert_eq!(table.follow_peers().count(), 0);

        // A process whose exe cannot be read (here: a link that is not one) is read every time.
        let hidden = dir.path().join("20");
        std::fs::create_dir_all(hidden.join("exe")).unwrap();
        std::fs::write(hidden.join("cmdline"), b"lotus\0daemon\0").unwrap();
        let reads = cache.cmdline_reads();
        read_process_table_cached(dir.path(), &mut cache).unwrap();
        read_process_table_cached(dir.path(), &mut cache).unwrap();
        assert_eq!(cache.cmdline_reads(), reads + 2);
    }

    #[tokio::test]
    async fn environments_are_kept_while_the_process_is_the_same() {
        let own = std::process::id();
        let deadline = Instant::now() + Duration::from_secs(20);
        let cache = Arc::default();
        let table = scan_cached(deadline, Arc::clone(&cache)).await.unwrap();
        assert!(table.get(own).is_some());
        let first = read_environ(own).expect("our own environment");
        let cached = |pid| lock(&ENVIRONS).environs.iter().any(|(p, _, _)| *p == pid);
        assert!(cached(own));
        assert_eq!(read_environ(own), Some(first));
        // A process the last scan did not see is read, not kept.
        assert!(read_environ(u32::MAX).is_none());
        assert!(!cached(u32::MAX));
    }

    #[test]
    fn reads_a_fake_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("42");
        std::fs::create_dir(&pid).unwrap();
        std::fs::write(pid.join("cmdline"), b"lotus\0daemon\0").unwrap();
        std::fs::write(pid.join("comm"), "lotus\n").unwrap();
        std::fs::create_dir(dir.path().join("self-not-a-pid")).unwrap();
        let table = read_process_table(dir.path()).unwrap();
        assert!(
            table.others_hidden,
            "no PID 1 in sight: other users' processes are hidden"
        );
        assert_eq!(table.running(false), None);
        assert_eq!(table.running(true), Some(true));
        assert_eq!(table.processes.len(), 1);
        assert_eq!(table.lotus_daemons().count(), 1);
        assert_eq!(table.processes[0].program(), "lotus");
    }
}
