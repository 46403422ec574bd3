//! Bounded reads of small local files: configs, `/proc` tables, token files, certificates.
//!
//! Every read has a size cap, so a file that is not what it should be (a log where a config
//! should be, a device) costs at most the cap; only regular files are read (a FIFO or device is
//! refused, even one swapped in after the check); and every read has a deadline
//! ([`READ_DEADLINE`]): it runs on a helper thread (kept and reused), and the caller stops
//! waiting at the deadline.
//! A helper stuck in the kernel (a hung network or FUSE mount) cannot be interrupted, so at most
//! [`MAX_STUCK_READS`] may be outstanding; further reads are refused at once. A [`ReadSlot`]
//! keeps one reader (a config folder, a socket table) to one blocking read at a time.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a caller waits for one file read.
pub const READ_DEADLINE: Duration = Duration::from_secs(5);

/// Most reads outstanding at once (running, or stuck past their deadline).
pub const MAX_STUCK_READS: usize = 32;

/// Reads running now.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Why a bounded read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("not a regular file (a directory, FIFO or device)")]
    NotAFile,
    #[error("timed out reading it (after {0:?})")]
    TimedOut(Duration),
    #[error("{MAX_STUCK_READS} earlier file reads are still stuck; not read")]
    TooManyStuck,
}

/// Read at most `limit` bytes of `path` within [`READ_DEADLINE`]; `Ok(None)` when the file
/// does not exist.
pub fn read_capped(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, ReadError> {
    let owned = path.to_path_buf();
    within_deadline(READ_DEADLINE, move || read_capped_here(&owned, limit))
}

/// Run `read` on a helper thread and wait for it at most `within`.
fn within_deadline<T: Send + 'static>(
    within: Duration,
    read: impl FnOnce() -> Result<T, ReadError> + Send + 'static,
) -> Result<T, ReadError> {
    if IN_FLIGHT.fetch_add(1, Ordering::SeqCst) >= MAX_STUCK_READS {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        return Err(ReadError::TooManyStuck);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let submitted = readers::submit(Box::new(move || {
        let result = read();
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        let _ = tx.send(result);
    }));
    if let Err(e) = submitted {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        return Err(ReadError::Io(e));
    }
    match rx.recv_timeout(within) {
        Ok(result) => result,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(ReadError::TimedOut(within)),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(ReadError::Io(
            std::io::Error::other("the reading thread failed"),
        )),
    }
}

/// The helper threads that run reads: kept (up to [`readers::MAX_IDLE`] idle) and reused, so a
/// scrape's handful of reads costs no thread creation; a new one is started whenever no idle
/// helper is free (one stuck in the kernel never holds up the next read).
mod readers {
    use std::collections::VecDeque;
    use std::sync::{Condvar, Mutex, OnceLock};
    use std::time::Duration;

    /// A read to run.
    pub type Job = Box<dyn FnOnce() + Send>;

    /// Idle helpers kept waiting for work; more end.
    pub const MAX_IDLE: usize = 4;

    /// An idle helper ends after this long without work.
    const IDLE_FOR: Duration = Duration::from_secs(300);

    #[derive(Default)]
    struct Queue {
        jobs: VecDeque<Job>,
        idle: usize,
    }

    #[derive(Default)]
    struct Pool {
        queue: Mutex<Queue>,
        work: Condvar,
    }

    fn pool() -> &'static Pool {
        static POOL: OnceLock<Pool> = OnceLock::new();
        POOL.get_or_init(Pool::default)
    }

    /// Run `job` on an idle helper, or on a new one when none is free.
    pub fn submit(job: Job) -> std::io::Result<()> {
        let pool = pool();
        let start_one = {
            let mut queue = pool.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.jobs.push_back(job);
            queue.idle < queue.jobs.len()
        };
        if !start_one {
            pool.work.notify_one();
            return Ok(());
        }
        let started = std::thread::Builder::new()
            .name("file-read".into())
            .stack_size(256 * 1024)
            .spawn(|| work(pool));
        if let Err(e) = started {
            // Nobody will run it: take it back (the newest job is ours).
            let mut queue = pool.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.jobs.pop_back();
            return Err(e);
        }
        Ok(())
    }

    fn work(pool: &Pool) {
        loop {
            let job = {
                let mut queue = pool.queue.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    if let Some(job) = queue.jobs.pop_front() {
                        break job;
                    }
                    if queue.idle >= MAX_IDLE {
                        return;
                    }
                    queue.idle += 1;
                    let (woken, timeout) = pool
                        .work
                        .wait_timeout(queue, IDLE_FOR)
                        .unwrap_or_else(|p| p.into_inner());
                    queue = woken;
                    queue.idle -= 1;
                    if timeout.timed_out() && queue.jobs.is_empty() {
                        return;
                    }
                }
            };
            job();
        }
    }
}

/// Read at most `limit` bytes of `path` on this thread, with no deadline of its own: only for
/// callers already on a blocking task that is awaited under a deadline and that never runs
/// twice at once (the process table scan, the port check's `/proc` reads), where a thread per
/// file would cost too much.
pub fn read_capped_here(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    // A FIFO or device would block `open` or never end: only regular files are read. Checked
    // before opening (opening some devices has effects) and again on the open file (the path
    // may have been swapped for a FIFO in between; O_NONBLOCK keeps that open from blocking).
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => return Err(ReadError::NotAFile),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(ReadError::Io(err)),
    }
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(ReadError::Io(err)),
    };
    if !file.metadata()?.is_file() {
        return Err(ReadError::NotAFile);
    }
    let mut raw = Vec::new();
    file.take(limit + 1).read_to_end(&mut raw)?;
    if raw.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(Some(raw))
}

/// Size cap for small files we read (the Lotus `api` file, token files).
const SMALL_FILE_CAP: u64 = 64 * 1024;

/// Read a small text file (at most 64 KiB); a missing file is `NotFound`.
pub fn read_small_file(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind};
    match read_capped(path, SMALL_FILE_CAP) {
        Ok(Some(raw)) => {
            String::from_utf8(raw).map_err(|_| Error::new(ErrorKind::InvalidData, "not UTF-8 text"))
        }
        Ok(None) => Err(Error::new(ErrorKind::NotFound, "no such file")),
        Err(ReadError::Io(e)) => Err(e),
        Err(too_large) => Err(Error::new(ErrorKind::InvalidData, too_large.to_string())),
    }
}

/// Largest certificate, key or CA bundle file read (a CA bundle of a few hundred certificates).
pub const MAX_PEM_FILE_BYTES: u64 = 1 << 20;

/// Read a PEM file (a certificate, key or CA bundle) like every other file: a regular file, at
/// most [`MAX_PEM_FILE_BYTES`], within [`READ_DEADLINE`]. The error starts with the path.
pub fn read_pem_file(path: &Path) -> Result<Vec<u8>, String> {
    match read_capped(path, MAX_PEM_FILE_BYTES) {
        Ok(Some(raw)) => Ok(raw),
        Ok(None) => Err(format!("{}: no such file", path.display())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// One blocking read at a time for one reader: a read that outlives its scrape (a hung NFS
/// mount) keeps its slot until it returns, and later scrapes report it instead of piling up one
/// blocked thread each.
#[derive(Debug, Default, Clone)]
pub struct ReadSlot(Arc<std::sync::atomic::AtomicBool>);

/// Holds a [`ReadSlot`] until dropped (moved into the blocking task, so it is released when the
/// read really ends, not when the scrape gives up on it).
#[derive(Debug)]
pub struct ReadSlotGuard(Arc<std::sync::atomic::AtomicBool>);

impl ReadSlot {
    /// The slot, unless a previous read still holds it.
    pub fn try_take(&self) -> Option<ReadSlotGuard> {
        use std::sync::atomic::Ordering;
        (!self.0.swap(true, Ordering::AcqRel)).then(|| ReadSlotGuard(self.0.clone()))
    }
}

impl Drop for ReadSlotGuard {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_small_files_and_refuses_big_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_capped(&path, 5).unwrap(), Some(b"12345".to_vec()));
        assert!(matches!(
            read_capped(&path, 4),
            Err(ReadError::TooLarge { limit: 4 })
        ));
        assert_eq!(read_capped(&dir.path().join("missing"), 5).unwrap(), None);
        assert!(matches!(
            read_capped(dir.path(), 5),
            Err(ReadError::NotAFile)
        ));
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        assert!(
            matches!(read_capped(&fifo, 5), Err(ReadError::NotAFile)),
            "a FIFO must not block"
        );
        assert!(matches!(
            read_capped(Path::new("/dev/zero"), 5),
            Err(ReadError::NotAFile)
        ));
    }

    #[test]
    fn a_read_that_hangs_is_given_up_at_its_deadline() {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let result: Result<(), ReadError> = within_deadline(Duration::from_millis(50), move || {
            let _ = hold.recv();
            Ok(())
        });
        assert!(matches!(result, Err(ReadError::TimedOut(_))), "{result:?}");
        let _ = release.send(());
    }
}
