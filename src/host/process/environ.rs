//! Other processes' environments (`/proc/<pid>/environ`), kept while the process stays the one
//! the last cached scan saw.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use super::{lock, ProcessCache, ProcessKey};

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

/// Environments read by [`read_environ`], kept per process while the last [`scan_cached`](super::scan_cached)
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
pub(super) fn publish_keys(cache: &ProcessCache) {
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
    crate::host::files::read_capped(&path, ENVIRON_CAP)
        .ok()
        .flatten()
        .map(|raw| parse_environ(&raw))
}

/// Largest process environment read (Linux caps argv + environ at a few MiB).
const ENVIRON_CAP: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::time::Instant;

    use crate::host::process::scan_cached;

    #[test]
    fn parses_environ_buffers() {
        assert_eq!(
            parse_environ(b"A=1\0IPFS_CLUSTER_PATH=/x=y\0junk\0=v\0"),
            vec![
                ("A".to_string(), "1".to_string()),
                ("IPFS_CLUSTER_PATH".to_string(), "/x=y".to_string())
            ]
        );
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
}
