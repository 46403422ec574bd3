//! The `--follow.basic-auth-file`: read at every scrape (it may be rotated), one read at a time.

use tokio::time::{timeout_at, Instant};

use crate::contract::still_running;

use super::FollowCheck;

/// The largest `--follow.basic-auth-file` read (one `user:password` line).
pub const MAX_AUTH_FILE_BYTES: u64 = 64 * 1024;

impl FollowCheck {
    /// `Ok(None)` without auth, `Ok(Some("user:password"))`, or why the file is unusable. The
    /// file must be a regular file of at most [`MAX_AUTH_FILE_BYTES`].
    pub(super) async fn read_basic_auth(
        &self,
        deadline: Instant,
    ) -> Result<Option<String>, String> {
        let Some(path) = &self.config.basic_auth_file else {
            return Ok(None);
        };
        let flag = |what: String| format!("--follow.basic-auth-file {}: {what}", path.display());
        let Some(guard) = self.auth_slot.try_take() else {
            return Err(still_running(&path.display().to_string())
                .failure()
                .unwrap_or_default());
        };
        let owned = path.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _held = guard;
            crate::host::files::read_capped(&owned, MAX_AUTH_FILE_BYTES)
        });
        let raw = match timeout_at(deadline, task).await {
            Err(_) => return Err(flag("timed out reading it".into())),
            Ok(Err(join)) => return Err(flag(format!("reader failed: {join}"))),
            Ok(Ok(Err(e))) => return Err(flag(format!("cannot read it: {e}"))),
            Ok(Ok(Ok(None))) => return Err(flag("cannot read it: it does not exist".into())),
            Ok(Ok(Ok(Some(raw)))) => raw,
        };
        let text = String::from_utf8(raw).map_err(|_| flag("not UTF-8 text".into()))?;
        parse_basic_auth(&text).map(Some).map_err(flag)
    }
}

/// `user:password` from the auth file's first line.
pub fn parse_basic_auth(text: &str) -> Result<String, String> {
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    match line.split_once(':') {
        Some((user, _)) if !user.is_empty() => Ok(line.to_string()),
        _ => Err("expected one line `user:password`".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::follow::FollowConfig;
    use std::time::Duration;

    #[tokio::test]
    async fn basic_auth_file_reads_are_regular_capped_and_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth");
        std::fs::write(&path, "u:p\n").unwrap();
        let checks = FollowCheck::new(FollowConfig {
            basic_auth_file: Some(path.clone()),
            ..FollowConfig::default()
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(
            checks.read_basic_auth(deadline).await,
            Ok(Some("u:p".into()))
        );

        // A read still in flight (a hung mount) is reported, and no second one starts.
        let held = checks.auth_slot.try_take().unwrap();
        let error = checks.read_basic_auth(deadline).await.unwrap_err();
        assert!(error.contains("previous read of"), "{error}");
        assert!(error.contains("still running"), "{error}");
        drop(held);
        assert_eq!(
            checks.read_basic_auth(deadline).await,
            Ok(Some("u:p".into()))
        );

        // A FIFO would block a plain read forever; it is refused.
        std::fs::remove_file(&path).unwrap();
        assert!(std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap()
            .success());
        let error = checks.read_basic_auth(deadline).await.unwrap_err();
        assert!(error.contains("not a regular file"), "{error}");
    }

    #[test]
    fn basic_auth_file_format() {
        assert_eq!(parse_basic_auth("u:p\n"), Ok("u:p".to_string()));
        assert_eq!(
            parse_basic_auth("u:p:q\r\nignored"),
            Ok("u:p:q".to_string())
        );
        assert!(parse_basic_auth("nocolon").is_err());
        assert!(parse_basic_auth(":p").is_err());
        assert!(parse_basic_auth("").is_err());
    }
}
