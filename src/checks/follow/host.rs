//! The host-level checks of the follow check: finding the followers under the scrape deadline
//! (`follow_discovery`, one blocking pass at a time) and the `ipfs-cluster-follow` binary
//! (`follow_binary`), reported in [`FollowHost`].

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{timeout_at, Instant};

use crate::contract::{still_running, CheckResult, CheckStatus};
use crate::host::process::ProcessTable;

use super::discovery::{self, Discovery, DiscoveryInput, Source};
use super::{FollowCheck, CHECK_BINARY, CHECK_DISCOVERY};

/// Host-level outcome of the follow check, not tied to one follower.
#[derive(Debug, Clone, Default)]
pub struct FollowHost {
    /// The `ipfs-cluster-follow` binary is on PATH and answers `--version`.
    pub binary_available: Option<bool>,
    /// How many followers each source found, every source present; `None` when discovery did
    /// not finish.
    pub found_by: Option<Vec<(discovery::Source, usize)>>,
    /// Followers found but not watched because of `--follow.max-followers`; `None` when
    /// discovery did not finish.
    pub over_cap: Option<usize>,
    /// `follow_discovery` and `follow_binary`.
    pub checks: Vec<CheckResult>,
}

impl FollowHost {
    /// The host section of a follow check that did not finish before the scrape deadline.
    pub fn timed_out(elapsed: Duration) -> FollowHost {
        FollowHost {
            binary_available: None,
            found_by: None,
            over_cap: None,
            checks: [CHECK_DISCOVERY, CHECK_BINARY]
                .into_iter()
                .map(|check| CheckResult::new(check, CheckStatus::TimedOut, elapsed))
                .collect(),
        }
    }
}

impl FollowCheck {
    pub(super) async fn discover(
        &self,
        deadline: Instant,
        procs: Arc<ProcessTable>,
    ) -> (Discovery, CheckResult) {
        let started = std::time::Instant::now();
        let specs = self.config.apis.clone();
        let config_dir = self.config.config_dir.clone();
        let config_dir_explicit = self.config.config_dir_explicit;
        let max_followers = self.config.max_followers;
        let Some(guard) = self.discovery_slot.try_take() else {
            let what = format!("{} and the followers' /proc entries", config_dir.display());
            let check = CheckResult::new(CHECK_DISCOVERY, still_running(&what), started.elapsed());
            return (Discovery::only_flags(&specs, max_followers), check);
        };
        let task = tokio::task::spawn_blocking(move || {
            let _held = guard;
            // /etc/passwd at most once per pass, however many processes ask (a host may run
            // dozens of follow processes, each another user's).
            let passwd_text = std::cell::OnceCell::new();
            let passwd = || {
                passwd_text
                    .get_or_init(crate::host::permissions::read_passwd)
                    .as_deref()
                    .unwrap_or_default()
            };
            let owner_home = |uid: u32| crate::host::process::home_dir_in(passwd(), uid);
            let user_name = |uid: u32| crate::host::permissions::name_in(passwd(), uid);
            discovery::discover(&DiscoveryInput {
                specs: &specs,
                config_dir: &config_dir,
                config_dir_explicit,
                procs: &procs,
                environ: &crate::host::process::read_environ,
                owner_home: &owner_home,
                owner_of: &crate::host::permissions::owner_of,
                user_name: &user_name,
                own_uid: crate::host::permissions::own_uid(),
                max_followers,
            })
        });
        // Followers named by flag need no file access: they are checked even when the rest
        // of discovery did not finish.
        let (mut found, status) = match timeout_at(deadline, task).await {
            Err(_) => (
                Discovery::only_flags(&self.config.apis, max_followers),
                CheckStatus::TimedOut,
            ),
            Ok(Err(join)) => (
                Discovery::only_flags(&self.config.apis, max_followers),
                CheckStatus::Failed(format!("discovery task failed: {join}")),
            ),
            Ok(Ok(found)) if found.problems.is_empty() => (found, CheckStatus::Ok),
            Ok(Ok(found)) => {
                let reason = found.problems.join("; ");
                (found, CheckStatus::Failed(reason))
            }
        };
        if !self.config.discover_processes {
            // Processes were not looked at: no count of them, rather than a 0 that says none run.
            found
                .found_by
                .retain(|(source, _)| *source != Source::Process);
        }
        self.log_cap(found.dropped);
        if !found.found_by.is_empty() {
            // Discovery ran to its end (a timed-out one says nothing about the pairs).
            self.log_shadowed(&found.shadowed);
        }
        let check = CheckResult::new(CHECK_DISCOVERY, status, started.elapsed());
        (found, check)
    }

    fn log_cap(&self, dropped: usize) {
        if dropped == 0 {
            return;
        }
        let mut state = self.lock();
        if !state.cap_logged {
            state.cap_logged = true;
            log::warn!(
                "found more than {} ipfs-cluster followers; {dropped} are not checked (raise --follow.max-followers)",
                self.config.max_followers
            );
        }
    }

    /// Warn once about each pair of followers that share a cluster name, for as long as they
    /// do (only the pairs of this discovery are remembered: processes that come and go with new
    /// names cannot grow the set without bound).
    fn log_shadowed(&self, shadowed: &[String]) {
        let mut state = self.lock();
        state
            .shadowed_logged
            .retain(|logged| shadowed.contains(logged));
        for message in shadowed {
            if state.shadowed_logged.insert(message.clone()) {
                log::warn!("{message}");
            }
        }
    }

    /// Find the binary on PATH and run its `--version`, unless the same file was asked before.
    pub(super) async fn check_binary(&self, deadline: Instant) -> (CheckResult, Option<bool>) {
        let started = std::time::Instant::now();
        let search = self
            .config
            .binary_search_path
            .clone()
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        let (binary, status) = self.binary_probe.check(&search, deadline).await;
        let available = binary.available;
        (
            CheckResult::new(CHECK_BINARY, status, started.elapsed()),
            available,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::follow::FollowConfig;

    #[tokio::test]
    async fn processes_not_looked_at_are_not_counted_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let checks = FollowCheck::new(FollowConfig {
            config_dir: dir.path().to_path_buf(),
            discover_processes: false,
            ..FollowConfig::default()
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let (found, _) = checks.discover(deadline, Arc::default()).await;
        assert_eq!(
            found.found_by,
            vec![(Source::Flag, 0), (Source::ConfigDir, 0)],
            "no process count when process discovery is off"
        );
    }

    #[tokio::test]
    async fn a_discovery_still_running_is_reported_not_started_again() {
        let checks = FollowCheck::new(FollowConfig::default());
        let _held = checks.discovery_slot.try_take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let (found, check) = checks.discover(deadline, Arc::default()).await;
        assert!(found.followers.is_empty());
        let error = check.status.failure().unwrap_or_default();
        assert!(error.contains("still running"), "{error}");
    }

    #[test]
    fn shadowed_warnings_remembered_are_only_the_current_ones() {
        let checks = FollowCheck::new(FollowConfig::default());
        for round in 0..100 {
            checks.log_shadowed(&[format!("pair {round}")]);
        }
        assert_eq!(checks.lock().shadowed_logged.len(), 1);
        checks.log_shadowed(&[]);
        assert!(checks.lock().shadowed_logged.is_empty());
    }
}
