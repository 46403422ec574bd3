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
}

/// Read the process table from `/proc` before `deadline` (every process read afresh).
pub async fn scan(deadline: Instant) -> Result<ProcessTable, ProcessError> {
    scan_root(PathBuf::from("/proc"), deadline).await
}

/// Read the process table from a `/proc`-shaped directory before `deadline`.
pub async fn scan_root(root: PathBuf, deadline: Instant) -> Result<ProcessTable, ProcessError> {
    let task = tokio::task::spawn_blocking(move || read_process_table(&root));
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
    let task = tokio::task::spawn_blocking(move || {
        // Taken out for the scan, so no lock is held across the reads; a scan still running
        // from a timed-out round leaves the next one an empty cache.
        let mut taken = std::mem::take(&mut *lock(&cache));
        let table = read_process_table_cached(Path::new("/proc"), &mut taken);
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

/// What identifies one program run: `exec` keeps the pid and the start time but changes the
/// executable, and a reused pid has another start time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessKey {
    /// Field 22 of `/proc/<pid>/stat`, in clock ticks since boot.
    pub start_time: u64,
    /// The `exe` link; `None` for a kernel thread.
    pub exe: Option<PathBuf>,
}

/// Each process's command line, kept while its [`ProcessKey`] stays the same, so a scan reads
/// `stat` and `exe` of every process but `cmdline` only of new or changed ones. A process whose
/// `exe` this user may not read (another user's, without privileges) could `exec` unseen, so its
/// command line is read on every scan; kernel threads never `exec`.
#[derive(Debug, Default)]
pub struct ProcessCache {
    entries: HashMap<u32, (ProcessKey, ProcessInfo)>,
    cmdline_reads: u64,
}

impl ProcessCache {
    /// How many `cmdline` files were read (for tests and benchmarks: counted, not timed).
    pub fn cmdline_reads(&self) -> u64 {
        self.cmdline_reads
    }
}

/// Blocking: the process table under `root`, reading `cmdline` only of processes `cache` does
/// not know as they are. Processes that vanish mid-scan are skipped and forgotten.
pub fn read_process_table_cached(
    root: &Path,
    cache: &mut ProcessCache,
) -> Result<ProcessTable, ProcessError> {
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
        let Some(stat) = read_stat(&dir) else {
            continue;
        };
        let exe = std::fs::read_link(dir.join("exe")).ok();
        // Without the exe link an exec would go unseen: such a process is read every time.
        let cacheable = exe.is_some() || stat.kernel_thread;
        let key = ProcessKey {
            start_time: stat.start_time,
            exe,
        };
        let cached = cache.entries.remove(&pid);
        let info = match cached {
            Some((cached_key, info)) if cacheable && cached_key == key => info,
            _ => {
                cache.cmdline_reads += 1;
                let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
                    continue;
                };
                ProcessInfo {
                    pid,
                    argv: split_cmdline(&cmdline),
                    comm: stat.comm,
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

/// What a scan needs from `/proc/<pid>/stat`.
struct Stat {
    comm: String,
    start_time: u64,
    kernel_thread: bool,
}

/// `PF_KTHREAD` in the `flags` field of `/proc/<pid>/stat`.
const PF_KTHREAD: u64 = 0x0020_0000;

fn read_stat(dir: &Path) -> Option<Stat> {
    let text = std::fs::read_to_string(dir.join("stat")).ok()?;
    parse_stat(&text)
}

/// `pid (comm) state ppid ...`: the comm may hold spaces and parentheses, so it ends at the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    // Fields after the comm, numbered from 3 (state).
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let flags: u64 = rest.get(9 - 3)?.parse().ok()?;
    let start_time: u64 = rest.get(22 - 3)?.parse().ok()?;
    Some(Stat {
        comm,
        start_time,
        kernel_thread: flags & PF_KTHREAD != 0,
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

/// Read another process's environment, when this user may (`None` when not readable).
pub fn read_environ(pid: u32) -> Option<Vec<(String, String)>> {
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
    let passwd = crate::config::read_small_passwd()?;
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
    let passwd = crate::config::read_small_passwd()?;
    user_name_in(&passwd, uid)
}

/// The user name for a uid in a passwd-format text.
pub fn user_name_in(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let line_uid: u32 = fields.next()?.parse().ok()?;
        (line_uid == uid).then(|| name.to_string())
    })
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

    /// A `/proc/<pid>/stat` line with this comm, flags and start time.
    fn stat_line(pid: u32, comm: &str, flags: u64, start: u64) -> String {
        format!("{pid} ({comm}) S 1 1 1 0 -1 {flags} 0 0 0 0 0 0 0 0 20 0 1 0 {start} 0 0 0")
    }

    #[test]
    fn parses_stat_lines() {
        let stat = parse_stat(&stat_line(7, "a) (b", PF_KTHREAD, 99)).unwrap();
        assert_eq!(stat.comm, "a) (b");
        assert_eq!(stat.start_time, 99);
        assert!(stat.kernel_thread);
        assert!(parse_stat("7 (x) S 1").is_none());
        let own = read_stat(Path::new("/proc/self")).expect("our own stat");
        assert!(!own.kernel_thread);
    }

    #[test]
    fn command_lines_are_read_again_only_for_new_or_changed_processes() {
        let dir = tempfile::tempdir().unwrap();
        let process = |pid: u32, cmdline: &[u8], exe: &str, start: u64| {
            let proc_dir = dir.path().join(pid.to_string());
            std::fs::create_dir_all(&proc_dir).unwrap();
            std::fs::write(proc_dir.join("cmdline"), cmdline).unwrap();
            let comm = exe.rsplit('/').next().unwrap();
            std::fs::write(proc_dir.join("stat"), stat_line(pid, comm, 0, start)).unwrap();
            let _ = std::fs::remove_file(proc_dir.join("exe"));
            std::os::unix::fs::symlink(exe, proc_dir.join("exe")).unwrap();
        };
        let argv = |table: &ProcessTable, pid| table.get(pid).map(|p| p.argv.join(" "));
        process(1, b"init\0", "/sbin/init", 1);
        process(10, b"lotus\0daemon\0", "/usr/bin/lotus", 100);
        let mut cache = ProcessCache::default();
        let table = read_process_table_cached(dir.path(), &mut cache).unwrap();
        assert_eq!(argv(&table, 10).as_deref(), Some("lotus daemon"));
        assert_eq!(cache.cmdline_reads(), 2);

        // Nothing changed: nothing read again.
        let table = read_process_table_cached(dir.path(), &mut cache).unwrap();
        assert_eq!(table.processes.len(), 2);
        assert_eq!(cache.cmdline_reads(), 2);

        // exec: same pid and start time, another executable.
        process(
            10,
            b"ipfs-cluster-follow\0c\0run\0",
            "/usr/bin/ipfs-cluster-follow",
            100,
        );
        let table = read_process_table_cached(dir.path(), &mut cache).unwrap();
        assert_eq!(
            argv(&table, 10).as_deref(),
            Some("ipfs-cluster-follow c run")
        );
        assert_eq!(table.follow_peers().count(), 1);
        assert_eq!(cache.cmdline_reads(), 3);

        // The pid reused by a new run of the same program.
        process(
            10,
            b"ipfs-cluster-follow\0d\0run\0",
            "/usr/bin/ipfs-cluster-follow",
            200,
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

        // A process whose exe cannot be read is read every time.
        let hidden = dir.path().join("20");
        std::fs::create_dir_all(&hidden).unwrap();
        std::fs::write(hidden.join("cmdline"), b"lotus\0daemon\0").unwrap();
        std::fs::write(hidden.join("stat"), stat_line(20, "lotus", 0, 300)).unwrap();
        let reads = cache.cmdline_reads();
        read_process_table_cached(dir.path(), &mut cache).unwrap();
        read_process_table_cached(dir.path(), &mut cache).unwrap();
        assert_eq!(cache.cmdline_reads(), reads + 2);
    }

    #[test]
    fn reads_a_fake_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("42");
        std::fs::create_dir(&pid).unwrap();
        std::fs::write(pid.join("cmdline"), b"lotus\0daemon\0").unwrap();
        std::fs::write(pid.join("stat"), stat_line(42, "lotus", 0, 1000)).unwrap();
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
