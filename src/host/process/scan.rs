//! Reading the process table: every `/proc/<pid>` listed, its command line read (only when new
//! or changed, with a [`ProcessCache`]), off the async runtime and under a deadline.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::time::{timeout_at, Instant};

use super::environ::publish_keys;
use super::{lock, ProcessError, ProcessInfo, ProcessTable};

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

/// One process from its `/proc/<pid>` folder `dir`: command line, `comm` and owner; `None` when
/// its command line cannot be read (it exited).
pub fn read_process(dir: &Path, pid: u32) -> Option<ProcessInfo> {
    let cmdline = read_cmdline(dir)?;
    let comm = std::fs::read_to_string(dir.join("comm"))
        .map(|c| c.trim_end().to_string())
        .unwrap_or_default();
    let uid = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(dir).ok().map(|meta| meta.uid())
    };
    Some(ProcessInfo {
        pid,
        argv: split_cmdline(&cmdline),
        comm,
        uid,
    })
}

/// `/proc/<pid>/cmdline`, capped at [`MAX_CMDLINE_BYTES`].
pub fn read_cmdline(dir: &Path) -> Option<Vec<u8>> {
    match crate::host::files::read_capped_here(&dir.join("cmdline"), MAX_CMDLINE_BYTES) {
        Ok(Some(raw)) => Some(raw),
        Err(crate::host::files::ReadError::TooLarge { .. }) => {
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
    off_runtime(deadline, move || read_process_table(&root)).await
}

/// Read the process table from `/proc` before `deadline`, reading the command line only of
/// processes `cache` does not know as they are (see [`ProcessCache`]).
pub async fn scan_cached(
    deadline: Instant,
    cache: Arc<Mutex<ProcessCache>>,
) -> Result<ProcessTable, ProcessError> {
    off_runtime(deadline, move || {
        // Taken out for the scan, so no lock is held across the reads; a scan still running
        // from a timed-out round leaves the next one an empty cache.
        let mut taken = std::mem::take(&mut *lock(&cache));
        let table = read_process_table_cached(Path::new("/proc"), &mut taken);
        publish_keys(&taken);
        *lock(&cache) = taken;
        table
    })
    .await
}

/// Run one blocking scan off the async runtime before `deadline`, holding one of the
/// [`MAX_SCANS_IN_FLIGHT`] places while it runs (past the deadline too).
async fn off_runtime(
    deadline: Instant,
    read: impl FnOnce() -> Result<ProcessTable, ProcessError> + Send + 'static,
) -> Result<ProcessTable, ProcessError> {
    let Some(guard) = ScanGuard::take() else {
        return Err(ProcessError::StillRunning);
    };
    let task = tokio::task::spawn_blocking(move || {
        let _guard = guard;
        read()
    });
    match timeout_at(deadline, task).await {
        Err(_) => Err(ProcessError::TimedOut),
        Ok(Err(join)) => Err(ProcessError::Join(join.to_string())),
        Ok(Ok(result)) => result,
    }
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
    pub(super) entries: HashMap<u32, (ProcessKey, ProcessInfo)>,
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
                let Some(info) = read_process(&dir, pid) else {
                    continue;
                };
                info
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cmdline_buffers() {
        assert_eq!(split_cmdline(b"lotus\0daemon\0"), vec!["lotus", "daemon"]);
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

        // Pid 10 now runs `ipfs-cluster-follow <cluster> run`, by `change` (exec or a new process):
        // the next scan must show the new command line.
        let follow_as =
            |change: &dyn Fn(u32, &[u8], &str), cluster: &str, cache: &mut ProcessCache| {
                let cmdline = format!("ipfs-cluster-follow\0{cluster}\0run\0");
                change(10, cmdline.as_bytes(), "/usr/bin/ipfs-cluster-follow");
                let table = read_process_table_cached(dir.path(), cache).unwrap();
                let expected = format!("ipfs-cluster-follow {cluster} run");
                assert_eq!(argv(&table, 10), Some(expected));
                table
            };
        let table = follow_as(&exec, "c", &mut cache);
        assert_eq!(table.follow_peers().count(), 1);
        assert_eq!(
            cache.cmdline_reads(),
            4,
            "init, lotus, the kernel thread, the exec"
        );

        // The pid reused by a new run of the same program.
        follow_as(&start, "d", &mut cache);

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
