//! The web configuration as it is now: `--web.config.file` re-read when it, or a file it names
//! (certificate, key, client CA), changes. exporter-toolkit re-reads the file on every request;
//! this re-reads it on change, and is never weaker for it.
//!
//! A cheap check (size, mtime, ctime, inode of each file) runs per request and per TLS
//! handshake; a change reloads the whole configuration, so new basic-auth users and passwords
//! apply at once (the cache of successful logins belongs to the old configuration and goes with
//! it) and a renewed certificate is served from the next handshake. Whether TLS is on stays as
//! decided at start. A file that becomes invalid keeps the last good configuration and is
//! logged once per change.
//!
//! # Never failing open
//! A file rewritten in place (`cat good > web.yml`) is empty, then partly written, for a moment.
//! Three rules keep such a moment from lowering protection:
//! - **Stamp before reading.** The files are stamped before and after each read; a read whose
//!   stamps differ saw a file being written and is not used (nor remembered: the next request
//!   reads again). A change after the read moves the stamp, so the complete file is read.
//! - **Racy stamps are re-read.** A file changed within [`SETTLE`] of the read may change again
//!   within the file system's clock tick without moving its stamp (git's "racily clean" index
//!   entries): until its change time is older than that, every check reads it again.
//! - **Lowering protection is suspect.** A version that drops basic auth or lowers client
//!   certificate checks is used only once the file has not changed for [`SETTLE`] and a second
//!   read says the same; until then the last good configuration stays, and both steps are
//!   logged. (TLS cannot be turned off by a reload at all.)
//!
//! So every request is served with at least the protection of the complete file on disk when it
//! arrived, which is what a per-request re-read gives at best; a read racing a writer there can
//! see the empty file and serve that request without authentication, here it cannot.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::config::{ClientCerts, WebConfig};

/// The longest a change check or a reload may take (a hung file system must not hang requests).
const CHECK_DEADLINE: Duration = Duration::from_secs(2);

/// How long a file must have stayed unchanged before a version of it that lowers protection is
/// used, and before its stamp is trusted to show every change (well above the clock tick of
/// file times, and above the 2 s of FAT-like file systems).
pub const SETTLE: Duration = Duration::from_secs(3);

/// Reads a stable version of a file at most this many times per check before giving up until
/// the next request.
const MAX_READS_PER_CHECK: usize = 3;

/// What identifies one version of a file: size, modification time, change time, inode.
type FileStamp = Option<(u64, SystemTime, SystemTime, u64)>;
/// The stamps of the config file and of each file it names, in that order.
type Stamp = Vec<FileStamp>;

/// One read of the configuration: what it gave, and the file's text digest (to tell "says the
/// same again").
type Loaded = Result<(WebConfig, u64), String>;

/// Reads the configuration (tests put a writer between the stamps).
type ReadFn = Arc<dyn Fn(&Path) -> Loaded + Send + Sync>;

/// The web configuration, re-read when its files change.
pub struct LiveWebConfig {
    /// The config file; `None`: fixed for the process's life.
    path: Option<PathBuf>,
    /// TLS is on (decided at start, never changed by a reload).
    tls_at_start: bool,
    settle: Duration,
    read: ReadFn,
    state: Mutex<State>,
    /// One look at the files (a change check or a reload) at a time, held until the blocking
    /// read really ends: requests wait for it (at most [`CHECK_DEADLINE`]), and a read stuck in
    /// a hung file system leaves one blocked thread, not one more per request (the blocking
    /// pool is bounded, and every check needs it).
    looks: Arc<tokio::sync::Semaphore>,
}

struct State {
    current: Arc<WebConfig>,
    /// The digest of what `current` was read from (`None`: read before this watch began).
    digest: Option<u64>,
    /// The files' stamps taken before `current` was read.
    stamp: Stamp,
    /// The files changed too recently for their stamp to show a further change: read them
    /// again on every check until they settle.
    racy: bool,
    /// The stamps of the last version found invalid (logged once).
    refused: Option<Stamp>,
    /// A version that lowers protection, waiting to be confirmed.
    suspect: Option<Suspect>,
}

/// A complete-looking version that lowers protection.
struct Suspect {
    stamp: Stamp,
    digest: u64,
    seen: Instant,
}

impl std::fmt::Debug for LiveWebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveWebConfig")
            .field("path", &self.path)
            .field("tls_at_start", &self.tls_at_start)
            .finish()
    }
}

impl LiveWebConfig {
    /// A configuration that never changes (no `--web.config.file`, or tests).
    pub fn fixed(web: WebConfig) -> LiveWebConfig {
        LiveWebConfig::new(None, web)
    }

    /// `web`, as read from `path` at start, re-read whenever `path` or a file it names changes.
    pub fn watching(path: PathBuf, web: WebConfig) -> LiveWebConfig {
        LiveWebConfig::new(Some(path), web)
    }

    fn new(path: Option<PathBuf>, web: WebConfig) -> LiveWebConfig {
        let stamp = match &path {
            Some(path) => stamp_of(path, &web.files),
            None => Vec::new(),
        };
        let read: ReadFn = Arc::new(|path: &Path| load(path));
        LiveWebConfig {
            path,
            tls_at_start: web.tls.is_some(),
            settle: SETTLE,
            read,
            looks: Arc::new(tokio::sync::Semaphore::new(1)),
            state: Mutex::new(State {
                current: Arc::new(web),
                digest: None,
                racy: is_racy(&stamp, SETTLE),
                stamp,
                refused: None,
                suspect: None,
            }),
        }
    }

    /// The same, with another settling time (tests).
    #[doc(hidden)]
    pub fn with_settle(mut self, settle: Duration) -> LiveWebConfig {
        self.settle = settle;
        self
    }

    /// True when the exporter serves TLS (decided at start).
    pub fn tls_at_start(&self) -> bool {
        self.tls_at_start
    }

    /// The configuration now, re-read first when one of its files changed.
    pub async fn current(&self) -> Arc<WebConfig> {
        let (current, files) = {
            let state = self.lock();
            (state.current.clone(), state.current.files.clone())
        };
        let Some(path) = self.path.clone() else {
            return current;
        };
        let until = Instant::now() + CHECK_DEADLINE;
        let Ok(Ok(look)) = tokio::time::timeout_at(until, self.looks.clone().acquire_owned()).await
        else {
            return current;
        };
        let check = tokio::task::spawn_blocking(move || {
            let _look = look;
            stamp_of(&path, &files)
        });
        let Ok(Ok(stamp)) = tokio::time::timeout_at(until, check).await else {
            return current;
        };
        {
            let state = self.lock();
            let waiting = state
                .suspect
                .as_ref()
                .is_some_and(|s| s.stamp == stamp && s.seen.elapsed() < self.settle);
            let known = state.stamp == stamp || state.refused.as_ref() == Some(&stamp);
            if !state.racy && (known || waiting) {
                return state.current.clone();
            }
        }
        self.reload().await
    }

    /// Read a stable version of the files and take it, unless it is invalid or lowers
    /// protection without having settled.
    async fn reload(&self) -> Arc<WebConfig> {
        let path = self.path.clone().expect("only a watched file is reloaded");
        let (files, known) = {
            let state = self.lock();
            (state.current.files.clone(), state.digest)
        };
        let read = self.read.clone();
        let settle = self.settle;
        let until = Instant::now() + CHECK_DEADLINE;
        let too_long =
            || Unstable::Failed(format!("reading it took longer than {CHECK_DEADLINE:?}"));
        let outcome = match tokio::time::timeout_at(until, self.looks.clone().acquire_owned()).await
        {
            Ok(Ok(look)) => {
                let load = tokio::task::spawn_blocking(move || {
                    let _look = look;
                    stable_read(&path, files, known, &read, settle)
                });
                match tokio::time::timeout_at(until, load).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_)) => Err(Unstable::Failed("the reload failed".into())),
                    Err(_) => Err(too_long()),
                }
            }
            Ok(Err(_)) => Err(Unstable::Failed("the reload failed".into())),
            Err(_) => Err(too_long()),
        };
        let shown = self.path.as_deref().unwrap_or(Path::new("")).display();
        let mut state = self.lock();
        match outcome {
            // Being written: nothing is remembered, the next request reads it again.
            Err(Unstable::Moving) => {
                log::debug!("--web.config.file {shown} is being written; read again next time");
            }
            Err(Unstable::Failed(why)) => {
                log::warn!(
                    "--web.config.file {shown}: {why}; keeping the last good web configuration"
                );
            }
            Ok(read) => self.take(&mut state, read),
        }
        state.current.clone()
    }

    /// Take a stable read, or keep the last good configuration (and say why, once per version).
    fn take(&self, state: &mut State, read: StableRead) {
        let shown = self.path.as_deref().unwrap_or(Path::new("")).display();
        state.racy = read.racy;
        let Some(loaded) = read.loaded else {
            // The very files of the configuration in use (a racy stamp, or the same bytes
            // written again): it stays, with its cache of successful logins, unparsed.
            state.stamp = read.stamp;
            state.refused = None;
            state.suspect = None;
            return;
        };
        let web = match loaded {
            Ok((web, _)) if web.tls.is_some() != self.tls_at_start => Err(format!(
                "--web.config.file {shown}: TLS was {} at start and stays so until a restart",
                if self.tls_at_start { "on" } else { "off" }
            )),
            Ok(loaded) => Ok(loaded),
            Err(why) => Err(why),
        };
        let (web, digest) = match web {
            Ok(loaded) => loaded,
            Err(why) => {
                if state.refused.as_ref() != Some(&read.stamp) {
                    log::error!("{why}; keeping the last good web configuration");
                    state.refused = Some(read.stamp);
                }
                return;
            }
        };
        if state.digest == Some(digest) {
            // The same files again (a racy stamp, or a rewrite with the same bytes): the
            // configuration in use stays, with its cache of successful logins.
            state.stamp = read.stamp;
            state.refused = None;
            state.suspect = None;
            return;
        }
        if let Some(lowered) = lowers_protection(&state.current, &web) {
            let confirmed = !read.racy
                && state.suspect.as_ref().is_some_and(|s| {
                    s.stamp == read.stamp && s.digest == digest && s.seen.elapsed() >= self.settle
                });
            if !confirmed {
                let again = state
                    .suspect
                    .as_ref()
                    .is_some_and(|s| s.stamp == read.stamp);
                if !again {
                    log::warn!(
                        "--web.config.file {shown} now {lowered}; it may still be being written: \
                         keeping the last good web configuration until the file has been unchanged \
                         for {:?} and says so again",
                        self.settle
                    );
                    state.suspect = Some(Suspect {
                        stamp: read.stamp,
                        digest,
                        seen: Instant::now(),
                    });
                }
                return;
            }
            log::warn!(
                "--web.config.file {shown} {lowered}: unchanged for {:?} and read twice, so taken",
                self.settle
            );
        } else {
            log::info!("--web.config.file {shown} reloaded");
        }
        state.current = Arc::new(web);
        state.digest = Some(digest);
        state.stamp = read.stamp;
        state.refused = None;
        state.suspect = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::host::lock(&self.state)
    }
}

/// Blocking: read and validate the configuration, with the digest of its files.
fn load(path: &Path) -> Loaded {
    let (web, _) = WebConfig::load_text(path).map_err(|e| e.to_string())?;
    let digest = digest_of(path, &web.files)?;
    Ok((web, digest))
}

/// Blocking: a digest of the bytes of the config file and of each of `files`.
fn digest_of(path: &Path, files: &[PathBuf]) -> Result<u64, String> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in std::iter::once(path).chain(files.iter().map(PathBuf::as_path)) {
        crate::host::files::read_pem_file(file)
            .map_err(|e| format!("--web.config.file {}: {e}", path.display()))?
            .hash(&mut hasher);
    }
    Ok(hasher.finish())
}

/// How a new version lowers the protection of the current one, in words; `None` when it does not.
fn lowers_protection(current: &WebConfig, new: &WebConfig) -> Option<&'static str> {
    if current.basic_auth.is_some() && new.basic_auth.is_none() {
        return Some("turns basic auth off");
    }
    if new.client_certs < current.client_certs {
        return Some(match new.client_certs {
            ClientCerts::NotAsked => "stops asking for client certificates",
            _ => "stops requiring client certificates",
        });
    }
    None
}

/// Why no stable version was read.
enum Unstable {
    /// The files changed during every read.
    Moving,
    Failed(String),
}

/// A read during which no file changed.
struct StableRead {
    /// What it gave; `None` when the files were those of the configuration in use.
    loaded: Option<Loaded>,
    /// The stamps taken before the read (equal to those after it).
    stamp: Stamp,
    /// Some file changed within the settling time: its stamp may not show the next change.
    racy: bool,
}

/// Blocking: read the configuration between two stamps of every file it involves, until the
/// stamps agree (the files named may change with the read: then read once more). Files whose
/// bytes give the digest `known` (those of the configuration in use) are not parsed again: a
/// configuration with basic auth costs two bcrypt hashes to build.
fn stable_read(
    path: &Path,
    mut files: Vec<PathBuf>,
    known: Option<u64>,
    read: &ReadFn,
    settle: Duration,
) -> Result<StableRead, Unstable> {
    for _ in 0..MAX_READS_PER_CHECK {
        let before = stamp_of(path, &files);
        if known.is_some() && digest_of(path, &files).ok() == known {
            if stamp_of(path, &files) == before {
                let racy = is_racy(&before, settle);
                return Ok(StableRead {
                    loaded: None,
                    stamp: before,
                    racy,
                });
            }
            continue;
        }
        let loaded = read(path);
        let named = match &loaded {
            Ok((web, _)) => web.files.clone(),
            Err(_) => files.clone(),
        };
        let after = stamp_of(path, &named);
        if named != files {
            // Other files named: their stamps before this read are not known.
            files = named;
            continue;
        }
        if before == after {
            let racy = is_racy(&before, settle);
            return Ok(StableRead {
                loaded: Some(loaded),
                stamp: before,
                racy,
            });
        }
    }
    Err(Unstable::Moving)
}

/// True when a file changed within `settle` of now (or its times are in the future).
fn is_racy(stamp: &Stamp, settle: Duration) -> bool {
    let now = SystemTime::now();
    stamp.iter().flatten().any(|(_, modified, changed, _)| {
        [modified, changed]
            .iter()
            .any(|t| now.duration_since(**t).map_or(true, |age| age < settle))
    })
}

/// The stamps of the config file and the files it names (`None` for one that cannot be read).
fn stamp_of(path: &Path, files: &[PathBuf]) -> Stamp {
    use std::os::unix::fs::MetadataExt as _;
    std::iter::once(path)
        .chain(files.iter().map(PathBuf::as_path))
        .map(|file| {
            let meta = std::fs::metadata(file).ok()?;
            let changed = SystemTime::UNIX_EPOCH.checked_add(Duration::new(
                u64::try_from(meta.ctime()).ok()?,
                u32::try_from(meta.ctime_nsec()).ok()?,
            ))?;
            Some((meta.len(), meta.modified().ok()?, changed, meta.ino()))
        })
        .collect()
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
