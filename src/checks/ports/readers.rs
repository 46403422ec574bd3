//! The ports check's blocking reads (config files, socket tables): each runs off the runtime
//! under the scrape's deadline, one at a time per reader, and a read still running from an
//! earlier round is reported instead of started again.

use std::time::Duration;

use tokio::time::{timeout_at, Instant};

use crate::contract::{still_running, CheckResult, CheckStatus};
use crate::host::files::ReadSlot;

/// A sub-check's name and how long it ran.
pub(super) struct Timed {
    check: &'static str,
    duration: Duration,
}

impl Timed {
    pub(super) fn result(&self, status: CheckStatus) -> CheckResult {
        CheckResult::new(self.check, status, self.duration)
    }
}

/// A blocking reader: its check name, its slot, and what it reads (for the "still running" failure).
pub(super) struct Reader {
    pub(super) check: &'static str,
    pub(super) slot: ReadSlot,
    pub(super) what: String,
}

/// Run blocking `work` off the runtime before `deadline`; a timeout or a panic is the check's
/// status. When the reader's previous `work` still runs, none is started and the check fails.
pub(super) async fn blocking<T, F>(
    deadline: Instant,
    reader: Reader,
    work: F,
) -> (Timed, Result<T, CheckStatus>)
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let started = Instant::now();
    let check = reader.check;
    let Some(guard) = reader.slot.try_take() else {
        let timed = Timed {
            check,
            duration: started.elapsed(),
        };
        return (timed, Err(still_running(&reader.what)));
    };
    let task = tokio::task::spawn_blocking(move || {
        let _held = guard;
        work()
    });
    let outcome = match timeout_at(deadline, task).await {
        Err(_) => Err(CheckStatus::TimedOut),
        Ok(Err(join)) => Err(CheckStatus::Failed(format!("reader failed: {join}"))),
        Ok(Ok(value)) => Ok(value),
    };
    let timed = Timed {
        check,
        duration: started.elapsed(),
    };
    (timed, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::ports::CHECK_KUBO_CONFIG;

    #[tokio::test]
    async fn a_read_still_running_is_reported_not_started_again() {
        let slot = ReadSlot::default();
        let reader = || Reader {
            check: CHECK_KUBO_CONFIG,
            slot: slot.clone(),
            what: "/mnt/hung/config".into(),
        };
        let (release, hung) = std::sync::mpsc::channel::<()>();
        let soon = || Instant::now() + Duration::from_millis(100);
        let (_, first) = blocking(soon(), reader(), move || hung.recv().is_ok()).await;
        assert_eq!(first, Err(CheckStatus::TimedOut));
        let (_, second) = blocking(soon(), reader(), || -> bool {
            unreachable!("a second read must not start")
        })
        .await;
        let error = second.unwrap_err().failure().unwrap_or_default();
        assert!(
            error.contains("previous read of /mnt/hung/config still running"),
            "{error}"
        );
        // Once the hung read returns, the slot is free again.
        release.send(()).unwrap();
        for _ in 0..100 {
            if slot.try_take().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (_, third) = blocking(soon(), reader(), || 7).await;
        assert_eq!(third, Ok(7));
    }
}
