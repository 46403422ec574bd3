//! The cached, rarely refreshed figures of each follower: the full pin listing
//! (`follow_pins_listing`) and the trust graph (`follow_trust`), fetched at most every
//! `--follow.refresh-interval` (a failed one again after [`FAILED_RETRY`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::contract::{CheckResult, CheckStatus};
use crate::net::http_client::Endpoint;

use super::api::ApiClient;
use super::discovery::Follower;
use super::follower::{api_status, with_zeros};
use super::pins::TRACKER_STATES;
use super::{FollowCheck, CHECK_PINS_LISTING, CHECK_TRUST};

/// A failed listing or trust graph is retried after this long (or the refresh interval, if shorter).
pub const FAILED_RETRY: Duration = Duration::from_secs(60);

/// Cached slow figures of one follower.
#[derive(Debug)]
pub(super) struct SlowCache {
    endpoint: Endpoint,
    pub(super) listing: Slow<BTreeMap<String, u64>>,
    pub(super) trust: Slow<u64>,
}

/// One cached, rarely refreshed figure.
#[derive(Debug)]
pub(super) struct Slow<T> {
    last_attempt: Option<Instant>,
    outcome: Option<Result<T, CheckStatus>>,
    pub(super) last_success: Option<SystemTime>,
}

impl<T> Default for Slow<T> {
    fn default() -> Self {
        Slow {
            last_attempt: None,
            outcome: None,
            last_success: None,
        }
    }
}

impl<T: Clone> Slow<T> {
    fn due(&self, now: Instant, interval: Duration) -> bool {
        match (self.last_attempt, &self.outcome) {
            (Some(at), Some(Ok(_))) => now.duration_since(at) >= interval,
            (Some(at), _) => now.duration_since(at) >= interval.min(FAILED_RETRY),
            (None, _) => true,
        }
    }

    fn record(&mut self, outcome: Result<T, CheckStatus>) {
        if outcome.is_ok() {
            self.last_success = Some(SystemTime::now());
        }
        self.outcome = Some(outcome);
    }

    fn current(&self) -> (Option<T>, CheckStatus) {
        match &self.outcome {
            Some(Ok(value)) => (Some(value.clone()), CheckStatus::Ok),
            Some(Err(status)) => (None, status.clone()),
            None => (None, CheckStatus::Failed("not fetched yet".to_string())),
        }
    }
}

impl FollowCheck {
    pub(super) async fn listing(
        &self,
        follower: &Follower,
        client: &ApiClient,
        own_id: &str,
        deadline: Instant,
    ) -> (
        (Option<BTreeMap<String, u64>>, Option<SystemTime>),
        CheckResult,
    ) {
        let started = std::time::Instant::now();
        let fetch = || async {
            client
                .pins(None, Some(own_id), deadline)
                .await
                .map(|counts| with_zeros(&TRACKER_STATES, counts.by_status, true))
                .map_err(|e| api_status(&e))
        };
        let (value, at, status) = self
            .refreshed(follower, &client.endpoint, |c| &mut c.listing, fetch)
            .await;
        let check = CheckResult::new(CHECK_PINS_LISTING, status, started.elapsed());
        ((value, at), check)
    }

    pub(super) async fn trust(
        &self,
        follower: &Follower,
        client: &ApiClient,
        own_id: &str,
        deadline: Instant,
    ) -> ((Option<u64>, Option<SystemTime>), CheckResult) {
        let started = std::time::Instant::now();
        let fetch = || async {
            client
                .trusted_peers(own_id, deadline)
                .await
                .map_err(|e| api_status(&e))
        };
        let (value, at, status) = self
            .refreshed(follower, &client.endpoint, |c| &mut c.trust, fetch)
            .await;
        (
            (value, at),
            CheckResult::new(CHECK_TRUST, status, started.elapsed()),
        )
    }

    /// One slow figure of `follower`: fetched (and recorded) when due, then what the cache
    /// holds, with when it last succeeded.
    async fn refreshed<T: Clone, F: Future<Output = Result<T, CheckStatus>>>(
        &self,
        follower: &Follower,
        endpoint: &Endpoint,
        slot: fn(&mut SlowCache) -> &mut Slow<T>,
        fetch: impl FnOnce() -> F,
    ) -> (Option<T>, Option<SystemTime>, CheckStatus) {
        if self.claim_due(follower, endpoint, slot) {
            let outcome = fetch().await;
            self.with_cache(follower, |c| slot(c).record(outcome));
        }
        self.with_cache(follower, |c| {
            let slow = slot(c);
            let (value, status) = slow.current();
            (value, slow.last_success, status)
        })
        .unwrap_or_else(not_fetched)
    }

    /// True (and the attempt recorded) when this slow figure is due for `follower`. A follower
    /// whose endpoint changed starts with a fresh cache.
    fn claim_due<T: Clone>(
        &self,
        follower: &Follower,
        endpoint: &Endpoint,
        slow: impl FnOnce(&mut SlowCache) -> &mut Slow<T>,
    ) -> bool {
        let mut state = self.lock();
        let cache = state
            .slow
            .entry(follower.name.clone())
            .or_insert_with(|| SlowCache::new(endpoint.clone()));
        if cache.endpoint != *endpoint {
            *cache = SlowCache::new(endpoint.clone());
        }
        let slow = slow(cache);
        let now = Instant::now();
        let due = slow.due(now, self.config.refresh_interval);
        if due {
            slow.last_attempt = Some(now);
        }
        due
    }

    /// Apply `f` to the follower's cache (created by [`claim_due`](Self::claim_due) beforehand).
    fn with_cache<R>(&self, follower: &Follower, f: impl FnOnce(&mut SlowCache) -> R) -> Option<R> {
        self.lock().slow.get_mut(&follower.name).map(f)
    }
}

impl SlowCache {
    fn new(endpoint: Endpoint) -> SlowCache {
        SlowCache {
            endpoint,
            listing: Slow::default(),
            trust: Slow::default(),
        }
    }
}

fn not_fetched<T>() -> (Option<T>, Option<SystemTime>, CheckStatus) {
    (
        None,
        None,
        CheckStatus::Failed("not fetched yet".to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_figures_are_due_by_interval_and_retry() {
        let mut slow: Slow<u64> = Slow::default();
        let t0 = Instant::now();
        let interval = Duration::from_secs(300);
        assert!(slow.due(t0, interval));
        slow.last_attempt = Some(t0);
        slow.record(Ok(3));
        assert!(!slow.due(t0 + Duration::from_secs(299), interval));
        assert!(slow.due(t0 + interval, interval));
        slow.record(Err(CheckStatus::TimedOut));
        assert!(!slow.due(t0 + Duration::from_secs(59), interval));
        assert!(slow.due(t0 + FAILED_RETRY, interval));
        assert!(slow.last_success.is_some());
        assert_eq!(slow.current(), (None, CheckStatus::TimedOut));
    }
}
