//! The verdicts on one follower: whether it runs (`follow_process`), why it is not healthy
//! ([`HealthReason`]s) and its health (see the module doc of `follow`).
//!
//! **Running** means the follower runs, seen either way: its API answered `/id` as an
//! ipfs-cluster API in this scrape (whatever the process search finds: a renamed binary, a
//! wrapper, a follower in its own container or on another host), or its
//! `ipfs-cluster-follow <name> run` process is alive on this host. Not running means neither:
//! nothing answers and the process table, read, holds no such process. Anything else (nothing
//! answers, and the process table is hidden or another user's process is named like it) is
//! unknown, never "not running".

use std::sync::Arc;
use std::time::Duration;

use crate::contract::{CheckStatus, DaemonStatus, Health};
use crate::host::process::ProcessTable;

use super::discovery::Follower;
use super::pins::{ERROR_STATES, UNEXPECTEDLY_UNPINNED, WAITING_STATES};
use super::report::{FollowReport, HealthReason};
use super::times::system_time;
use super::{CHECK_API, CHECK_PINS, CHECK_PROCESS};

/// Whether the follower's `ipfs-cluster-follow <name> run` process is alive here; unknown when
/// its API is on another host or the process table could not be read.
pub(super) fn process_verdict(
    follower: &Follower,
    procs: &Result<Arc<ProcessTable>, String>,
) -> (Option<bool>, CheckStatus) {
    if matches!(&follower.api, Ok(endpoint) if !endpoint.is_local()) {
        let reason = "the follower's API is not on this host".to_string();
        return (None, CheckStatus::Skipped(reason));
    }
    match procs {
        Ok(table) => {
            // The process matched in discovery (whatever the follower's label), else one whose
            // arguments name the label.
            // A process of another user (not the follower folder's owner, not the exporter's)
            // cannot make a follower read as running by taking its name.
            let alive = follower
                .process
                .as_ref()
                .filter(|p| table.get(p.pid).is_some());
            if let Some(unverified) = alive.filter(|p| !p.verified) {
                let user = unverified
                    .uid
                    .map_or_else(|| "an unknown user".to_string(), |uid| format!("uid {uid}"));
                return (
                    None,
                    CheckStatus::Failed(format!(
                        "an ipfs-cluster-follow process named {:?} (pid {}) runs as {user}, whom the exporter cannot verify as this follower's (not its own user, not an owner of the config folder or of the named socket's folder): whether this follower runs is unknown; name its folder with --follow.config-dir, or run the exporter as that user",
                        unverified.cluster_name, unverified.pid
                    )),
                );
            }
            let matched = alive.is_some();
            let own = crate::host::permissions::own_uid();
            let found = matched
                || table.follow_peers().any(|(p, name)| {
                    name == follower.name
                        && p.uid
                            .is_some_and(|uid| uid == own || Some(uid) == follower.folder_owner)
                });
            match table.running(found) {
                Some(running) => (Some(running), CheckStatus::Ok),
                None => (
                    None,
                    CheckStatus::Failed(
                        "other users' processes are hidden (/proc mounted with hidepid)".into(),
                    ),
                ),
            }
        }
        Err(reason) => (None, CheckStatus::Failed(reason.clone())),
    }
}

/// Its API answered as an ipfs-cluster API: the follower runs, and `follow_process` has its
/// answer, whatever the process search found (no process, one of another user, a table that
/// could not be read). Only a process that was looked for and is elsewhere stays skipped.
pub(super) fn runs_by_its_api(report: &mut FollowReport) {
    report.running = Some(true);
    for check in report
        .checks
        .iter_mut()
        .filter(|c| c.check == CHECK_PROCESS)
    {
        if check.status.failure().is_some() {
            check.status = CheckStatus::Ok;
        }
    }
}

/// Why a follower is not healthy, every cause, in the order an operator would look.
pub(super) fn reasons_of(report: &FollowReport) -> Vec<HealthReason> {
    let reason = |code, text: String| HealthReason { code, text };
    let failure_of = |check: &str| {
        report
            .checks
            .iter()
            .find(|c| c.check == check)
            .and_then(|c| c.status.failure())
    };
    if report.ipfs_only_stalls {
        return vec![reason(
            "ipfs_unreachable",
            "its API answers /health at once, but /id, which asks its IPFS daemon first, did not answer before the scrape deadline: its IPFS daemon is not answering (look at the IPFS daemon, not the follower)".to_string(),
        )];
    }
    if report.api_reachable != Some(true) {
        let why = failure_of(CHECK_API).unwrap_or_else(|| "it did not answer".to_string());
        if let (DaemonStatus::Stopped, Some(path)) = (&report.status, &report.stale_socket) {
            return vec![reason(
                "stopped",
                format!(
                    "stopped: stale api-socket at {path} (left by a crash): remove it before ipfs-cluster-follow can start ({why})"
                ),
            )];
        }
        return vec![if report.status == DaemonStatus::Stopped {
            reason(
                "stopped",
                format!(
                    "stopped: no ipfs-cluster-follow process and nothing answers on {} ({why})",
                    report.api
                ),
            )
        } else {
            reason("api_unreachable", format!("API not reachable: {why}"))
        }];
    }
    let mut reasons = Vec::new();
    if report.connected == Some(false) {
        reasons.push(reason(
            "no_cluster_peers",
            "sees no cluster peer besides itself".to_string(),
        ));
    }
    if report.trusted_peers == Some(0) {
        reasons.push(reason(
            "no_trusted_peers",
            "has no trusted peer in its trust graph besides itself: it accepts no pinset update"
                .to_string(),
        ));
    }
    if report.ipfs_connected == Some(false) {
        let said = report.ipfs_error.as_deref().unwrap_or("no error text");
        reasons.push(reason(
            "ipfs_unreachable",
            format!("cannot reach its IPFS daemon: {said}"),
        ));
    }
    if let Some(lost) = report
        .pins_listed
        .as_ref()
        .and_then(|listed| listed.get(UNEXPECTEDLY_UNPINNED))
        .filter(|n| **n > 0)
    {
        reasons.push(reason(
            "pins_lost",
            format!(
                "{lost} {} unexpectedly unpinned: in the cluster pinset but no longer pinned on its IPFS daemon (repo reset, moved or garbage-collected?)",
                if *lost == 1 { "pin" } else { "pins" }
            ),
        ));
    }
    match &report.pins {
        None => {
            let why = failure_of(CHECK_PINS).unwrap_or_else(|| "not measured".to_string());
            reasons.push(reason(
                "pins_unknown",
                format!("live pin counts unknown: {why}"),
            ));
        }
        Some(pins) => {
            let errors: Vec<String> = ERROR_STATES
                .iter()
                .filter_map(|state| pins.get(*state).filter(|n| **n > 0).map(|n| (state, n)))
                .map(|(state, n)| {
                    format!("{n} {} in {state}", if *n == 1 { "pin" } else { "pins" })
                })
                .collect();
            if !errors.is_empty() {
                reasons.push(reason("pin_errors", errors.join(", ")));
            }
        }
    }
    if let Some(stuck) = stuck_pins(report) {
        reasons.push(reason("pins_stuck", stuck));
    }
    reasons
}

/// The waiting states (queued, pinning) whose oldest pin has waited longer than
/// `--follow.max-pin-wait` by the collection's clock, in words; `None` when none has.
fn stuck_pins(report: &FollowReport) -> Option<String> {
    let whole =
        |d: std::time::Duration| humantime::format_duration(Duration::from_secs(d.as_secs()));
    let stuck: Vec<String> = report
        .pins_oldest
        .iter()
        .filter(|(state, _)| WAITING_STATES.contains(state))
        .filter_map(|(state, since)| {
            let since = system_time(*since);
            let waited = report.last_check.duration_since(since).ok()?;
            (waited > report.max_pin_wait).then(|| {
                format!(
                    "{state} for {} (since {})",
                    whole(waited),
                    crate::contract::views::rfc3339(since)
                )
            })
        })
        .collect();
    (!stuck.is_empty()).then(|| {
        format!(
            "pins stuck: the oldest {}, longer than {} (--follow.max-pin-wait)",
            stuck.join(", the oldest "),
            whole(report.max_pin_wait)
        )
    })
}

/// The follower's `/id` timed out while its IPFS daemon did not answer in time either (`why`,
/// a fact of the Kubo check handed over by `checks/joins.rs`): ipfs-cluster asks its IPFS
/// daemon before it answers `/id`, so the follower is waiting on it, not hung itself. Its API
/// reads not measured (absent, not 0) and it is degraded by `ipfs_unreachable`, not unhealthy
/// by `api_unreachable`. Nothing changes unless `follow_api` timed out.
pub(super) fn waiting_on_ipfs(report: &mut FollowReport, why: &str) {
    let timed_out = report
        .checks
        .iter()
        .any(|c| c.check == CHECK_API && c.status == CheckStatus::TimedOut);
    if !timed_out {
        return;
    }
    let why = crate::contract::Text::new(why).to_string();
    report.api_reachable = None;
    report.ipfs_connected = Some(false);
    report.reasons = vec![HealthReason {
        code: "ipfs_unreachable",
        text: format!("its /id waits on its IPFS daemon: {why}"),
    }];
    report.ipfs_error = Some(why);
    report.health = Health::Degraded;
}

/// Health from the verdict's causes (see the module doc): unhealthy while the API is not
/// reachable, degraded when [`reasons_of`] found any cause, else healthy.
pub(super) fn health_of(report: &FollowReport) -> Health {
    if report.ipfs_only_stalls {
        Health::Degraded
    } else if report.api_reachable != Some(true) {
        Health::Unhealthy
    } else if report.reasons.is_empty() {
        Health::Healthy
    } else {
        Health::Degraded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::follow::discovery;
    use crate::checks::follow::report::{empty_report, follower};
    use crate::net::http_client::Endpoint;
    use std::time::SystemTime;

    /// A process table holding one `ipfs-cluster-follow c run` of the exporter's own user.
    fn running_c(pid: u32) -> Result<Arc<ProcessTable>, String> {
        let table = ProcessTable {
            processes: vec![crate::host::process::ProcessInfo {
                pid,
                argv: vec!["ipfs-cluster-follow".into(), "c".into(), "run".into()],
                comm: "ipfs-cluster-follow".into(),
                uid: Some(crate::host::permissions::own_uid()),
            }],
            ..ProcessTable::default()
        };
        Ok(Arc::new(table))
    }

    #[test]
    fn health_is_degraded_by_any_cause_and_unhealthy_without_the_api() {
        let mut report = empty_report(
            &follower("c", Endpoint::Unix("/x/api-socket".into())),
            SystemTime::now(),
        );
        report.api_reachable = Some(true);
        report.peers = Some(2);
        report.connected = Some(true);
        report.ipfs_connected = Some(true);
        report.pins = Some([("pin_error".to_string(), 0)].into());
        report.reasons = reasons_of(&report);
        assert_eq!(health_of(&report), Health::Healthy);
        report.pins = Some([("pin_error".to_string(), 1)].into());
        report.reasons = reasons_of(&report);
        assert_eq!(report.reasons[0].code, "pin_errors");
        assert_eq!(health_of(&report), Health::Degraded);
        report.api_reachable = Some(false);
        report.reasons = reasons_of(&report);
        assert_eq!(health_of(&report), Health::Unhealthy);
    }

    #[test]
    fn a_pin_queued_or_pinning_past_the_maximum_wait_is_stuck() {
        let mut report = empty_report(
            &follower("c", Endpoint::Unix("/x/api-socket".into())),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        );
        report.api_reachable = Some(true);
        report.connected = Some(true);
        report.ipfs_connected = Some(true);
        report.pins = Some([("pin_error".to_string(), 0)].into());
        report.max_pin_wait = Duration::from_secs(3600);
        let ago = |s: i64| (1_800_000_000 - s) * 1_000_000_000;
        // Errors long ago are pin_errors' business; a queue of 59 minutes is not stuck.
        report.pins_oldest = vec![("pin_queued", ago(3540)), ("pin_error", ago(86_400))];
        assert_eq!(reasons_of(&report), vec![]);
        report.pins_oldest = vec![("pin_queued", ago(3540)), ("pinning", ago(3 * 3600 + 65))];
        let reasons = reasons_of(&report);
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert_eq!(reasons[0].code, "pins_stuck");
        assert_eq!(
            reasons[0].text,
            "pins stuck: the oldest pinning for 3h 1m 5s (since 2027-01-15T04:58:55Z), longer than 1h (--follow.max-pin-wait)"
        );
        // A time ahead of the exporter's clock has waited for nothing yet.
        report.pins_oldest = vec![("pin_queued", ago(-600))];
        assert_eq!(reasons_of(&report), vec![]);
    }

    #[test]
    fn a_follower_waiting_on_a_hung_ipfs_daemon_is_degraded_not_unreachable() {
        let mut report = empty_report(
            &follower("c", Endpoint::Unix("/x/api-socket".into())),
            SystemTime::now(),
        );
        let api = |status| crate::contract::CheckResult::new(CHECK_API, status, Default::default());
        report.checks = vec![api(CheckStatus::Failed("refused".into()))];
        report.api_reachable = Some(false);
        waiting_on_ipfs(&mut report, "Kubo 127.0.0.1:5001 timed out");
        assert_eq!(
            report.api_reachable,
            Some(false),
            "only a timed-out /id waits"
        );
        report.checks = vec![api(CheckStatus::TimedOut)];
        report.reasons = reasons_of(&report);
        report.health = health_of(&report);
        waiting_on_ipfs(&mut report, "Kubo 127.0.0.1:5001 timed out");
        assert_eq!(report.api_reachable, None, "not measured, not 0");
        assert_eq!(report.ipfs_connected, Some(false));
        assert_eq!(report.health, Health::Degraded);
        assert_eq!(report.reasons.len(), 1);
        assert_eq!(report.reasons[0].code, "ipfs_unreachable");
        assert!(report.reasons[0]
            .text
            .contains("Kubo 127.0.0.1:5001 timed out"));
    }

    #[test]
    fn process_verdict_only_for_followers_on_this_host() {
        let procs = running_c(7);
        let local = follower("c", Endpoint::Unix("/x/api-socket".into()));
        assert_eq!(
            process_verdict(&local, &procs),
            (Some(true), CheckStatus::Ok)
        );
        let other = follower("d", Endpoint::Unix("/y/api-socket".into()));
        assert_eq!(process_verdict(&other, &procs).0, Some(false));
        let remote = follower(
            "c",
            Endpoint::Tcp {
                host: "10.1.2.3".into(),
                port: 9094,
            },
        );
        let (running, status) = process_verdict(&remote, &procs);
        assert_eq!(
            running, None,
            "a process elsewhere cannot be looked for here"
        );
        assert!(matches!(status, CheckStatus::Skipped(_)));
        let unreadable = Err("cannot list /proc".to_string());
        assert_eq!(process_verdict(&local, &unreadable).0, None);
    }

    #[test]
    fn a_follower_labelled_otherwise_runs_when_its_matched_process_does() {
        let procs = running_c(42);
        let mut labelled = follower(
            "127.0.0.1:19094",
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 19094,
            },
        );
        assert_eq!(process_verdict(&labelled, &procs).0, Some(false));
        labelled.process = Some(discovery::FollowProcess {
            pid: 42,
            cluster_name: "c".into(),
            folder: "/f".into(),
            verified: true,
            uid: Some(crate::host::permissions::own_uid()),
        });
        assert_eq!(
            process_verdict(&labelled, &procs),
            (Some(true), CheckStatus::Ok)
        );
        let report = empty_report(&labelled, SystemTime::now());
        assert_eq!(report.pid, Some(42));
        // Another user's process named like it: whether it runs is unknown, never "running".
        if let Some(process) = labelled.process.as_mut() {
            process.verified = false;
            process.uid = Some(4242);
        }
        let (running, status) = process_verdict(&labelled, &procs);
        assert_eq!(running, None);
        let reason = status.failure().unwrap_or_default();
        assert!(
            reason.contains("uid 4242") && reason.contains("--follow.config-dir"),
            "{reason}"
        );
        let report = empty_report(&labelled, SystemTime::now());
        assert_eq!(report.pid, None, "its sockets are not the follower's own");
    }

    #[test]
    fn a_follower_whose_api_answers_runs_whatever_the_process_search_found() {
        let mut report = empty_report(
            &follower("c", Endpoint::Unix("/x/api-socket".into())),
            SystemTime::now(),
        );
        report.running = None;
        report.checks.push(crate::contract::CheckResult::new(
            CHECK_PROCESS,
            CheckStatus::Failed(
                "an ipfs-cluster-follow process named \"c\" runs as uid 4242".into(),
            ),
            std::time::Duration::ZERO,
        ));
        runs_by_its_api(&mut report);
        assert_eq!(report.running, Some(true));
        assert_eq!(report.checks[0].status, CheckStatus::Ok);
        // A process looked for elsewhere stays skipped (not exported), yet it runs.
        report.checks[0].status =
            CheckStatus::Skipped("the follower's API is not on this host".into());
        runs_by_its_api(&mut report);
        assert!(matches!(report.checks[0].status, CheckStatus::Skipped(_)));
    }

    #[test]
    fn no_trusted_peer_is_a_reason() {
        let mut report = empty_report(
            &follower("c", Endpoint::Unix("/x/api-socket".into())),
            SystemTime::now(),
        );
        report.api_reachable = Some(true);
        report.connected = Some(true);
        report.ipfs_connected = Some(true);
        report.pins = Some([("pin_error".to_string(), 0)].into());
        report.trusted_peers = Some(0);
        let codes: Vec<&str> = reasons_of(&report).iter().map(|r| r.code).collect();
        assert_eq!(codes, ["no_trusted_peers"]);
        report.trusted_peers = None;
        assert!(reasons_of(&report).is_empty(), "not measured is no reason");
    }
}
