//! Host primitives: the process table, bounded file reads, permissions, and logging that a
//! client cannot flood.

pub mod files;
pub mod log;
pub mod permissions;
pub mod process;

/// Lock a mutex; a lock poisoned by a panic elsewhere is taken anyway. The one policy for every
/// lock in the exporter: what they guard are caches and in-flight tables whose every update is
/// a single assignment, so a panic never leaves them half-written, and a scrape must not fail
/// because another one panicked.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Blocking: whether two paths name the same folder, as written or through symlinks (both
/// resolved when they exist); a folder that cannot be resolved compares as written.
pub fn same_folder(a: &std::path::Path, b: &std::path::Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(a), Ok(b)) if a == b
        )
}
