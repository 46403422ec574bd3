//! The `ipfs-cluster-follow` binary: found on `PATH`, its `--version` run in its own process
//! group under the scrape deadline with a cap on what it prints, and rerun only when the file
//! changes (a timeout is retried after `FAILED_RETRY` (a minute)). `PATH` is searched off the
//! async runtime under the deadline, at most every [`LOOKUP_INTERVAL`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::time::{timeout_at, Instant};

use super::refresh::FAILED_RETRY;
use crate::contract::CheckStatus;

/// The binary the host check looks for.
pub const FOLLOW_BINARY: &str = "ipfs-cluster-follow";

/// The `ipfs-cluster-follow` binary as last seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowBinary {
    pub path: Option<PathBuf>,
    /// First line of `--version` (`ipfs-cluster-follow version 1.1.6`).
    pub version: Option<String>,
    /// On PATH and `--version` succeeded; `Some(false)` when not on PATH; `None` when unknown.
    pub available: Option<bool>,
}

/// Finds and asks the binary, remembering the answer per file.
#[derive(Debug, Default)]
pub struct BinaryProbe {
    state: Mutex<ProbeState>,
}

#[derive(Debug, Default)]
struct ProbeState {
    cache: Option<BinaryCache>,
    last: FollowBinary,
    lookup: Option<Lookup>,
}

/// How long a search of `PATH` stands: one stat per `PATH` folder on every scrape was most of
/// the exporter's failing system calls (issue 20), and a binary installed or removed is seen
/// within this long.
pub const LOOKUP_INTERVAL: Duration = Duration::from_secs(30);

/// One search of `PATH` and what it found: the file and its identity (modification time, size).
#[derive(Debug, Clone)]
struct Lookup {
    search: OsString,
    at: Instant,
    found: Option<(PathBuf, Option<SystemTime>, u64)>,
}

impl BinaryProbe {
    /// The binary as seen by the latest [`check`](Self::check).
    pub fn last(&self) -> FollowBinary {
        self.lock().last.clone()
    }

    /// Look for the binary on `search` (a `PATH`-style list) and ask its version, before `deadline`.
    pub async fn check(&self, search: &OsString, deadline: Instant) -> (FollowBinary, CheckStatus) {
        let (binary, status) = self.probe(search, deadline).await;
        self.lock().last = binary.clone();
        (binary, status)
    }

    fn lock(&self) -> MutexGuard<'_, ProbeState> {
        crate::host::lock(&self.state)
    }

    /// Where the binary is (and its identity), from the last search when it is recent enough,
    /// else from a new search on the blocking pool; `Err` when that search passed the deadline
    /// (a `PATH` folder on a hung mount).
    async fn locate(
        &self,
        search: &OsString,
        deadline: Instant,
    ) -> Result<Option<(PathBuf, Option<SystemTime>, u64)>, ()> {
        let recent = self.lock().lookup.clone().filter(|l| {
            l.search == *search && Instant::now().duration_since(l.at) < LOOKUP_INTERVAL
        });
        if let Some(lookup) = recent {
            return Ok(lookup.found);
        }
        let owned = search.clone();
        let task = tokio::task::spawn_blocking(move || {
            crate::host::process::find_in_path(FOLLOW_BINARY, &owned).map(|path| {
                let (mtime, size) = file_identity(&path);
                (path, mtime, size)
            })
        });
        let found = match timeout_at(deadline, task).await {
            Ok(Ok(found)) => found,
            Ok(Err(_)) | Err(_) => return Err(()),
        };
        self.lock().lookup = Some(Lookup {
            search: search.clone(),
            at: Instant::now(),
            found: found.clone(),
        });
        Ok(found)
    }

    async fn probe(&self, search: &OsString, deadline: Instant) -> (FollowBinary, CheckStatus) {
        let located = match self.locate(search, deadline).await {
            Ok(located) => located,
            Err(()) => return (FollowBinary::default(), CheckStatus::TimedOut),
        };
        let Some((path, mtime, size)) = located else {
            let binary = FollowBinary {
                available: Some(false),
                ..FollowBinary::default()
            };
            return (binary, CheckStatus::Ok);
        };
        let cached = self
            .lock()
            .cache
            .clone()
            .filter(|c| c.answers(&path, mtime, size));
        let fresh = cached.is_none();
        let outcome = match cached {
            Some(cache) => cache.outcome,
            None => {
                // A timeout is remembered too, so a hanging binary is not rerun every scrape.
                let outcome = run_version(&path, deadline)
                    .await
                    .ok_or(None)
                    .and_then(|r| r.map_err(Some));
                self.lock().cache = Some(BinaryCache {
                    path: path.clone(),
                    mtime,
                    size,
                    outcome: outcome.clone(),
                    at: Instant::now(),
                });
                outcome
            }
        };
        let unavailable = FollowBinary {
            path: Some(path.clone()),
            ..FollowBinary::default()
        };
        let outcome = match outcome {
            Err(None) if fresh => return (unavailable, CheckStatus::TimedOut),
            Err(None) => Err(format!(
                "{} --version did not answer before an earlier scrape deadline (killed; retried \
                 {}s after that or when the file changes)",
                path.display(),
                FAILED_RETRY.as_secs()
            )),
            Err(Some(reason)) => Err(reason),
            Ok(version) => Ok(version),
        };
        match outcome {
            Ok(version) => (
                FollowBinary {
                    path: Some(path),
                    version: Some(version),
                    available: Some(true),
                },
                CheckStatus::Ok,
            ),
            Err(reason) => (unavailable, CheckStatus::Failed(reason)),
        }
    }
}

/// `--version` result keyed by the binary file's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BinaryCache {
    path: PathBuf,
    mtime: Option<SystemTime>,
    size: u64,
    /// `Err(None)`: it timed out (retried after `FAILED_RETRY` (a minute)); `Err(Some(reason))`: it
    /// failed (retried when the file changes, like a success).
    outcome: Result<String, Option<String>>,
    at: Instant,
}

impl BinaryCache {
    /// True when this entry still answers for the file at `path` with this identity.
    fn answers(&self, path: &Path, mtime: Option<SystemTime>, size: u64) -> bool {
        let same_file = self.path == path && self.mtime == mtime && self.size == size;
        let expired = matches!(self.outcome, Err(None)) && self.at.elapsed() >= FAILED_RETRY;
        same_file && !expired
    }
}

fn file_identity(path: &Path) -> (Option<SystemTime>, u64) {
    match std::fs::metadata(path) {
        Ok(meta) => (meta.modified().ok(), meta.len()),
        Err(_) => (None, 0),
    }
}

/// The most of `--version`'s stdout (and stderr) read; a real binary prints one short line.
pub const VERSION_OUTPUT_CAP: usize = 4096;

/// Kills a whole process group when dropped: a wrapper script's children (`sleep` in a shell
/// wrapper) are in the group too, where `kill_on_drop` reaches only the direct child.
struct GroupKill(Option<u32>);

impl GroupKill {
    fn kill(&self) {
        if let Some(pgid) = self.0.and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: kill(2) has no memory effects; a group already gone gives ESRCH.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Read at most `cap` bytes; kill the group once more would come (the rest is never read).
async fn read_capped_output(
    pipe: Option<impl tokio::io::AsyncRead + Unpin>,
    cap: usize,
    group: &GroupKill,
) -> std::io::Result<(Vec<u8>, bool)> {
    use tokio::io::AsyncReadExt;
    let Some(pipe) = pipe else {
        return Ok((Vec::new(), false));
    };
    let mut out = Vec::new();
    pipe.take(cap as u64 + 1).read_to_end(&mut out).await?;
    let over = out.len() > cap;
    if over {
        out.truncate(cap);
        group.kill();
    }
    Ok((out, over))
}

/// How often a `--version` spawn refused with ETXTBSY ("Text file busy") is tried again.
const TEXT_BUSY_RETRIES: usize = 10;

/// `<binary> --version` in its own process group under the deadline, reading at most
/// [`VERSION_OUTPUT_CAP`] bytes of each stream; the group is killed when the call ends early
/// (timeout, cap, drop). `None` when it timed out.
async fn run_version(path: &Path, deadline: Instant) -> Option<Result<String, String>> {
    use std::process::Stdio;
    let spawn = || {
        tokio::process::Command::new(path)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
    };
    // ETXTBSY: the file is open for writing somewhere, often only for an instant (a package
    // upgrade replacing it, or a file descriptor inherited by a process forked elsewhere just
    // before it exec'd). Try again a few times before calling the binary unusable.
    let mut spawned = spawn();
    for _ in 0..TEXT_BUSY_RETRIES {
        match &spawned {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                spawned = spawn();
            }
            _ => break,
        }
    }
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return Some(Err(format!("cannot run {} --version: {e}", path.display()))),
    };
    let group = GroupKill(child.id());
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let run = async {
        let (out, err) = tokio::join!(
            read_capped_output(stdout, VERSION_OUTPUT_CAP, &group),
            read_capped_output(stderr, VERSION_OUTPUT_CAP, &group),
        );
        let status = child.wait().await;
        (out, err, status)
    };
    let (out, err, status) = timeout_at(deadline, run).await.ok()?;
    drop(group);
    let failed = |e: std::io::Error| format!("cannot run {} --version: {e}", path.display());
    let ((stdout, stdout_over), (stderr, stderr_over), status) = match (out, err, status) {
        (Ok(out), Ok(err), Ok(status)) => (out, err, status),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Some(Err(failed(e))),
    };
    if stdout_over || stderr_over {
        return Some(Err(format!(
            "{} --version printed more than {VERSION_OUTPUT_CAP} bytes (killed): not ipfs-cluster-follow?",
            path.display()
        )));
    }
    let first_line = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
    };
    if !status.success() {
        let said = first_line(&stderr).unwrap_or_default();
        return Some(Err(format!(
            "{} --version failed ({status}): {said}",
            path.display()
        )));
    }
    Some(
        first_line(&stdout)
            .or_else(|| first_line(&stderr))
            .ok_or_else(|| format!("{} --version printed nothing", path.display())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executable(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(FOLLOW_BINARY);
        std::fs::write(
            &path,
            "#!/bin/sh\necho 'ipfs-cluster-follow version 1.1.6'\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[tokio::test]
    async fn path_is_searched_once_per_interval_and_again_for_another_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = executable(dir.path());
        let search = OsString::from(dir.path());
        let probe = BinaryProbe::default();
        let deadline = Instant::now() + Duration::from_secs(10);
        let first = probe.locate(&search, deadline).await.unwrap();
        assert_eq!(first.map(|(p, _, _)| p), Some(path.clone()));
        std::fs::remove_file(&path).unwrap();
        let cached = probe.locate(&search, deadline).await.unwrap();
        assert!(
            cached.is_some(),
            "within the interval the last search stands"
        );
        let elsewhere = OsString::from(format!("{}/", dir.path().display()));
        let searched = probe.locate(&elsewhere, deadline).await.unwrap();
        assert!(searched.is_none(), "another PATH is searched anew");
        // An interval old: searched again, and the removal is seen.
        if let Some(lookup) = probe.lock().lookup.as_mut() {
            lookup.search = search.clone();
            lookup.at = Instant::now()
                .checked_sub(LOOKUP_INTERVAL)
                .expect("the clock runs longer than the interval");
        }
        assert!(probe.locate(&search, deadline).await.unwrap().is_none());
    }
}
