//! Asking one follower's REST API: `/id` (who it is, its cluster peers, its IPFS daemon) and
//! the live pin count every scrape, then the cached figures when due; a follower that cannot
//! be asked gets its failed checks and an unhealthy verdict.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::contract::{CheckResult, CheckStatus, DaemonStatus};
use crate::host::process::ProcessTable;

use super::api::{ApiClient, ApiError, ClusterId};
use super::discovery::Follower;
use super::pins::{PinCounts, OPERATION_STATES};
use super::report::{empty_report, FollowReport};
use super::verdict::{health_of, process_verdict, reasons_of, runs_by_its_api};
use super::{FollowCheck, CHECK_API, CHECK_PINS, CHECK_PINS_LISTING, CHECK_PROCESS, CHECK_TRUST};
use crate::net::http_client::Endpoint;

impl FollowCheck {
    /// One follower's report, with the reasons of its verdict.
    pub(super) async fn check_follower(
        &self,
        follower: &Follower,
        auth: &Result<Option<String>, String>,
        procs: &Result<Arc<ProcessTable>, String>,
        deadline: Instant,
        last_check: SystemTime,
    ) -> FollowReport {
        let mut report = empty_report(follower, last_check);
        report.max_pin_wait = self.config.max_pin_wait;
        self.ask_follower(&mut report, follower, auth, procs, deadline)
            .await;
        report.reasons = reasons_of(&report);
        report.health = health_of(&report);
        report
    }

    /// Fill `report` with what the follower's process and API say.
    async fn ask_follower(
        &self,
        report: &mut FollowReport,
        follower: &Follower,
        auth: &Result<Option<String>, String>,
        procs: &Result<Arc<ProcessTable>, String>,
        deadline: Instant,
    ) {
        let (running, process_status) = process_verdict(follower, procs);
        report.running = running;
        report.checks.push(self.named(
            follower,
            CheckResult::new(CHECK_PROCESS, process_status, Duration::ZERO),
        ));
        let client = match (&follower.api, auth) {
            (Err(reason), _) => Err(format!("the API setting cannot be used: {reason}")),
            (_, Err(reason)) => Err(reason.clone()),
            // Credentials go only to followers the operator configured, never to an endpoint
            // that only a process pointed at.
            (Ok(endpoint), Ok(creds)) => Ok(ApiClient::new(
                endpoint.clone(),
                creds.as_deref().filter(|_| follower.trusted),
                self.config.body_cap,
                self.config.pin_line_cap,
            )),
        };
        let client = match client {
            Ok(client) => client,
            Err(reason) => {
                report.checks.push(self.named(
                    follower,
                    CheckResult::new(CHECK_API, CheckStatus::Failed(reason), Duration::ZERO),
                ));
                report.api_reachable = Some(false);
                self.not_run(
                    report,
                    follower,
                    "not run: the follower's API cannot be addressed",
                );
                report.status = DaemonStatus::Error;
                return;
            }
        };
        let started = std::time::Instant::now();
        let known_id = self.lock().peer_ids.get(&follower.name).cloned();
        // The live pin count runs alongside /id with the peer id of the last round; it is used
        // only if /id proves a cluster API with that same id.
        // `/health` answers without the IPFS daemon; `/id` waits on it. Both at once, so a
        // follower whose `/id` stalls behind a hung IPFS daemon is told from a hung follower
        // before the deadline, whether or not its Kubo is watched.
        let (id, early_pins, answers_health) = tokio::join!(
            async {
                let id = client.id(deadline).await;
                (id, started.elapsed())
            },
            async {
                match &known_id {
                    Some(known) => Some(self.live_pins(&client, known, deadline).await),
                    None => None,
                }
            },
            client.health(deadline),
        );
        let (id, id_duration) = id;
        match id {
            Ok(id) => {
                report.checks.push(self.named(
                    follower,
                    CheckResult::new(CHECK_API, CheckStatus::Ok, id_duration),
                ));
                let early_pins = early_pins.filter(|_| known_id.as_deref() == Some(id.id.as_str()));
                {
                    let mut state = self.lock();
                    state.peer_ids.insert(follower.name.clone(), id.id.clone());
                    state
                        .swarm_addresses
                        .insert(follower.name.clone(), id.addresses.clone());
                }
                self.ask_reachable(report, follower, &client, &id, early_pins, deadline)
                    .await;
            }
            Err(error) => {
                let status = api_status(&error);
                report.checks.push(self.named(
                    follower,
                    CheckResult::new(CHECK_API, status.clone(), started.elapsed()),
                ));
                // Not answering in time is not answering: 0, as `lotus_up` is for a hung Lotus.
                report.api_reachable = Some(false);
                report.swarm_addresses = self
                    .lock()
                    .swarm_addresses
                    .get(&follower.name)
                    .cloned()
                    .unwrap_or_default();
                let waits_on_ipfs = error.is_timeout() && answers_health;
                self.not_run(
                    report,
                    follower,
                    if waits_on_ipfs {
                        "not run: /id waits on the follower's IPFS daemon (its /health answers)"
                    } else {
                        "not run: the API did not answer /id as an ipfs-cluster REST API"
                    },
                );
                // Stopped only when the process table was read and holds no follower process:
                // unknown (API on another host, /proc hidden, another user's process) is not none.
                report.status = if error.is_unreachable() && running == Some(false) {
                    DaemonStatus::Stopped
                } else {
                    DaemonStatus::Error
                };
                // A socket file nobody listens on, and no follower process: left by a crash
                // (a clean stop removes it), and it keeps the next `run` from binding.
                if let (DaemonStatus::Stopped, Ok(Endpoint::Unix(path))) =
                    (&report.status, &follower.api)
                {
                    if error.is_refused() {
                        report.stale_socket = Some(path.display().to_string());
                    }
                }
                if !waits_on_ipfs {
                    self.list_again(follower);
                }
                if waits_on_ipfs {
                    runs_by_its_api(report);
                    report.status = DaemonStatus::Running;
                    report.ipfs_only_stalls = true;
                    // Not measured (absent), not 0: the API answers; IPFS is what does not.
                    report.api_reachable = None;
                    report.ipfs_connected = Some(false);
                    report.ipfs_error = Some(
                        "no answer to /id before the scrape deadline (it asks its IPFS daemon first)"
                            .to_string(),
                    );
                }
            }
        }
    }

    /// Record the pin and trust checks as failed because they could not run.
    fn not_run(&self, report: &mut FollowReport, follower: &Follower, reason: &str) {
        for name in [CHECK_PINS, CHECK_PINS_LISTING, CHECK_TRUST] {
            let status = CheckStatus::Failed(reason.to_string());
            report
                .checks
                .push(self.named(follower, CheckResult::new(name, status, Duration::ZERO)));
        }
        report.pins_listed_at = self
            .lock()
            .slow
            .get(&follower.name)
            .and_then(|cache| cache.listing.last_success);
    }

    /// With the API answering: live pins, and the slow figures when due.
    async fn ask_reachable(
        &self,
        report: &mut FollowReport,
        follower: &Follower,
        client: &ApiClient,
        id: &ClusterId,
        early_pins: Option<(Option<PinCounts>, CheckResult)>,
        deadline: Instant,
    ) {
        report.api_reachable = Some(true);
        report.peer_id = Some(id.id.clone());
        report.peername = Some(id.peername.clone());
        report.version = Some(id.version.clone());
        report.peers = Some(id.other_peers());
        report.connected = Some(id.other_peers() > 0);
        report.ipfs_connected = id.ipfs_error.as_ref().map(String::is_empty);
        report.ipfs_error = id.ipfs_error.clone().filter(|e| !e.is_empty());
        report.swarm_addresses = id.addresses.clone();
        report.status = DaemonStatus::Running;
        runs_by_its_api(report);

        let (live, listing, trust) = tokio::join!(
            async {
                match early_pins {
                    Some(done) => done,
                    None => self.live_pins(client, &id.id, deadline).await,
                }
            },
            self.listing(follower, client, &id.id, deadline),
            self.trust(follower, client, &id.id, deadline),
        );
        let (live_counts, live_check) = live;
        if let Some(live) = live_counts {
            report.pins_oldest = live.oldest_by_state().collect();
            report.pin_attempts_max = live.attempts_max;
            report.pins = Some(with_zeros(&OPERATION_STATES, live.by_status, false));
        }
        report.checks.push(self.named(follower, live_check));
        let ((listed, listed_at, catching_up), listing_check) = listing;
        report.pin_newest_created = listed.as_ref().and_then(|l| l.newest_created);
        report.pins_listed = listed.map(|l| l.by_status);
        report.pins_listed_at = listed_at;
        report.pins_catching_up = catching_up;
        report.checks.push(self.named(follower, listing_check));
        let ((trusted, trusted_at), trust_check) = trust;
        report.trusted_peers = trusted;
        report.trusted_peers_at = trusted_at;
        report.checks.push(self.named(follower, trust_check));
    }

    async fn live_pins(
        &self,
        client: &ApiClient,
        own_id: &str,
        deadline: Instant,
    ) -> (Option<PinCounts>, CheckResult) {
        let started = std::time::Instant::now();
        let outcome = client
            .pins(Some(&OPERATION_STATES), Some(own_id), deadline)
            .await;
        let (counts, status) = match outcome {
            Ok(counts) => (Some(counts), CheckStatus::Ok),
            Err(error) => (None, api_status(&error)),
        };
        (
            counts,
            CheckResult::new(CHECK_PINS, status, started.elapsed()),
        )
    }

    fn named(&self, follower: &Follower, mut check: CheckResult) -> CheckResult {
        check.cluster_name = Some(follower.name.clone());
        check
    }
}

/// A failed call as a check status: timeouts are `TimedOut`, the rest `Failed` with the message.
pub(super) fn api_status(error: &ApiError) -> CheckStatus {
    if error.is_timeout() {
        CheckStatus::TimedOut
    } else {
        CheckStatus::Failed(error.to_string())
    }
}

/// Counts with a zero for every state in `states`; other statuses kept only when `keep_others`.
pub(super) fn with_zeros(
    states: &[&str],
    counts: BTreeMap<String, u64>,
    keep_others: bool,
) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = states.iter().map(|s| (s.to_string(), 0)).collect();
    for (status, n) in counts {
        if keep_others || states.contains(&status.as_str()) {
            *out.entry(status).or_insert(0) += n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::follow::pins::TRACKER_STATES;

    #[test]
    fn zeros_for_every_state() {
        let counts = BTreeMap::from([("pin_error".to_string(), 2), ("pinned".to_string(), 5)]);
        let live = with_zeros(&OPERATION_STATES, counts.clone(), false);
        assert_eq!(live.len(), OPERATION_STATES.len());
        assert_eq!(live["pin_error"], 2);
        assert!(!live.contains_key("pinned"));
        let listed = with_zeros(&TRACKER_STATES, counts, true);
        assert_eq!(listed.len(), TRACKER_STATES.len());
        assert_eq!(listed["pinned"], 5);
    }
}
