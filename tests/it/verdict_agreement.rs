//! The one verdict held against the shipped alert rules, condition by condition.
//!
//! Each case starts from a host where all is well ([`Host::all_well`]: a synced Lotus with 12
//! peers and F3 running, one healthy follower on its unix socket), changes one thing, runs the
//! real binary against the fakes and asserts, through `tests/it/agreement.rs`, that `check`'s exit
//! status, `/status`'s `health`, the page's verdict badge and `lotus_follow_exporter_healthy`
//! agree, and that `promtool test rules` on the scraped series fires a warning or critical alert
//! exactly when they say the host is not healthy. Each case also names the alerts it expects,
//! so a case cannot pass on another alert's account, and no other alert may even go pending on
//! the way (one cause, one alert: `agreement::assert_agrees` compares every alert pending or
//! firing at any evaluation with those firing at the end). The golden states go through the
//! same assertion in `tests/it/golden.rs`.
//!
//! The starting host is itself the case the issue decided: the follower's API answers, but no
//! `ipfs-cluster-follow` process is recognised (the socket is served by this test binary, and
//! process discovery is off, as for a renamed binary, a wrapper or a follower in its own
//! container). It runs: `cluster_follow_running 1`, healthy, `check` exits 0, nothing fires.
//!
//! # Which alerts a case covers
//! Every alert whose condition one scrape can show has a case here (or in the golden states):
//! `LotusDown`, `LotusNotSynced`, `LotusPeersLow`, `LotusWalletBalanceLow`,
//! `LotusSyncWorkerError`, `LotusHeadAheadOfClock`, `LotusUpgradeSoon`, `LotusF3Stalled` (its lag half),
//! `LotusF3NotRunning`, `LotusF3NoCertificate`, `LotusChainFinalityLagHigh`, `LotusECFinalityDegraded`,
//! `ClusterFollowUnreachable`, `ClusterFollowDisconnected`, `ClusterFollowNoTrustedPeers`,
//! `ClusterFollowIpfsDown`, `ClusterFollowPinErrors`, `ClusterFollowPinsLost`,
//! `ClusterFollowPinsStuck` (a time against the clock: see `agreement.rs` for how the scrape's
//! moment is put on promtool's clock), `ClusterFollowNotRunning`,
//! `KuboDown` (the one alert for a down Kubo its follower uses), `PortConflict`,
//! `LotusFollowExporterCheckFailing` (also for a sync lag that cannot be computed although every
//! call answered: the call that left its part out fails).
//!
//! Judged over time, not in one scrape's verdict, so no case here (see `docs/verdict.md`):
//! `LotusChainHeightStalled` (the head compared with 5 minutes and an hour ago),
//! `LotusF3Stalled`'s other half
//! (the latest instance unchanged for 15 minutes), `LotusWalletMessagesStuck` (a gap against an
//! hour of the chain nonce), `ClusterFollowBehindPeers` (across instances: followers that other
//! exporters watch), and `LotusFollowExporterDown` /
//! `LotusFollowExporterAbsent` (about Prometheus failing to scrape the exporter, when there is
//! no scrape and so no verdict); and, across instances, `LotusBehindFleet` and
//! `LotusNetworkVersionBehindFleet` (silent for the one node here).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::agreement::{self, Views};
use crate::fakes::cluster::{self, ClusterState, FakeServer};
use crate::fakes::kubo::{FakeKubo, Mode};
use crate::fakes::lotus::{distinct_peers, Behavior, F3Certificate, FakeF3, FakeLotus, SyncWorker};

/// A wallet of the fake Lotus holding 1.5 FIL.
const WALLET_1_5_FIL: &str = "f1abjxfbp274xpdqcpuaykwkfb43omjotacm2p3za";
/// A wallet of the fake Lotus holding 42 attoFIL.
const WALLET_DUST: &str =
    "f3vvmn62lofvhjd2ugzca6sof2j2ubwok6cj4xxbfzz4yuxfkgobpihhd2thlanmsh3w2ptld2gqkn2jvlss4a";
/// `SyncStateStage` of a worker in error (Lotus `StageSyncErrored`).
const STAGE_ERROR: i64 = 5;

/// A host the exporter watches: a fake Lotus, followers on unix sockets in a config folder,
/// and the exporter's flags.
struct Host {
    tmp: tempfile::TempDir,
    lotus: FakeLotus,
    followers: Vec<FakeServer>,
    args: Vec<String>,
}

/// A follower with nothing wrong: a cluster peer, a trusted peer, IPFS up, no pin in error.
fn well_follower() -> ClusterState {
    ClusterState {
        pins: vec![("pinned".to_string(), 3), ("pinning".to_string(), 1)],
        ..ClusterState::default()
    }
}

impl Host {
    /// All is well: a synced mainnet Lotus with 12 peers, F3 running, EC finality at 30, no
    /// wallet watched, and one healthy follower `websites` on its socket, whose process the
    /// exporter does not recognise.
    async fn all_well() -> Host {
        let lotus = FakeLotus::start().await;
        lotus.state_mut(|s| s.peers = distinct_peers(12));
        let tmp = tempfile::tempdir().expect("tempdir");
        let config_dir = tmp.path().join("follow");
        let args = vec![
            "--lotus.api".to_string(),
            lotus.api_info(),
            "--follow.config-dir".to_string(),
            config_dir.to_str().expect("utf-8").to_string(),
        ];
        let mut host = Host {
            tmp,
            lotus,
            followers: Vec::new(),
            args,
        };
        host.follower("websites", well_follower()).await;
        host
    }

    fn config_dir(&self) -> std::path::PathBuf {
        self.tmp.path().join("follow")
    }

    /// A follower answering on `<config-dir>/<name>/api-socket`.
    async fn follower(&mut self, name: &str, state: ClusterState) {
        let folder = self.config_dir().join(name);
        std::fs::create_dir_all(&folder).expect("follower folder");
        let server = cluster::serve_unix(&folder.join("api-socket"), state).await;
        self.followers.push(server);
    }

    /// Change the first follower's answers.
    fn follower_state(&self, change: impl FnOnce(&mut ClusterState)) {
        change(&mut self.followers[0].state.lock().expect("fake state"));
    }

    fn flags(&mut self, flags: &[&str]) {
        self.args.extend(flags.iter().map(|f| f.to_string()));
    }

    /// Run the exporter on this host, hold every view against the shipped rules, and return
    /// the verdict and the alerts that fire.
    async fn judge(&self, case: &str) -> (String, BTreeSet<String>, Views) {
        let exporter = agreement::start(self.tmp.path(), &self.args).await;
        let views = Views::collect(&exporter).await;
        let alerts = agreement::assert_agrees(case, &views);
        let health = views.status["health"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (health, alerts, views)
    }
}

/// A configured follower that neither answers nor runs: a folder with its `service.json`.
fn stopped_follower(config_dir: &Path, name: &str) {
    std::fs::create_dir_all(config_dir.join(name)).expect("follower folder");
    std::fs::write(
        config_dir.join(name).join("service.json"),
        r#"{"source": "http://127.0.0.1:8080/ipns/websites.example.org"}"#,
    )
    .expect("service.json");
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// The value of `name{cluster_name="<follower>"}` in a scrape.
fn follower_value(views: &Views, name: &str, follower: &str) -> Option<String> {
    let prefix = format!("{name}{{cluster_name=\"{follower}\"}} ");
    views
        .metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(String::from))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follower_whose_api_answers_runs_whatever_process_runs_it() {
    let host = Host::all_well().await;
    let (health, alerts, views) = host
        .judge("follower answering, process not recognised")
        .await;
    assert_eq!(health, "healthy", "{}", views.check_output);
    assert_eq!(alerts, set(&[]));
    assert_eq!(
        follower_value(&views, "cluster_follow_running", "websites").as_deref(),
        Some("1"),
        "its API answers: it runs\n{}",
        views.metrics
    );
    assert_eq!(views.check_exit, Some(0));
    assert!(
        views
            .metrics
            .contains("lotus_follow_exporter_check_success{check=\"follow_process\",cluster_name=\"websites\"} 1\n"),
        "the process check has its answer from the API\n{}",
        views.metrics
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configured_follower_with_neither_api_nor_process_is_not_running() {
    let host = Host::all_well().await;
    stopped_follower(&host.config_dir(), "gone");
    let (health, alerts, views) = host
        .judge("follower with a folder, no API, no process")
        .await;
    assert_eq!(health, "unhealthy");
    assert_eq!(
        follower_value(&views, "cluster_follow_running", "gone").as_deref(),
        Some("0")
    );
    assert_eq!(views.check_exit, Some(1));
    // One cause, one alert: not running explains the unanswered API and its failing check.
    assert_eq!(alerts, set(&["ClusterFollowNotRunning"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn lotus_down() {
    let host = Host::all_well().await;
    host.lotus.stop().await;
    let (health, alerts, _) = host.judge("Lotus down").await;
    assert_eq!(health, "unhealthy");
    // One cause, one alert: no failing lotus_* check beside LotusDown.
    assert_eq!(alerts, set(&["LotusDown"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn lotus_not_synced() {
    let host = Host::all_well().await;
    host.lotus.state_mut(|s| {
        let expected = s.expected_height();
        s.set_head_height(expected - 50);
        let mut worker = SyncWorker::new(1, 3, expected - 50);
        worker.target = Some(expected);
        s.sync_workers = vec![worker];
    });
    let (health, alerts, _) = host.judge("Lotus 50 epochs behind").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["LotusNotSynced"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_network_upgrade_within_72_hours() {
    // A release that dates the next upgrade (Xx) 2 days ahead: degraded, LotusUpgradeSoon.
    let host = Host::all_well().await;
    host.lotus.state_mut(|s| {
        let at = s.head_height + 2 * 2880;
        s.schedule_upgrade("UpgradeXxHeight", at);
    });
    let (health, alerts, _) = host.judge("upgrade in 2 days").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["LotusUpgradeSoon"]));
    // 4 days ahead: nothing yet.
    let host = Host::all_well().await;
    host.lotus.state_mut(|s| {
        let at = s.head_height + 4 * 2880;
        s.schedule_upgrade("UpgradeXxHeight", at);
    });
    let (health, alerts, _) = host.judge("upgrade in 4 days").await;
    assert_eq!(health, "healthy");
    assert_eq!(alerts, set(&[]));
}

#[tokio::test(flavor = "multi_thread")]
async fn lotus_peers_low_at_the_flags_threshold() {
    let mut host = Host::all_well().await;
    host.lotus.state_mut(|s| s.peers = distinct_peers(9));
    let (health, alerts, _) = host.judge("9 peers, minimum 10").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["LotusPeersLow"]));
    // The threshold is the exporter's: lowered by its flag, the rule follows.
    host.flags(&["--lotus.min-peers", "5"]);
    let (health, alerts, _) = host.judge("9 peers, minimum 5").await;
    assert_eq!(health, "healthy");
    assert_eq!(alerts, set(&[]));
}

#[tokio::test(flavor = "multi_thread")]
async fn lotus_wallet_balance_low() {
    let mut host = Host::all_well().await;
    host.flags(&[
        "--lotus.wallet",
        &format!("{WALLET_1_5_FIL}=hot"),
        "--lotus.wallet",
        &format!("{WALLET_DUST}=dust"),
    ]);
    let (health, alerts, _) = host.judge("a wallet of 42 attoFIL").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["LotusWalletBalanceLow"]));
    // Per-wallet thresholds: dust may be empty, hot needs 2 FIL.
    host.flags(&[
        "--lotus.wallet-min-balance",
        "dust=0",
        "--lotus.wallet-min-balance",
        "hot=2",
    ]);
    let (health, alerts, views) = host.judge("hot at 1.5 FIL below its own 2").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["LotusWalletBalanceLow"]));
    assert!(
        views.status["lotus"]["health_reasons"]
            .to_string()
            .contains("wallet hot"),
        "{}",
        views.status["lotus"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lotus_sync_worker_error() {
    let host = Host::all_well().await;
    host.lotus.state_mut(|s| {
        let mut worker = SyncWorker::new(2, STAGE_ERROR, s.head_height);
        worker.message = "bad block".to_string();
        s.sync_workers.push(worker);
    });
    let (health, alerts, _) = host.judge("a sync worker in error").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["LotusSyncWorkerError"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn lotus_head_ahead_of_the_clock() {
    let host = Host::all_well().await;
    host.lotus.state_mut(|s| {
        let ahead = s.expected_height() + 40;
        s.set_head_height(ahead);
        s.sync_workers = vec![SyncWorker::new(1, 4, ahead)];
    });
    let (health, alerts, _) = host.judge("head 40 epochs ahead").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["LotusHeadAheadOfClock"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn lotus_f3_stalled_far_behind() {
    let host = Host::all_well().await;
    host.lotus.state_mut(|s| {
        let (instance, _) = s.f3_finalized().expect("a certificate");
        let epoch = s.head_height - 30;
        s.f3.certificate = F3Certificate::Frozen { instance, epoch };
    });
    let (health, alerts, _) = host.judge("F3 finalizing 30 behind").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["LotusF3Stalled"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn lotus_f3_not_running() {
    let host = Host::all_well().await;
    host.lotus.state_mut(|s| s.f3 = FakeF3::not_running());
    let (health, alerts, _) = host.judge("F3 enabled, not running").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["LotusF3NotRunning"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn lotus_chain_finality_lag_high() {
    let host = Host::all_well().await;
    host.lotus.state_mut(|s| {
        // No F3 certificate yet, and EC finalizing 80 behind: the node's finalized tipset is 80
        // behind its head where a short lag is expected.
        s.f3.certificate = F3Certificate::Null;
        s.ec_finality_depth = 80;
        // Activated 5 epochs ago: no certificate yet is normal (LotusF3NoCertificate's case
        // is an F3 activated long ago).
        s.f3.bootstrap_epoch = s.head_height - 5;
    });
    let (health, alerts, _) = host.judge("finalized tipset 80 behind").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["LotusChainFinalityLagHigh"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn lotus_ec_finality_degraded() {
    let host = Host::all_well().await;
    host.lotus.state_mut(|s| s.ec_finality_depth = -1);
    let (health, alerts, _) = host.judge("EC threshold not met").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["LotusECFinalityDegraded"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_check() {
    let host = Host::all_well().await;
    host.lotus.set_behavior(
        "Filecoin.NetPeers",
        Behavior::RpcError {
            code: 1,
            message: "libp2p host is shutting down".to_string(),
        },
    );
    let (health, alerts, _) = host.judge("NetPeers failing").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["LotusFollowExporterCheckFailing"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn follower_unreachable_behind_an_impostor() {
    let mut host = Host::all_well().await;
    let (_impostor, port) = cluster::serve_pinning_service_tcp().await;
    host.flags(&[
        "--follow.api",
        &format!("pinsvc=/ip4/127.0.0.1/tcp/{port}/http"),
    ]);
    let (health, alerts, views) = host.judge("follower API answered by an impostor").await;
    assert_eq!(health, "unhealthy");
    assert_eq!(
        follower_value(&views, "cluster_follow_api_reachable", "pinsvc").as_deref(),
        Some("0")
    );
    // Its API answers as something else and no follow process runs: it does not run, which
    // explains the unanswered API (one cause, one alert).
    assert_eq!(
        alerts,
        set(&["ClusterFollowNotRunning"]),
        "{}",
        views.metrics
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn follower_disconnected() {
    let host = Host::all_well().await;
    host.follower_state(|s| s.other_peers.clear());
    let (health, alerts, _) = host.judge("follower sees no cluster peer").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["ClusterFollowDisconnected"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn follower_without_trusted_peers() {
    let host = Host::all_well().await;
    host.follower_state(|s| s.trust_links.clear());
    let (health, alerts, views) = host.judge("follower trusts no peer").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["ClusterFollowNoTrustedPeers"]));
    assert!(
        views.metrics.contains(
            "cluster_follow_health_reason{cluster_name=\"websites\",reason=\"no_trusted_peers\"} 1\n"
        ),
        "{}",
        views.metrics
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn follower_ipfs_down() {
    let host = Host::all_well().await;
    host.follower_state(|s| {
        s.ipfs_error = "dial tcp 127.0.0.1:5001: connect: connection refused".to_string()
    });
    let (health, alerts, _) = host.judge("follower's IPFS down").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["ClusterFollowIpfsDown"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_down_kubo_its_follower_uses_gives_kubo_down_only() {
    let host = Host::all_well().await;
    let kubo = FakeKubo::refusing();
    std::fs::write(
        host.config_dir().join("websites").join("service.json"),
        format!(
            r#"{{"ipfs_connector": {{"ipfshttp": {{"node_multiaddress": "{}"}}}}}}"#,
            kubo.multiaddr()
        ),
    )
    .expect("service.json");
    host.follower_state(|s| {
        s.ipfs_error = format!("dial tcp {}: connect: connection refused", kubo.label())
    });
    let (health, alerts, _) = host.judge("the follower's Kubo down").await;
    assert_eq!(health, "unhealthy");
    assert_eq!(alerts, set(&["KuboDown"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answering_kubo_is_healthy_and_nothing_fires() {
    let mut host = Host::all_well().await;
    let kubo = FakeKubo::start(Mode::Up).await;
    host.flags(&["--kubo.api", &kubo.multiaddr()]);
    let (health, alerts, views) = host.judge("a Kubo answering").await;
    assert_eq!(health, "healthy", "{}", views.check_output);
    assert_eq!(alerts, set(&[]));
}

#[tokio::test(flavor = "multi_thread")]
async fn follower_pin_errors_in_every_error_state() {
    for state in ["pin_error", "unpin_error", "cluster_error"] {
        let host = Host::all_well().await;
        host.follower_state(|s| s.pins.push((state.to_string(), 2)));
        let (health, alerts, _) = host.judge(&format!("2 pins in {state}")).await;
        assert_eq!(health, "degraded", "{state}");
        assert_eq!(alerts, set(&["ClusterFollowPinErrors"]), "{state}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn port_conflict_between_two_followers() {
    let mut host = Host::all_well().await;
    // The fake answers /id with the swarm port 9096 for every follower: two claim it.
    host.follower("other", well_follower()).await;
    let (health, alerts, _) = host.judge("two followers on swarm port 9096").await;
    assert_eq!(health, "unhealthy");
    assert_eq!(alerts, set(&["PortConflict"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_lag_that_cannot_be_computed_fails_the_call_that_left_it_out() {
    let host = Host::all_well().await;
    host.lotus.set_behavior(
        "Filecoin.Version",
        Behavior::Result(serde_json::json!({
            "Version": "1.34.1+mainnet+git.8a7c1f9", "APIVersion": 131840, "Agent": "lotus"
        })),
    );
    let (health, alerts, views) = host.judge("Version without BlockDelay").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["LotusFollowExporterCheckFailing"]));
    let errors = views.status["lotus"]["errors"].to_string();
    assert!(errors.contains("gave no BlockDelay"), "{errors}");
}

/// Issue 20 class 2 (`follow-ipfs-hung-unreachable`): `/id` waits on a hung IPFS daemon while
/// the follower's own `/health` answers at once, and no Kubo is watched. IPFS is named, the
/// follower is not blamed: ClusterFollowIpfsDown only, never ClusterFollowUnreachable.
#[tokio::test(flavor = "multi_thread")]
async fn a_follower_waiting_on_its_hung_ipfs_gives_ipfs_down_not_unreachable() {
    let mut host = Host::all_well().await;
    host.follower_state(|s| {
        s.latency
            .push(("/id".to_string(), std::time::Duration::from_secs(120)))
    });
    host.flags(&["--collector.timeout", "2s"]);
    let (health, alerts, views) = host.judge("follower's /id stalls behind its IPFS").await;
    assert_eq!(health, "degraded", "{}", views.check_output);
    assert_eq!(alerts, set(&["ClusterFollowIpfsDown"]));
    assert_eq!(
        follower_value(&views, "cluster_follow_api_reachable", "websites"),
        None,
        "its API answers: not 0\n{}",
        views.metrics
    );
    assert_eq!(
        follower_value(&views, "cluster_follow_running", "websites").as_deref(),
        Some("1")
    );
    assert!(
        views.check_output.contains("IPFS daemon is not answering"),
        "{}",
        views.check_output
    );
}

/// Issue 20 class 7 (`follow-unexpectedly-unpinned`): pins its IPFS lost degrade the follower
/// with the count in the reason, and ClusterFollowPinsLost fires.
#[tokio::test(flavor = "multi_thread")]
async fn follower_pins_lost_under_it() {
    let host = Host::all_well().await;
    host.follower_state(|s| s.pins.push(("unexpectedly_unpinned".to_string(), 40)));
    let (health, alerts, views) = host.judge("40 pins unexpectedly unpinned").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["ClusterFollowPinsLost"]));
    assert!(
        views.check_output.contains("40 pins unexpectedly unpinned"),
        "{}",
        views.check_output
    );
}

/// Issue 24 item 5: a pin queued for 3 hours is stuck (more than --follow.max-pin-wait, 1h):
/// degraded with the wait in the reason, and `ClusterFollowPinsStuck` alone.
#[tokio::test(flavor = "multi_thread")]
async fn follower_pins_stuck_in_the_queue() {
    let host = Host::all_well().await;
    let three_hours_ago = std::time::SystemTime::now() - Duration::from_secs(3 * 3600);
    host.follower_state(|s| {
        s.pins.push(("pin_queued".to_string(), 2));
        s.status_since = vec![("pin_queued".to_string(), three_hours_ago)];
    });
    let (health, alerts, views) = host.judge("a pin queued for 3 hours").await;
    assert_eq!(health, "degraded");
    assert_eq!(alerts, set(&["ClusterFollowPinsStuck"]));
    assert!(
        views
            .check_output
            .contains("pins stuck: the oldest pin_queued for 3h"),
        "{}",
        views.check_output
    );
    assert!(
        views
            .check_output
            .contains("longer than 1h (--follow.max-pin-wait)"),
        "{}",
        views.check_output
    );
}

/// The same wait under a maximum the operator raised: healthy, and the rule, which compares
/// with the exported maximum, stays quiet too.
#[tokio::test(flavor = "multi_thread")]
async fn a_pin_pinning_for_less_than_the_flags_maximum_is_not_stuck() {
    let mut host = Host::all_well().await;
    let three_hours_ago = std::time::SystemTime::now() - Duration::from_secs(3 * 3600);
    host.follower_state(|s| s.status_since = vec![("pinning".to_string(), three_hours_ago)]);
    host.flags(&["--follow.max-pin-wait", "4h"]);
    let (health, alerts, views) = host.judge("pinning for 3 hours, 4h allowed").await;
    assert_eq!(health, "healthy", "{}", views.check_output);
    assert_eq!(alerts, set(&[]));
    assert!(
        views
            .metrics
            .contains("cluster_follow_pin_wait_max_seconds{cluster_name=\"websites\"} 14400\n"),
        "{}",
        views.metrics
    );
}

/// Issue 20 class 6: after SIGKILL the api-socket stays behind with nothing listening. The
/// reason says the socket is stale and must be removed; the verdict is the stopped one.
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_api_socket_left_by_a_crash_is_named() {
    let host = Host::all_well().await;
    stopped_follower(&host.config_dir(), "crashed");
    let socket = host.config_dir().join("crashed").join("api-socket");
    // A listener dropped without unlinking its file: what a killed process leaves.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    let (health, alerts, views) = host.judge("stale api-socket after a crash").await;
    assert_eq!(health, "unhealthy");
    assert_eq!(
        follower_value(&views, "cluster_follow_running", "crashed").as_deref(),
        Some("0")
    );
    // One cause, one alert: not running explains the unanswered API and its failing check.
    assert_eq!(alerts, set(&["ClusterFollowNotRunning"]));
    let expected = format!(
        "stale api-socket at {} (left by a crash): remove it before ipfs-cluster-follow can start",
        socket.display()
    );
    assert!(
        views.check_output.contains(&expected),
        "{}",
        views.check_output
    );
    assert!(
        views.metrics.contains(
            "cluster_follow_health_reason{cluster_name=\"crashed\",reason=\"stopped\"} 1"
        ),
        "{}",
        views.metrics
    );
}

/// Issue 20 class 6: a follower that just restarted answers its full listing with an empty 204
/// while its IPFS still holds the pins. That is catching up, not a pinset of 0: the last full
/// count stays, it is healthy and nothing fires; once it lists again, the next scrape shows it.
#[tokio::test(flavor = "multi_thread")]
async fn a_follower_catching_up_after_a_restart_keeps_its_last_full_count() {
    let mut host = Host::all_well().await;
    host.flags(&["--follow.refresh-interval", "1h"]);
    let exporter = agreement::start(host.tmp.path(), &host.args).await;
    let pinned = |metrics: &str| {
        metrics.lines().find_map(|l| {
            l.strip_prefix(
                "cluster_follow_pins_listed{cluster_name=\"websites\",status=\"pinned\"} ",
            )
            .map(String::from)
        })
    };
    let metrics = exporter.get("/metrics").await;
    assert_eq!(pinned(&metrics).as_deref(), Some("3"), "{metrics}");
    // It stops (a scrape sees it gone), then comes back answering every listing with an empty
    // 204 for a while.
    let socket = host.config_dir().join("websites").join("api-socket");
    // Its service.json keeps it known while its socket is gone.
    stopped_follower(&host.config_dir(), "websites");
    host.followers.clear();
    std::fs::remove_file(&socket).expect("remove the socket");
    let metrics = exporter.get("/metrics").await;
    assert!(
        metrics.contains("cluster_follow_api_reachable{cluster_name=\"websites\"} 0"),
        "{metrics}"
    );
    let restarted = ClusterState {
        pins: Vec::new(),
        ..well_follower()
    };
    host.followers
        .push(cluster::serve_unix(&socket, restarted).await);
    let views = Views::collect(&exporter).await;
    let alerts = agreement::assert_agrees("catching up after a restart", &views);
    assert_eq!(alerts, set(&[]));
    assert_eq!(views.status["health"], "healthy", "{}", views.check_output);
    assert_eq!(
        pinned(&views.metrics).as_deref(),
        Some("3"),
        "{}",
        views.metrics
    );
    // It lists again (one more pin since): the next scrape says so, refresh interval or not.
    host.follower_state(|s| s.pins = vec![("pinned".to_string(), 4)]);
    let metrics = exporter.get("/metrics").await;
    assert_eq!(pinned(&metrics).as_deref(), Some("4"), "{metrics}");
}

/// Issue 20 class 3: a gateway or hosted endpoint serving F3 certificates but not
/// `F3IsRunning` (no `lotus_f3_running`) with F3 1,200 epochs behind: LotusF3Stalled still fires.
#[tokio::test(flavor = "multi_thread")]
async fn lotus_f3_stalled_where_f3_is_running_is_not_served() {
    let host = Host::all_well().await;
    host.lotus.set_behavior(
        "Filecoin.F3IsRunning",
        Behavior::RpcError {
            code: -32601,
            message: "method 'Filecoin.F3IsRunning' not found".to_string(),
        },
    );
    host.lotus.state_mut(|s| {
        let (instance, _) = s.f3_finalized().expect("a certificate");
        let epoch = s.head_height - 1200;
        s.f3.certificate = F3Certificate::Frozen { instance, epoch };
    });
    let (health, alerts, views) = host.judge("F3 1200 behind, F3IsRunning not served").await;
    assert_eq!(health, "degraded", "{}", views.check_output);
    assert_eq!(alerts, set(&["LotusF3Stalled"]));
    assert!(
        !views.metrics.contains("\nlotus_f3_running "),
        "{}",
        views.metrics
    );
}

/// Issue 20 class 3: F3 activated long ago and never produced a certificate (calibnet, for
/// months): no lag exists, the fallback figure catches it.
#[tokio::test(flavor = "multi_thread")]
async fn lotus_f3_activated_long_ago_without_a_certificate() {
    let host = Host::all_well().await;
    host.lotus
        .state_mut(|s| s.f3.certificate = F3Certificate::Null);
    let (health, alerts, views) = host
        .judge("F3 without a certificate since activation")
        .await;
    assert_eq!(health, "degraded", "{}", views.check_output);
    assert_eq!(alerts, set(&["LotusF3NoCertificate"]));
    assert!(
        views.metrics.contains("\nlotus_f3_uncertified_epochs "),
        "{}",
        views.metrics
    );
}

/// Issue 20 class 3: before F3's activation epoch nothing about F3 fires or degrades, and
/// `check` says when it activates on one line.
#[tokio::test(flavor = "multi_thread")]
async fn before_f3_activation_nothing_fires_and_check_says_when() {
    let host = Host::all_well().await;
    let bootstrap = host.lotus.state_mut(|s| {
        s.f3.certificate = F3Certificate::Null;
        // 300 epochs of 30 s ahead.
        s.f3.bootstrap_epoch = s.head_height + 300;
        s.f3.bootstrap_epoch
    });
    let (health, alerts, views) = host.judge("before F3's activation").await;
    assert_eq!(health, "healthy", "{}", views.check_output);
    assert_eq!(alerts, set(&[]));
    let line = format!("F3 not yet activated (activates at epoch {bootstrap}, in 2h30m)");
    assert!(views.check_output.contains(&line), "{}", views.check_output);
}
