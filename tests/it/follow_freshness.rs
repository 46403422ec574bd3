//! Pin freshness of a follower, against the fake cluster speaking v1.1.6's shapes: the newest
//! `created` of the full listing, the oldest `peer_map` timestamp per waiting or failing state
//! and the most attempts of the live count, all from the streams already read (no request more),
//! and the `pins_stuck` verdict.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lotus_follow_exporter::checks::follow::{FollowCheck, FollowConfig, FollowReport};
use lotus_follow_exporter::contract::Health;
use lotus_follow_exporter::host::process::ProcessTable;
use tokio::time::Instant;

use crate::fakes::cluster::{self, ClusterState, FakeServer};

/// One follower `name` on its socket under `dir`, checked once.
async fn check_one(
    dir: &std::path::Path,
    name: &str,
    state: ClusterState,
    max_pin_wait: Duration,
) -> (FollowReport, FakeServer) {
    let folder = dir.join("follow").join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let fake = cluster::serve_unix(&folder.join("api-socket"), state).await;
    let empty_bin = dir.join("empty-bin");
    std::fs::create_dir_all(&empty_bin).unwrap();
    let config = FollowConfig {
        config_dir: dir.join("follow"),
        binary_search_path: Some(empty_bin.into_os_string()),
        max_pin_wait,
        ..FollowConfig::default()
    };
    let (mut reports, _) = FollowCheck::new(config)
        .reports(
            Instant::now() + Duration::from_secs(10),
            Ok(Arc::new(ProcessTable::default())),
        )
        .await;
    assert_eq!(reports.len(), 1, "{reports:#?}");
    (reports.remove(0), fake)
}

fn nanos(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

#[tokio::test]
async fn freshness_comes_from_the_streams_already_read() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let newest = UNIX_EPOCH + Duration::new(1_796_626_862, 512_345_678);
    let state = ClusterState {
        pins: vec![
            ("pinned".to_string(), 5),
            ("pin_queued".to_string(), 2),
            ("pinning".to_string(), 1),
            ("pin_error".to_string(), 1),
        ],
        newest_created: newest,
        status_since: vec![
            ("pin_queued".to_string(), now - Duration::from_secs(90 * 60)),
            ("pinning".to_string(), now - Duration::from_secs(10 * 60)),
            ("pin_error".to_string(), now - Duration::from_secs(2 * 3600)),
        ],
        attempts: vec![("pinning".to_string(), 1), ("pin_error".to_string(), 4)],
        ..ClusterState::default()
    };
    let (report, fake) = check_one(dir.path(), "fresh", state, Duration::from_secs(3600)).await;
    assert_eq!(report.pin_newest_created, Some(nanos(newest)));
    // The fake writes its operation times in a zone one hour east of UTC, to the nanosecond.
    let oldest: Vec<(&str, i64)> = report.pins_oldest.clone();
    assert_eq!(
        oldest,
        vec![
            ("pin_queued", nanos(now - Duration::from_secs(90 * 60))),
            ("pinning", nanos(now - Duration::from_secs(10 * 60))),
            ("pin_error", nanos(now - Duration::from_secs(2 * 3600))),
        ]
    );
    assert_eq!(report.pin_attempts_max, Some(4));
    // No request more than before: one live count, one full listing.
    assert_eq!(fake.count("/pins?local=true&filter="), 1);
    assert_eq!(fake.full_listings(), 1);
    // Queued for 90 minutes, more than 1h: stuck. The pin_error is ClusterFollowPinErrors'.
    assert_eq!(report.health, Health::Degraded);
    let codes: Vec<&str> = report.reasons.iter().map(|r| r.code).collect();
    assert_eq!(codes, ["pin_errors", "pins_stuck"], "{:?}", report.reasons);
    let stuck = &report.reasons[1].text;
    assert!(
        stuck.starts_with("pins stuck: the oldest pin_queued for 1h 30m"),
        "{stuck}"
    );
    assert!(
        !stuck.contains("pinning"),
        "10 minutes is not stuck: {stuck}"
    );
}

#[tokio::test]
async fn a_pinset_at_rest_has_a_newest_pin_and_nothing_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let state = ClusterState {
        pins: vec![("pinned".to_string(), 3)],
        ..ClusterState::default()
    };
    let (report, _fake) = check_one(dir.path(), "rest", state, Duration::from_secs(3600)).await;
    assert_eq!(report.pin_newest_created, Some(1_735_689_600_500_000_000));
    assert!(report.pins_oldest.is_empty(), "{:?}", report.pins_oldest);
    assert_eq!(
        report.pin_attempts_max, None,
        "no pin in an operation state"
    );
    assert_eq!(report.health, Health::Healthy, "{:?}", report.reasons);
}

#[tokio::test]
async fn no_pins_no_freshness_figures() {
    let dir = tempfile::tempdir().unwrap();
    let state = ClusterState {
        pins: Vec::new(),
        ..ClusterState::default()
    };
    let (report, _fake) = check_one(dir.path(), "empty", state, Duration::from_secs(3600)).await;
    assert!(report.pins_listed.is_some(), "the listing was made");
    assert_eq!(report.pin_newest_created, None);
    assert!(report.pins_oldest.is_empty());
    assert_eq!(report.pin_attempts_max, None);
    assert_eq!(report.health, Health::Healthy);
}

#[tokio::test]
async fn a_longer_maximum_wait_keeps_a_long_queue_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let state = ClusterState {
        pins: vec![("pin_queued".to_string(), 1000)],
        status_since: vec![(
            "pin_queued".to_string(),
            SystemTime::now() - Duration::from_secs(3 * 3600),
        )],
        ..ClusterState::default()
    };
    let (report, _fake) = check_one(dir.path(), "slow", state, Duration::from_secs(4 * 3600)).await;
    assert_eq!(report.health, Health::Healthy, "{:?}", report.reasons);
    assert_eq!(report.pins_oldest.len(), 1);
}
