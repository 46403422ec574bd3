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
use super::times::UnixNanos;
use super::{FollowCheck, CHECK_PINS_LISTING, CHECK_TRUST};

/// A failed listing or trust graph is retried after this long (or the refresh interval, if shorter).
pub const FAILED_RETRY: Duration = Duration::from_secs(60);

/// How long an empty full listing after one that held pins counts as catching up after a
/// restart (seen on ipfs-cluster 1.1.6: 44-107 s of empty 204s while Kubo still holds the
/// pins); an empty listing for longer is taken as it is.
pub const CATCH_UP_LIMIT: Duration = Duration::from_secs(300);

/// What a full listing held: the counts by status (every TrackerStatus present) and the
/// newest `created` of its pins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Listed {
    pub(super) by_status: BTreeMap<String, u64>,
    pub(super) newest_created: Option<UnixNanos>,
}

/// Cached slow figures of one follower.
#[derive(Debug)]
pub(super) struct SlowCache {
    endpoint: Endpoint,
    pub(super) listing: Slow<Listed>,
    pub(super) trust: Slow<u64>,
    /// The last full listing that held pins.
    last_full: Option<Listed>,
    /// Since when the listing has come back empty after one that held pins.
    catching_up_since: Option<Instant>,
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
    ) -> ((Option<Listed>, Option<SystemTime>, bool), CheckResult) {
        let started = std::time::Instant::now();
        let fetch = || async {
            client
                .pins(None, Some(own_id), deadline)
                .await
                .map(|counts| Listed {
                    by_status: with_zeros(&TRACKER_STATES, counts.by_status, true),
                    newest_created: counts.newest_created,
                })
                .map_err(|e| api_status(&e))
        };
        if self.claim_due(follower, &client.endpoint, |c| &mut c.listing) {
            let outcome = fetch().await;
            self.with_cache(follower, |c| c.record_listing(outcome, Instant::now()));
        }
        let (value, at, status, catching_up) = self
            .with_cache(follower, |c| {
                let (value, status) = c.listing.current();
                let catching_up = c.catching_up_since.is_some();
                (value, c.listing.last_success, status, catching_up)
            })
            .unwrap_or((
                None,
                None,
                CheckStatus::Failed("not fetched yet".into()),
                false,
            ));
        let check = CheckResult::new(CHECK_PINS_LISTING, status, started.elapsed());
        ((value, at, catching_up), check)
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

    /// The follower did not answer: it may be restarting, so its full listing is asked again as
    /// soon as it answers (then a restarted follower's empty listing is seen as catching up).
    pub(super) fn list_again(&self, follower: &Follower) {
        self.with_cache(follower, |c| c.listing.last_attempt = None);
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
            last_full: None,
            catching_up_since: None,
        }
    }

    /// Record a full listing. An empty one right after one that held pins is a follower
    /// catching up after a restart (it answers 204 until its state is loaded), not a pinset
    /// of 0: the last full count stays, and the listing is asked again on the next scrape,
    /// for at most [`CATCH_UP_LIMIT`].
    fn record_listing(&mut self, outcome: Result<Listed, CheckStatus>, now: Instant) {
        let total = |listed: &Listed| listed.by_status.values().sum::<u64>();
        match (&outcome, &self.last_full) {
            (Ok(counts), Some(last)) if total(counts) == 0 => {
                let since = *self.catching_up_since.get_or_insert(now);
                if now.duration_since(since) < CATCH_UP_LIMIT {
                    self.listing.outcome = Some(Ok(last.clone()));
                    self.listing.last_attempt = None;
                    return;
                }
            }
            (Ok(counts), _) if total(counts) > 0 => self.last_full = Some(counts.clone()),
            _ => {}
        }
        self.catching_up_since = None;
        self.listing.record(outcome);
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

    #[test]
    fn an_empty_listing_after_one_with_pins_is_catching_up_not_zero() {
        let endpoint = Endpoint::Unix("/x/api-socket".into());
        let mut cache = SlowCache::new(endpoint);
        let counts = |n| Listed {
            by_status: BTreeMap::from([("pinned".to_string(), n)]),
            newest_created: (n > 0).then_some(1_735_689_600_000_000_000 + n as i64),
        };
        let t0 = Instant::now();
        cache.listing.last_attempt = Some(t0);
        cache.record_listing(Ok(counts(5)), t0);
        let first_success = cache.listing.last_success;
        // Restarted: empty 204 while Kubo still holds the pins.
        cache.record_listing(Ok(counts(0)), t0 + Duration::from_secs(10));
        assert_eq!(cache.listing.current(), (Some(counts(5)), CheckStatus::Ok));
        assert!(cache.catching_up_since.is_some());
        assert_eq!(
            cache.listing.last_success, first_success,
            "marked as the old count"
        );
        assert!(
            cache
                .listing
                .due(t0 + Duration::from_secs(11), Duration::from_secs(300)),
            "asked again on the next scrape"
        );
        // It lists again: the new listing, at once.
        cache.record_listing(Ok(counts(6)), t0 + Duration::from_secs(60));
        assert_eq!(cache.listing.current(), (Some(counts(6)), CheckStatus::Ok));
        assert!(cache.catching_up_since.is_none());
        // Empty for longer than a restart takes: a pinset of 0 after all.
        cache.record_listing(Ok(counts(0)), t0 + Duration::from_secs(100));
        cache.record_listing(
            Ok(counts(0)),
            t0 + Duration::from_secs(100) + CATCH_UP_LIMIT,
        );
        assert_eq!(cache.listing.current(), (Some(counts(0)), CheckStatus::Ok));
        assert!(cache.catching_up_since.is_none());
        // A follower never seen with pins: its empty listing is what it is.
        let mut fresh = SlowCache::new(Endpoint::Unix("/y/api-socket".into()));
        fresh.record_listing(Ok(counts(0)), t0);
        assert_eq!(fresh.listing.current(), (Some(counts(0)), CheckStatus::Ok));
    }
}
