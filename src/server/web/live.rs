//! The web configuration as it is now: `--web.config.file` re-read when it, or a file it names
//! (certificate, key, client CA), changes, as exporter-toolkit reads it on every request.
//!
//! A cheap check (size, mtime, inode of each file) runs per request and per TLS handshake; a
//! change reloads the whole configuration, so new basic-auth users and passwords apply at once
//! (the cache of successful logins belongs to the old configuration and goes with it) and a
//! renewed certificate is served from the next handshake. Whether TLS is on stays as decided
//! at start. A file that becomes invalid keeps the last good configuration and is logged once
//! per change.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::config::WebConfig;

/// The longest a change check or a reload may take (a hung file system must not hang requests).
const CHECK_DEADLINE: Duration = Duration::from_secs(2);

/// What identifies one version of a file: size, modification time, inode.
type Stamp = Vec<Option<(u64, SystemTime, u64)>>;

/// The web configuration, re-read when its files change.
pub struct LiveWebConfig {
    /// The config file; `None`: fixed for the process's life.
    path: Option<PathBuf>,
    /// TLS is on (decided at start, never changed by a reload).
    tls_at_start: bool,
    state: Mutex<State>,
}

struct State {
    current: Arc<WebConfig>,
    /// The files' stamps when `current` was read.
    stamp: Stamp,
    /// The stamps of the last version found invalid (logged once).
    refused: Option<Stamp>,
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
        LiveWebConfig {
            path,
            tls_at_start: web.tls.is_some(),
            state: Mutex::new(State {
                current: Arc::new(web),
                stamp,
                refused: None,
            }),
        }
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
        let check = tokio::task::spawn_blocking(move || {
            let stamp = stamp_of(&path, &files);
            (path, stamp)
        });
        let Ok(Ok((path, stamp))) = tokio::time::timeout(CHECK_DEADLINE, check).await else {
            return current;
        };
        {
            let state = self.lock();
            if state.stamp == stamp || state.refused.as_ref() == Some(&stamp) {
                return state.current.clone();
            }
        }
        self.reload(path, stamp).await
    }

    async fn reload(&self, path: PathBuf, stamp: Stamp) -> Arc<WebConfig> {
        let load = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || WebConfig::load(&path))
        };
        let outcome = match tokio::time::timeout(CHECK_DEADLINE, load).await {
            Ok(Ok(Ok(web))) if web.tls.is_some() != self.tls_at_start => Err(format!(
                "--web.config.file {}: TLS was {} at start and stays so until a restart",
                path.display(),
                if self.tls_at_start { "on" } else { "off" }
            )),
            Ok(Ok(Ok(web))) => Ok(web),
            Ok(Ok(Err(error))) => Err(error.to_string()),
            Ok(Err(_)) => Err(format!(
                "--web.config.file {}: the reload failed",
                path.display()
            )),
            Err(_) => Err(format!(
                "--web.config.file {}: reading it took longer than {CHECK_DEADLINE:?}",
                path.display()
            )),
        };
        let mut state = self.lock();
        match outcome {
            Ok(web) => {
                // The files' stamps as read with this version (the files may list new ones).
                let stamp = stamp_of(&path, &web.files);
                log::info!("--web.config.file {} reloaded", path.display());
                state.current = Arc::new(web);
                state.stamp = stamp;
                state.refused = None;
            }
            Err(why) => {
                if state.refused.as_ref() != Some(&stamp) {
                    log::error!("{why}; keeping the last good web configuration");
                    state.refused = Some(stamp);
                }
            }
        }
        state.current.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::host::lock(&self.state)
    }
}

/// The stamps of the config file and the files it names (`None` for one that cannot be read).
fn stamp_of(path: &Path, files: &[PathBuf]) -> Stamp {
    use std::os::unix::fs::MetadataExt as _;
    std::iter::once(path)
        .chain(files.iter().map(PathBuf::as_path))
        .map(|file| {
            let meta = std::fs::metadata(file).ok()?;
            Some((meta.len(), meta.modified().ok()?, meta.ino()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unchanged_file_is_not_reread_and_an_invalid_one_keeps_the_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, "").unwrap();
        let live = LiveWebConfig::watching(path.clone(), WebConfig::load(&path).unwrap());
        let first = live.current().await;
        assert!(Arc::ptr_eq(&first, &live.current().await), "not re-read");
        std::fs::write(&path, "basic_auth_users: [not, a, map]\n").unwrap();
        let kept = live.current().await;
        assert!(Arc::ptr_eq(&first, &kept), "the last good one is kept");
        assert!(live.lock().refused.is_some());
        std::fs::write(
            &path,
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        )
        .unwrap();
        let fresh = live.current().await;
        assert_eq!(fresh.headers.len(), 1);
        assert!(live.lock().refused.is_none());
    }
}
