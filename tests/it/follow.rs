//! The follow check against in-process fakes: a cluster REST API on a unix socket and on TCP, the
//! pinning-service API impostor, stale and forbidden sockets, and processes without a socket.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lotus_follow_exporter::checks::follow::api::ApiClient;
use lotus_follow_exporter::checks::follow::{
    parse_api_spec, FollowCheck, FollowConfig, FollowReport, CHECK_API, CHECK_BINARY, CHECK_PINS,
    CHECK_PINS_LISTING, CHECK_TRUST,
};
use lotus_follow_exporter::contract::{CheckStatus, DaemonStatus, Health};
use lotus_follow_exporter::host::process::{ProcessInfo, ProcessTable};
use lotus_follow_exporter::net::http_client::Endpoint;
use tokio::time::Instant;

use crate::fakes::cluster::{self, ClusterState, FakeServer};

/// A follow config watching `dir`, with a binary search path that holds nothing.
fn config_for(dir: &Path) -> FollowConfig {
    let empty_bin = dir.join("empty-bin");
    std::fs::create_dir_all(&empty_bin).unwrap();
    FollowConfig {
        config_dir: dir.join("follow"),
        binary_search_path: Some(empty_bin.into_os_string()),
        ..FollowConfig::default()
    }
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

async fn run(config: FollowConfig, procs: ProcessTable) -> Vec<FollowReport> {
    FollowCheck::new(config)
        .reports(deadline(), Ok(Arc::new(procs)))
        .await
        .0
}

/// A follower folder `<dir>/follow/<name>/` and its socket path.
fn socket_path(dir: &Path, name: &str) -> PathBuf {
    let folder = dir.join("follow").join(name);
    std::fs::create_dir_all(&folder).unwrap();
    folder.join("api-socket")
}

async fn follower_on_socket(dir: &Path, name: &str, state: ClusterState) -> FakeServer {
    cluster::serve_unix(&socket_path(dir, name), state).await
}

fn only(reports: &[FollowReport]) -> &FollowReport {
    assert_eq!(reports.len(), 1, "{reports:#?}");
    &reports[0]
}

fn status_of<'a>(report: &'a FollowReport, check: &str) -> &'a CheckStatus {
    &report
        .checks
        .iter()
        .find(|c| c.check == check)
        .unwrap_or_else(|| panic!("no {check} in {:#?}", report.checks))
        .status
}

fn failure_of(report: &FollowReport, check: &str) -> String {
    status_of(report, check)
        .failure()
        .unwrap_or_else(|| panic!("{check} did not fail: {:#?}", report.checks))
}

fn follow_process(pid: u32, name: &str) -> ProcessInfo {
    ProcessInfo {
        pid,
        argv: vec!["ipfs-cluster-follow".into(), name.into(), "run".into()],
        comm: "ipfs-cluster-fo".into(),
        uid: Some(lotus_follow_exporter::host::permissions::own_uid()),
    }
}

/// A pid no process has (pid_max is at most 2^22), so its environ is unreadable.
const NO_SUCH_PID: u32 = 4_000_000_000;

#[tokio::test]
async fn follower_found_by_its_socket_is_running_and_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let _fake = follower_on_socket(dir.path(), "mycluster", ClusterState::default()).await;
    let reports = run(config_for(dir.path()), ProcessTable::default()).await;
    let report = only(&reports);
    assert_eq!(report.cluster_name, "mycluster");
    assert!(report.api.starts_with("unix:"), "{}", report.api);
    assert_eq!(report.api_port, None);
    assert_eq!(report.api_reachable, Some(true));
    assert_eq!(report.peer_id.as_deref(), Some("12D3KooWFollowerPeer"));
    assert_eq!(report.peername.as_deref(), Some("follower-host"));
    assert_eq!(report.version.as_deref(), Some("1.1.6"));
    assert_eq!((report.peers, report.connected), (Some(1), Some(true)));
    assert_eq!(report.trusted_peers, Some(1));
    assert_eq!(report.ipfs_connected, Some(true));
    // No follower process in the table, but its API answers: it runs.
    assert_eq!(report.running, Some(true));
    assert_eq!(report.swarm_addresses.len(), 1);
    let live = report.pins.as_ref().unwrap();
    assert_eq!(live.len(), 7, "{live:?}");
    assert_eq!(live["pin_error"], 1);
    assert_eq!(live["pinning"], 0);
    let listed = report.pins_listed.as_ref().unwrap();
    assert_eq!(
        (listed["pinned"], listed["pin_error"], listed["remote"]),
        (3, 1, 0)
    );
    assert!(report.pins_listed_at.is_some());
    assert_eq!(report.status, DaemonStatus::Running);
    // One pin in pin_error: reachable but degraded.
    assert_eq!(report.health, Health::Degraded);
    for check in [CHECK_API, CHECK_PINS, CHECK_PINS_LISTING, CHECK_TRUST] {
        assert!(
            status_of(report, check).is_ok(),
            "{check}: {:#?}",
            report.checks
        );
    }
}

#[tokio::test]
async fn follower_on_tcp_given_by_flag_is_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let state = ClusterState {
        pins: vec![("pinned".into(), 5)],
        ..ClusterState::default()
    };
    let (_fake, port) = cluster::serve_tcp(state).await;
    let mut config = config_for(dir.path());
    config.apis = vec![parse_api_spec(&format!("tcpcluster=/ip4/127.0.0.1/tcp/{port}")).unwrap()];
    let reports = run(config, ProcessTable::default()).await;
    let report = only(&reports);
    assert_eq!(report.cluster_name, "tcpcluster");
    assert_eq!(report.api, format!("127.0.0.1:{port}"));
    assert_eq!(report.api_port, Some(port));
    assert_eq!(report.status, DaemonStatus::Running);
    assert_eq!(report.health, Health::Healthy);
    assert_eq!(report.pins_listed.as_ref().unwrap()["pinned"], 5);
    assert!(report.pins.as_ref().unwrap().values().all(|n| *n == 0));
}

#[tokio::test]
async fn empty_pin_stream_answers_204_and_counts_zero() {
    let dir = tempfile::tempdir().unwrap();
    let state = ClusterState {
        pins: Vec::new(),
        ..ClusterState::default()
    };
    let fake = follower_on_socket(dir.path(), "empty", state).await;
    let reports = run(config_for(dir.path()), ProcessTable::default()).await;
    let report = only(&reports);
    assert!(status_of(report, CHECK_PINS).is_ok());
    assert!(status_of(report, CHECK_PINS_LISTING).is_ok());
    assert_eq!(report.pins.as_ref().unwrap().values().sum::<u64>(), 0);
    assert_eq!(report.pins_listed.as_ref().unwrap()["pinned"], 0);
    assert_eq!(report.health, Health::Healthy);
    assert_eq!(fake.full_listings(), 1);
}

#[tokio::test]
async fn stream_error_trailer_fails_the_pin_checks() {
    let dir = tempfile::tempdir().unwrap();
    let state = ClusterState {
        pins: vec![("pinned".into(), 2), ("pin_queued".into(), 1)],
        stream_error: Some("ipfs pin ls: context deadline exceeded".into()),
        ..ClusterState::default()
    };
    let _fake = follower_on_socket(dir.path(), "broken", state).await;
    let reports = run(config_for(dir.path()), ProcessTable::default()).await;
    let report = only(&reports);
    let error = failure_of(report, CHECK_PINS);
    assert!(error.contains("X-Stream-Error"), "{error}");
    assert!(error.contains("context deadline exceeded"), "{error}");
    assert!(failure_of(report, CHECK_PINS_LISTING).contains("context deadline exceeded"));
    assert_eq!(
        (report.pins.as_ref(), report.pins_listed.as_ref()),
        (None, None)
    );
    assert_eq!(report.api_reachable, Some(true));
    assert_eq!(report.health, Health::Degraded);
}

#[tokio::test]
async fn pinning_service_api_impostor_is_not_reachable() {
    let dir = tempfile::tempdir().unwrap();
    let (impostor, port) = cluster::serve_pinning_service_tcp().await;
    let mut config = config_for(dir.path());
    config.apis = vec![parse_api_spec(&format!("/ip4/127.0.0.1/tcp/{port}/http")).unwrap()];
    let reports = run(config, ProcessTable::default()).await;
    let report = only(&reports);
    assert_eq!(report.cluster_name, format!("127.0.0.1:{port}"));
    assert_eq!(report.api_reachable, Some(false));
    assert_eq!(report.status, DaemonStatus::Error);
    assert_eq!(report.health, Health::Unhealthy);
    assert_eq!(report.peer_id, None);
    let error = failure_of(report, CHECK_API);
    assert!(
        error.contains(&format!(
            "127.0.0.1:{port} answered /id with 404 {{\"error\":{{\"reason\":\"not found\"}}}}: this is not an ipfs-cluster REST API"
        )),
        "{error}"
    );
    assert!(
        error.contains("(this is the error shape of ipfs-cluster-service's pinning-service API)"),
        "{error}"
    );
    // Its healthy-looking /pins was never taken for pins.
    assert!(failure_of(report, CHECK_PINS).contains("not run"));
    assert_eq!(impostor.count("/pins"), 0);
}

#[tokio::test]
async fn follower_without_peers_is_disconnected_and_degraded() {
    let dir = tempfile::tempdir().unwrap();
    let state = ClusterState {
        other_peers: Vec::new(),
        trust_links: Vec::new(),
        pins: Vec::new(),
        ..ClusterState::default()
    };
    let _fake = follower_on_socket(dir.path(), "lonely", state).await;
    let reports = run(config_for(dir.path()), ProcessTable::default()).await;
    let report = only(&reports);
    assert_eq!((report.peers, report.connected), (Some(0), Some(false)));
    assert_eq!(report.connection_status(), "disconnected");
    assert_eq!(report.trusted_peers, Some(0));
    assert_eq!(report.status, DaemonStatus::Running);
    assert_eq!(report.health, Health::Degraded);
}

#[tokio::test]
async fn ipfs_down_is_degraded() {
    let dir = tempfile::tempdir().unwrap();
    let state = ClusterState {
        ipfs_error: "dial tcp 127.0.0.1:5001: connect: connection refused".into(),
        pins: Vec::new(),
        ..ClusterState::default()
    };
    let _fake = follower_on_socket(dir.path(), "noipfs", state).await;
    let reports = run(config_for(dir.path()), ProcessTable::default()).await;
    let report = only(&reports);
    assert_eq!(report.ipfs_connected, Some(false));
    assert_eq!(report.health, Health::Degraded);
}

#[tokio::test]
async fn hundred_thousand_pins_are_counted_holding_one_line_at_most() {
    let dir = tempfile::tempdir().unwrap();
    let state = ClusterState {
        pins: vec![("pinned".into(), 99_990), ("pin_error".into(), 10)],
        chunk_size: 8191,
        ..ClusterState::default()
    };
    let socket = socket_path(dir.path(), "big");
    let _fake = cluster::serve_unix(&socket, state).await;
    let client = ApiClient::new(Endpoint::Unix(socket), None, 1 << 20, 64 * 1024);
    let counts = client
        .pins(None, Some("12D3KooWFollowerPeer"), deadline())
        .await
        .unwrap();
    assert_eq!(counts.pins, 100_000);
    assert_eq!(counts.by_status["pinned"], 99_990);
    assert_eq!(counts.by_status["pin_error"], 10);
    let line_len = cluster::pin_line(
        100_000,
        "pin_error",
        "12D3KooWFollowerPeer",
        "follower-host",
    )
    .len();
    assert!(counts.bytes > 100_000 * 300, "{}", counts.bytes);
    assert!(
        counts.max_buffered < line_len,
        "held {} bytes, more than one line ({line_len})",
        counts.max_buffered
    );
    // Through the whole check too.
    let reports = run(config_for(dir.path()), ProcessTable::default()).await;
    assert_eq!(
        only(&reports).pins_listed.as_ref().unwrap()["pinned"],
        99_990
    );
}

#[tokio::test]
async fn listing_and_trust_graph_are_cached_for_the_refresh_interval() {
    let dir = tempfile::tempdir().unwrap();
    let fake = follower_on_socket(dir.path(), "cached", ClusterState::default()).await;
    let checks = FollowCheck::new(config_for(dir.path()));
    let procs = Ok(Arc::new(ProcessTable::default()));
    let (first, host) = checks.reports(deadline(), procs.clone()).await;
    assert_eq!(
        host.binary_available,
        Some(false),
        "no binary on the test's PATH"
    );
    fake.state.lock().unwrap().pins = vec![("pinned".into(), 9), ("pinning".into(), 2)];
    let (second, _) = checks.reports(deadline(), procs).await;
    assert_eq!(fake.count("/id"), 2);
    assert_eq!(fake.count("/pins?local=true&filter="), 2);
    assert_eq!(fake.full_listings(), 1);
    assert_eq!(fake.count("/health/graph"), 1);
    // Live figures move, cached ones stay until the refresh interval passes.
    assert_eq!(second[0].pins.as_ref().unwrap()["pinning"], 2);
    assert_eq!(second[0].pins_listed, first[0].pins_listed);
    assert_eq!(second[0].pins_listed_at, first[0].pins_listed_at);
    assert!(status_of(&second[0], CHECK_PINS_LISTING).is_ok());
}

#[tokio::test]
async fn refresh_interval_zero_refetches_every_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let fake = follower_on_socket(dir.path(), "eager", ClusterState::default()).await;
    let mut config = config_for(dir.path());
    config.refresh_interval = Duration::ZERO;
    let checks = FollowCheck::new(config);
    let procs = Ok(Arc::new(ProcessTable::default()));
    checks.reports(deadline(), procs.clone()).await;
    checks.reports(deadline(), procs).await;
    assert_eq!(fake.full_listings(), 2);
    assert_eq!(fake.count("/health/graph"), 2);
}

/// True when this test runs as root, where file modes do not stop `connect`.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new().unwrap();
    probe.as_file().metadata().unwrap().uid() == 0
}

#[tokio::test]
async fn forbidden_socket_is_reported_as_permission_denied_with_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let socket = socket_path(dir.path(), "locked");
    let _fake = cluster::serve_unix(&socket, ClusterState::default()).await;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o000)).unwrap();
    let reports = run(config_for(dir.path()), ProcessTable::default()).await;
    let report = only(&reports);
    assert_eq!(report.cluster_name, "locked");
    if running_as_root() {
        // root ignores the socket's mode: the API answers and there is nothing to deny.
        assert_eq!(report.api_reachable, Some(true));
        return;
    }
    let error = failure_of(report, CHECK_API);
    assert!(error.contains("permission denied"), "{error}");
    assert!(error.contains("owned by"), "{error}");
    assert_eq!(report.api_reachable, Some(false));
    assert_eq!(report.status, DaemonStatus::Error);
    assert_eq!(report.health, Health::Unhealthy);
}

/// Set in the child run by [`forbidden_socket_is_permission_denied_for_another_user`]: the
/// socket the child (running as nobody) must be refused.
const FORBIDDEN_SOCKET_ENV: &str = "LFE_TEST_FORBIDDEN_FOLLOW_DIR";
/// Set beside [`FORBIDDEN_SOCKET_ENV`]: what the error must say, `|`-separated.
const FORBIDDEN_EXPECT_ENV: &str = "LFE_TEST_FORBIDDEN_EXPECT";

#[tokio::test]
async fn forbidden_socket_is_permission_denied_for_another_user() {
    // Only its owner may write: run as the owner.
    refused_as_nobody(
        0o600,
        "65534",
        &["owned by root:root, mode 600", "run the exporter as root"],
    )
    .await;
}

#[tokio::test]
async fn a_socket_its_group_may_not_write_refuses_the_group_and_says_so() {
    // Mode 0755 (a Go listener under umask 022): the exporter runs with the socket's group
    // (gid 0) and is still refused, since connecting needs write permission.
    refused_as_nobody(
        0o755,
        "0",
        &[
            "mode 755",
            "needs write permission",
            "joining the group is not enough",
            "umask 002",
            "chmod g+w",
            "run the exporter as root",
        ],
    )
    .await;
}

/// A follower socket of `mode` owned by root, checked by a child test process running as uid
/// 65534 with group `gid`; the API error must contain each of `expect`.
async fn refused_as_nobody(mode: u32, gid: &str, expect: &[&str]) {
    refused_as_nobody_in(0o755, mode, gid, expect).await
}

#[tokio::test]
async fn a_follower_folder_the_exporter_may_not_search_is_reported_with_its_owner_and_fix() {
    // ipfs-cluster creates its folders 0700: the follower is still reported, with the folder,
    // its owner and the fix, never skipped.
    refused_as_nobody_in(
        0o700,
        0o600,
        "65534",
        &[
            "cannot look into the follower's folder",
            "owned by root:root, mode 700",
            "run the exporter as root",
        ],
    )
    .await;
}

/// [`refused_as_nobody`] with the follower's folder of `folder_mode`.
async fn refused_as_nobody_in(folder_mode: u32, mode: u32, gid: &str, expect: &[&str]) {
    // As root, file modes do not stop connect(2): run the check in a child process as nobody
    // (uid 65534), so the EACCES path is exercised whoever runs the tests.
    if std::env::var_os(FORBIDDEN_SOCKET_ENV).is_some() || !running_as_root() {
        // Not root: forbidden_socket_is_reported_as_permission_denied_with_its_owner covers it.
        return;
    }
    let Ok(setpriv) = which_setpriv() else {
        println!("skipped: setpriv (util-linux) is not installed, cannot drop to another uid");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = socket_path(dir.path(), "locked");
    for folder in [
        dir.path().join("follow"),
        socket.parent().unwrap().to_path_buf(),
    ] {
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let _fake = cluster::serve_unix(&socket, ClusterState::default()).await;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(mode)).unwrap();
    std::fs::set_permissions(
        socket.parent().unwrap(),
        std::fs::Permissions::from_mode(folder_mode),
    )
    .unwrap();
    let output = std::process::Command::new(setpriv)
        .args(["--reuid=65534", &format!("--regid={gid}"), "--clear-groups"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            child_test_name(),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FORBIDDEN_SOCKET_ENV, dir.path())
        .env(FORBIDDEN_EXPECT_ENV, expect.join("|"))
        .output()
        .expect("run the test binary as nobody");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    assert!(said.contains("1 passed"), "the child ran no test: {said}");
    assert!(said.contains("checked as uid 65534"), "{said}");
}

/// The name libtest knows [`forbidden_socket_seen_by_nobody`] by in this binary
/// (`follow::forbidden_socket_seen_by_nobody`): its path without the crate's name.
fn child_test_name() -> &'static str {
    let path = concat!(module_path!(), "::forbidden_socket_seen_by_nobody");
    path.split_once("::").expect("crate::module::test").1
}

fn which_setpriv() -> Result<PathBuf, ()> {
    ["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or(())
}

/// The child half of [`forbidden_socket_is_permission_denied_for_another_user`]; does nothing
/// unless that test started it.
#[tokio::test]
async fn forbidden_socket_seen_by_nobody() {
    let Some(dir) = std::env::var_os(FORBIDDEN_SOCKET_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let mut config = config_for_readonly(&dir);
    config.config_dir = dir.join("follow");
    let reports = run(config, ProcessTable::default()).await;
    let report = only(&reports);
    assert_eq!(report.cluster_name, "locked");
    let error = failure_of(report, CHECK_API);
    assert!(
        error.to_lowercase().contains("permission denied"),
        "{error}"
    );
    let expect = std::env::var(FORBIDDEN_EXPECT_ENV).unwrap_or_default();
    for said in expect.split('|').filter(|s| !s.is_empty()) {
        assert!(error.contains(said), "{said:?} missing from: {error}");
    }
    assert_eq!(report.api_reachable, Some(false));
    assert_eq!(report.status, DaemonStatus::Error);
    assert_eq!(report.health, Health::Unhealthy);
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    println!("checked as uid {uid}");
}

/// [`config_for`] without writing into `dir` (the child runs as a user who may not).
fn config_for_readonly(dir: &Path) -> FollowConfig {
    FollowConfig {
        config_dir: dir.join("follow"),
        binary_search_path: Some(dir.join("no-bin").into_os_string()),
        ..FollowConfig::default()
    }
}

#[tokio::test]
async fn stale_socket_without_listener_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let socket = socket_path(dir.path(), "crashed");
    // Binding creates the socket file; dropping the listener leaves it behind, as a crash does.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let reports = run(config_for(dir.path()), ProcessTable::default()).await;
    let report = only(&reports);
    assert_eq!(report.api_reachable, Some(false));
    assert_eq!(report.status, DaemonStatus::Stopped);
    assert_eq!(report.health, Health::Unhealthy);
    assert_eq!(report.running, Some(false));
    assert!(failure_of(report, CHECK_API).contains("connection refused"));
}

#[tokio::test]
async fn running_process_without_socket_is_reported_as_error() {
    let dir = tempfile::tempdir().unwrap();
    let procs = ProcessTable {
        processes: vec![follow_process(NO_SUCH_PID, "ghost")],
        ..ProcessTable::default()
    };
    let reports = run(config_for(dir.path()), procs).await;
    let report = only(&reports);
    assert_eq!(report.cluster_name, "ghost");
    assert_eq!(report.running, Some(true));
    assert_eq!(report.api_reachable, Some(false));
    assert_eq!(report.status, DaemonStatus::Error);
    assert_eq!(report.health, Health::Unhealthy);
    let error = failure_of(report, CHECK_API);
    assert!(
        error.contains("ghost/api-socket") && error.contains("does not exist"),
        "{error}"
    );
}

#[tokio::test]
async fn discovery_merges_folders_processes_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let _a = follower_on_socket(dir.path(), "alpha", ClusterState::default()).await;
    let _b = follower_on_socket(dir.path(), "beta", ClusterState::default()).await;
    std::fs::create_dir_all(dir.path().join("follow/not-a-follower")).unwrap();
    let (_tcp, port) = cluster::serve_tcp(ClusterState::default()).await;
    let mut config = config_for(dir.path());
    config.apis = vec![
        parse_api_spec(&format!("gamma=http://127.0.0.1:{port}")).unwrap(),
        // The same follower as the folder's alpha: not reported twice.
        parse_api_spec(&format!(
            "/unix/{}",
            dir.path().join("follow/alpha/api-socket").display()
        ))
        .unwrap(),
    ];
    let procs = ProcessTable {
        processes: vec![follow_process(NO_SUCH_PID, "beta")],
        ..ProcessTable::default()
    };
    let (reports, host) = FollowCheck::new(config)
        .reports(deadline(), Ok(Arc::new(procs)))
        .await;
    let mut names: Vec<(&str, Option<bool>, Option<bool>)> = reports
        .iter()
        .map(|r| (r.cluster_name.as_str(), r.api_reachable, r.running))
        .collect();
    names.sort();
    // Every API answers: every follower runs, a process of its own found (beta) or not.
    assert_eq!(
        names,
        vec![
            ("alpha", Some(true), Some(true)),
            ("beta", Some(true), Some(true)),
            ("gamma", Some(true), Some(true)),
        ]
    );
    // Host-level checks are the host's, not any follower's.
    assert!(reports
        .iter()
        .flat_map(|r| &r.checks)
        .all(|c| c.check != CHECK_BINARY));
    let host_checks: Vec<&str> = host.checks.iter().map(|c| c.check).collect();
    assert_eq!(host_checks, ["follow_discovery", CHECK_BINARY]);
}

#[tokio::test]
async fn basic_auth_file_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let state = ClusterState {
        basic_auth: Some("follow:s3cret".into()),
        ..ClusterState::default()
    };
    let _fake = follower_on_socket(dir.path(), "authed", state).await;
    let creds = dir.path().join("creds");
    let mut config = config_for(dir.path());
    config.basic_auth_file = Some(creds.clone());

    std::fs::write(&creds, "follow:wrong\n").unwrap();
    let reports = run(config.clone(), ProcessTable::default()).await;
    let error = failure_of(only(&reports), CHECK_API);
    assert!(error.contains("401"), "{error}");
    assert_eq!(only(&reports).api_reachable, Some(false));

    std::fs::write(&creds, "follow:s3cret\n").unwrap();
    let reports = run(config, ProcessTable::default()).await;
    assert_eq!(only(&reports).api_reachable, Some(true));
}

#[tokio::test]
async fn hung_api_times_out_and_is_not_healthy() {
    let dir = tempfile::tempdir().unwrap();
    // The kernel accepts connections into the backlog; nobody ever answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config = config_for(dir.path());
    config.apis = vec![parse_api_spec(&format!("hung=/ip4/127.0.0.1/tcp/{port}")).unwrap()];
    // The check must end at its deadline, not when the peer answers (never): a hang here is
    // caught by the guard, whose margin of 30 s no busy machine needs.
    let (reports, _) = tokio::time::timeout(
        Duration::from_secs(30),
        FollowCheck::new(config).reports(
            Instant::now() + Duration::from_millis(300),
            Ok(Arc::new(ProcessTable::default())),
        ),
    )
    .await
    .expect("the follow check outlived its deadline by 30 s");
    let report = only(&reports);
    assert_eq!(status_of(report, CHECK_API), &CheckStatus::TimedOut);
    assert_eq!(
        report.api_reachable,
        Some(false),
        "a hung follower did not answer: 0, so alerts fire"
    );
    assert_eq!(report.status, DaemonStatus::Error);
    assert_eq!(report.health, Health::Unhealthy);
    drop(listener);
}

#[tokio::test]
async fn binary_version_is_read_once_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let calls = dir.path().join("calls");
    let script = bin.join("ipfs-cluster-follow");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho x >> '{}'\necho 'ipfs-cluster-follow version 1.1.6'\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _fake = follower_on_socket(dir.path(), "withbin", ClusterState::default()).await;
    let mut config = config_for(dir.path());
    config.binary_search_path = Some(bin.into_os_string());
    let checks = FollowCheck::new(config);
    let procs = Ok(Arc::new(ProcessTable::default()));
    let (_, host) = checks.reports(deadline(), procs.clone()).await;
    assert_eq!(host.binary_available, Some(true));
    checks.reports(deadline(), procs).await;
    let binary = checks.binary();
    assert_eq!(
        binary.version.as_deref(),
        Some("ipfs-cluster-follow version 1.1.6")
    );
    assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), 1);
}

#[tokio::test]
async fn non_http_listener_is_not_reachable() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await;
        }
    });
    let mut config = config_for(dir.path());
    config.apis = vec![parse_api_spec(&format!("ssh=/ip4/127.0.0.1/tcp/{port}")).unwrap()];
    let reports = run(config, ProcessTable::default()).await;
    let report = only(&reports);
    assert_eq!(report.api_reachable, Some(false));
    assert_eq!(report.status, DaemonStatus::Error);
    assert!(failure_of(report, CHECK_API).contains("HTTP protocol error"));
    server.abort();
}

#[tokio::test]
async fn live_pins_run_alongside_id_once_the_peer_id_is_known() {
    let dir = tempfile::tempdir().unwrap();
    let fake = follower_on_socket(dir.path(), "overlap", ClusterState::default()).await;
    let checks = FollowCheck::new(config_for(dir.path()));
    let procs = Ok(Arc::new(ProcessTable::default()));
    let live = "/pins?local=true&filter=";
    checks.reports(deadline(), procs.clone()).await;
    assert_eq!(fake.count(live), 1, "first round: the count waits for /id");
    let (reports, _) = checks.reports(deadline(), procs.clone()).await;
    assert_eq!(fake.count(live), 2, "same peer: the early count is used");
    assert_eq!(reports[0].pins.as_ref().unwrap()["pin_error"], 1);
    // The follower was re-initialised with a new identity: the early count is discarded.
    fake.state.lock().unwrap().peer_id = "12D3KooWNewIdentity".into();
    let (reports, _) = checks.reports(deadline(), procs).await;
    assert_eq!(
        fake.count(live),
        4,
        "new peer: counted again for the new id"
    );
    assert_eq!(reports[0].peer_id.as_deref(), Some("12D3KooWNewIdentity"));
    assert_eq!(reports[0].pins.as_ref().unwrap()["pin_error"], 1);
}

/// A child process whose environment moves the follow API; killed when dropped.
struct ChildWithEnv(std::process::Child);

impl Drop for ChildWithEnv {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_flag_naming_a_running_follower_otherwise_keeps_it_running() {
    // `ipfs-cluster-follow c run` serves its API on TCP (its environment says where); the flag
    // names the same endpoint under another name, or unnamed (label `127.0.0.1:PORT`).
    let dir = tempfile::tempdir().unwrap();
    let (_fake, port) = cluster::serve_tcp(ClusterState::default()).await;
    let address = format!("/ip4/127.0.0.1/tcp/{port}");
    let child = ChildWithEnv(
        std::process::Command::new("sleep")
            .arg("60")
            .env("CLUSTER_RESTAPI_HTTPLISTENMULTIADDRESS", &address)
            .spawn()
            .expect("sleep runs"),
    );
    let pid = child.0.id();
    // Between fork and exec the child still shows this process's environment: wait for the exec.
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while !lotus_follow_exporter::host::process::read_environ(pid)
        .unwrap_or_default()
        .iter()
        .any(|(k, _)| k == "CLUSTER_RESTAPI_HTTPLISTENMULTIADDRESS")
    {
        assert!(std::time::Instant::now() < until, "the child never exec'd");
        std::thread::yield_now();
    }
    // The table shows the child as the follower (its real environ is read by discovery).
    let procs = ProcessTable {
        processes: vec![follow_process(pid, "c")],
        ..ProcessTable::default()
    };
    for flag in [format!("mycluster={address}"), address.clone()] {
        let mut config = config_for(dir.path());
        config.apis = vec![parse_api_spec(&flag).unwrap()];
        let reports = run(config, procs.clone()).await;
        let report = only(&reports);
        assert_ne!(report.cluster_name, "c", "{flag}: the flag's label is kept");
        assert_eq!(report.running, Some(true), "{flag}: {:#?}", report.checks);
        assert_eq!(report.pid, Some(pid), "{flag}");
        assert_eq!(report.status, DaemonStatus::Running, "{flag}");
    }
}

/// A fake `ipfs-cluster-follow` on a search path of its own, running `body` as a shell script.
fn fake_binary(dir: &Path, body: &str) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("ipfs-cluster-follow");
    std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Live (not zombie) processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|line| line.contains(marker))
        .collect()
}

/// Wait up to 2 s for the processes carrying `marker` to be gone.
async fn gone(marker: &str) -> Vec<String> {
    for _ in 0..40 {
        if processes_with(marker).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    processes_with(marker)
}

#[tokio::test]
async fn a_binary_printing_forever_is_read_up_to_the_cap_and_killed() {
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("endless-version-{}", std::process::id());
    // `yes` is the shell's child: only killing the group reaches it.
    let bin = fake_binary(dir.path(), &format!("yes '{marker}'"));
    let mut config = config_for(dir.path());
    config.binary_search_path = Some(bin.into_os_string());
    // Killed at the cap, not at the deadline: the check reports the cap, not a timeout.
    let (_, host) = FollowCheck::new(config)
        .reports(deadline(), Ok(Arc::new(ProcessTable::default())))
        .await;
    let binary = host
        .checks
        .iter()
        .find(|c| c.check == CHECK_BINARY)
        .unwrap();
    let error = binary.status.failure().unwrap_or_default();
    assert!(
        error.contains("more than 4096 bytes"),
        "{:?}",
        binary.status
    );
    assert_eq!(host.binary_available, None);
    assert_eq!(gone(&marker).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_hanging_binary_delays_no_follower_leaves_no_process_and_is_not_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    // A unique duration marks the wrapper's child.
    let marker = format!("1000{}.5", std::process::id());
    let bin = fake_binary(
        dir.path(),
        &format!("echo x >> '{}'\nsleep {marker}", calls.display()),
    );
    let _fake = follower_on_socket(dir.path(), "prompt", ClusterState::default()).await;
    let mut config = config_for(dir.path());
    config.binary_search_path = Some(bin.into_os_string());
    let checks = FollowCheck::new(config);
    let procs = Ok(Arc::new(ProcessTable::default()));
    let short = || Instant::now() + Duration::from_millis(1500);

    let (reports, host) = checks.reports(short(), procs.clone()).await;
    let report = only(&reports);
    assert_eq!(report.status, DaemonStatus::Running, "{:#?}", report.checks);
    assert_eq!(report.api_reachable, Some(true));
    let binary = host
        .checks
        .iter()
        .find(|c| c.check == CHECK_BINARY)
        .unwrap();
    assert_eq!(binary.status, CheckStatus::TimedOut);
    assert_eq!(
        gone(&marker).await,
        Vec::<String>::new(),
        "the wrapper's sleep survived"
    );

    let (_, host) = checks.reports(short(), procs).await;
    let binary = host
        .checks
        .iter()
        .find(|c| c.check == CHECK_BINARY)
        .unwrap();
    let error = binary.status.failure().unwrap_or_default();
    assert!(
        error.contains("earlier scrape deadline"),
        "{:?}",
        binary.status
    );
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap().lines().count(),
        1,
        "a timed-out binary is not rerun on the next scrape"
    );
}

#[tokio::test]
async fn a_silent_follower_keeps_its_last_swarm_addresses_for_the_port_plan() {
    let dir = tempfile::tempdir().unwrap();
    let fake = follower_on_socket(dir.path(), "quiet", ClusterState::default()).await;
    let checks = FollowCheck::new(config_for(dir.path()));
    let procs = Ok(Arc::new(ProcessTable::default()));
    let (first, _) = checks.reports(deadline(), procs.clone()).await;
    assert!(!first[0].swarm_addresses.is_empty());
    drop(fake);
    let (second, _) = checks.reports(deadline(), procs).await;
    assert_eq!(second[0].api_reachable, Some(false));
    assert_eq!(second[0].swarm_addresses, first[0].swarm_addresses);
}

/// A follower whose answers to `path` come after the deadline, on TCP and on a unix socket: each
/// of 20 runs reports the calls on that path as timed out, never as a protocol failure (the
/// connection closing at the deadline used to race the call's own timeout on another worker).
async fn late_answers_read_as_timed_out(path: &str, checks: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let state = ClusterState {
        latency: vec![(path.to_string(), Duration::from_secs(30))],
        ..ClusterState::default()
    };
    let _unix = follower_on_socket(dir.path(), "slow-unix", state.clone()).await;
    let (_tcp, port) = cluster::serve_tcp(state).await;
    let mut config = config_for(dir.path());
    config.apis = vec![parse_api_spec(&format!("slow-tcp=/ip4/127.0.0.1/tcp/{port}")).unwrap()];
    config.refresh_interval = Duration::ZERO;
    let follow = FollowCheck::new(config);
    for _ in 0..20 {
        let (reports, _) = follow
            .reports(
                Instant::now() + Duration::from_millis(200),
                Ok(Arc::new(ProcessTable::default())),
            )
            .await;
        assert_eq!(reports.len(), 2, "{reports:#?}");
        for report in &reports {
            for check in checks {
                assert_eq!(
                    status_of(report, check),
                    &CheckStatus::TimedOut,
                    "{} {check}",
                    report.cluster_name
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_id_answered_after_the_deadline_always_reads_as_timed_out() {
    late_answers_read_as_timed_out("/id", &[CHECK_API]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pins_answered_after_the_deadline_always_read_as_timed_out() {
    late_answers_read_as_timed_out("/pins", &[CHECK_PINS, CHECK_PINS_LISTING]).await;
}

/// A process of another user (uid 65534, started through setpriv) posing as
/// `ipfs-cluster-follow -c <its folder> <name> run`, its argv rewritten with `exec -a` and kept
/// alive by perl reading its program from stdin (so no argument of its own is taken as a flag).
struct Impostor(std::process::Child);

impl Impostor {
    fn start(folder: &Path, name: &str) -> Option<Impostor> {
        let setpriv = which_setpriv().ok()?;
        let mut child = std::process::Command::new(setpriv)
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "bash",
                "-c",
            ])
            .arg("exec -a ipfs-cluster-follow perl - -c \"$0\" \"$1\" run")
            .arg(folder)
            .arg(name)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        use std::io::Write;
        let mut stdin = child.stdin.take()?;
        stdin.write_all(b"sleep 600;\n").ok()?;
        drop(stdin);
        Some(Impostor(child))
    }

    /// Wait (bounded) until the process table shows the rewritten argv.
    async fn visible(&self, name: &str) -> bool {
        for _ in 0..500 {
            let table = lotus_follow_exporter::host::process::scan(deadline())
                .await
                .unwrap();
            if table
                .follow_peers()
                .any(|(p, n)| p.pid == self.0.id() && n == name)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn another_users_process_gets_no_credentials_and_cannot_take_a_followers_place() {
    if !running_as_root() {
        println!("skipped: starting a process as another user needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let name = format!("mycluster-{}", std::process::id());
    let creds = dir.path().join("creds");
    std::fs::write(&creds, "follow:s3cret\n").unwrap();
    let guarded = |peer: &str| ClusterState {
        peer_id: peer.to_string(),
        basic_auth: Some("follow:s3cret".to_string()),
        ..ClusterState::default()
    };
    // The real follower, in the exporter's config folder.
    let _real = follower_on_socket(dir.path(), &name, guarded("12D3KooWReal")).await;
    // The impostor's socket in a folder of its own: it would answer anyone holding the
    // credentials, so an answer proves they were sent.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(elsewhere.join(&name)).unwrap();
    let _fake = cluster::serve_unix(
        &elsewhere.join(&name).join("api-socket"),
        guarded("12D3KooWImpostor"),
    )
    .await;
    let Some(impostor) = Impostor::start(&elsewhere, &name) else {
        println!("skipped: setpriv or perl missing");
        return;
    };
    assert!(
        impostor.visible(&name).await,
        "the impostor never showed up"
    );
    let mut config = config_for(dir.path());
    config.basic_auth_file = Some(creds);
    let table = lotus_follow_exporter::host::process::scan(deadline())
        .await
        .unwrap();
    let reports = run(config, table).await;
    let real = reports
        .iter()
        .find(|r| r.cluster_name == name)
        .expect("the real follower is still reported under its name");
    assert_eq!(real.peer_id.as_deref(), Some("12D3KooWReal"));
    // It runs because its own API answers, not because of the impostor's process: that
    // process is not taken as its own.
    assert_eq!(real.running, Some(true), "its API answers");
    assert_eq!(
        real.pid, None,
        "the impostor's process was taken as its own"
    );
    let shown = reports
        .iter()
        .find(|r| r.cluster_name == format!("nobody/{name}"))
        .unwrap_or_else(|| panic!("no nobody/{name} in {reports:#?}"));
    assert_eq!(
        shown.api_reachable,
        Some(false),
        "the impostor answered: the credentials were sent to it"
    );
    assert!(failure_of(shown, CHECK_API).contains("401"), "{shown:#?}");
}
