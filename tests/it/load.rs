//! Load and abuse: many concurrent scrapes, and slow clients that must not hold the exporter.
//!
//! Each test runs the exporter binary as its own process (`util::spawn`): the file descriptors
//! counted are its own, and its process scans, file reads and counters are not shared with the
//! other tests of this binary, nor theirs with it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::fakes::cluster::{self, ClusterState};
use crate::fakes::lotus::FakeLotus;
use crate::{fakes, util};

/// The open file descriptors of the exporter process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Wait (bounded) until the open file descriptors of `pid` drop back to at most `limit`.
async fn fds_settle_to(pid: u32, limit: usize) -> usize {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let now = open_fds(pid);
        if now <= limit || Instant::now() > until {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_scrapes_at_a_hundred_connections_leak_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lotus = FakeLotus::start().await;
    let socket = dir.path().join("api-socket");
    let _follower = cluster::serve_unix(&socket, ClusterState::default()).await;
    let follow_api = format!("load=/unix/{}", socket.display());
    let exporter = Arc::new(
        util::spawn(&[
            "--lotus.api",
            &lotus.api_info(),
            "--follow.api",
            &follow_api,
        ])
        .await,
    );
    // Warm up (first-round caches, lazily opened files), then measure.
    assert_eq!(exporter.metrics().await.value("lotus_up"), 1.0);
    let pid = exporter.pid().expect("a child process");
    let baseline = open_fds(pid);
    let begun = Instant::now();
    let workers: Vec<_> = (0..100)
        .map(|_| {
            let exporter = exporter.clone();
            tokio::spawn(async move {
                let mut failures = 0;
                for _ in 0..10 {
                    let page = exporter.get("/metrics").await;
                    if page.status != 200
                        || !page.body.contains("lotus_up 1")
                        || !page
                            .body
                            .contains("cluster_follow_api_reachable{cluster_name=\"load\"} 1")
                    {
                        failures += 1;
                    }
                }
                failures
            })
        })
        .collect();
    let mut failures = 0;
    for worker in workers {
        failures += worker.await.unwrap();
    }
    let took = begun.elapsed();
    assert_eq!(failures, 0, "scrapes failed under load");
    let after = fds_settle_to(pid, baseline + 2).await;
    assert!(
        after <= baseline + 2,
        "file descriptors grew from {baseline} to {after}"
    );
    let rounds = lotus.calls("Filecoin.ChainHead");
    assert!(
        rounds < 1000,
        "coalescing: 1000 scrapes cost {rounds} rounds"
    );
    eprintln!("1000 scrapes in {took:?}, {rounds} Lotus rounds, fds {baseline} -> {after}");
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_do_not_hold_the_exporter() {
    let lotus = FakeLotus::start().await;
    let exporter = util::spawn(&["--lotus.api", &lotus.api_info()]).await;
    // 200 clients that send half a request head and then nothing (slowloris).
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(stream);
    }
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 1.0);
    // The scrape was answered while every slow client still held its connection: it did not
    // wait for the server to give up on them (their header timeout closes them, or answers 408).
    let mut buf = [0u8; 64];
    let given_up = slow
        .iter()
        .filter(|stream| {
            !matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count();
    assert_eq!(
        given_up, 0,
        "the scrape waited until slow clients were dropped"
    );
    drop(slow);
}

/// A client scraping with a deadline shorter than the backends' answers, beside patient scrapes:
/// rounds it cuts short must never make a patient scrape see a healthy backend down. The
/// follower and Lotus answer in 300 ms; the hurried client's deadline is 50 ms (0.55 s - 0.5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hurried_client_never_makes_a_patient_scrape_see_a_healthy_backend_down() {
    let dir = tempfile::tempdir().unwrap();
    let lotus = FakeLotus::start().await;
    lotus.set_behavior(
        "Filecoin.ChainHead",
        fakes::lotus::Behavior::Delay(Duration::from_millis(300)),
    );
    let socket = dir.path().join("api-socket");
    let state = ClusterState {
        latency: vec![("/id".to_string(), Duration::from_millis(300))],
        ..ClusterState::default()
    };
    let _follower = cluster::serve_unix(&socket, state).await;
    let follow_api = format!("slow=/unix/{}", socket.display());
    let exporter = Arc::new(
        util::spawn(&[
            "--lotus.api",
            &lotus.api_info(),
            "--follow.api",
            &follow_api,
            "--collector.timeout",
            "20s",
        ])
        .await,
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hurried = {
        let (exporter, stop) = (exporter.clone(), stop.clone());
        tokio::spawn(async move {
            let mut scrapes = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let header = [("X-Prometheus-Scrape-Timeout-Seconds", "0.55")];
                exporter
                    .request(http::Method::GET, "/metrics", &header)
                    .await;
                scrapes += 1;
            }
            scrapes
        })
    };
    let mut wrong = Vec::new();
    for _ in 0..20 {
        let m = exporter.metrics().await;
        let reachable = m.get("cluster_follow_api_reachable{cluster_name=\"slow\"}");
        let lotus_up = m.get("lotus_up");
        if reachable != Some(1.0) || lotus_up != Some(1.0) {
            wrong.push((reachable, lotus_up));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let hurried_scrapes = hurried.await.unwrap();
    assert!(hurried_scrapes > 0);
    assert_eq!(
        wrong,
        Vec::new(),
        "patient scrapes saw (follower, lotus) down"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_holding_every_slot_idle_does_not_lock_out_a_scrape() {
    use tokio::io::AsyncReadExt;
    let lotus = FakeLotus::start().await;
    let exporter = util::spawn(&[
        "--lotus.api",
        &lotus.api_info(),
        "--web.max-connections",
        "8",
    ])
    .await;
    // One client takes every slot with keep-alive connections that answered once and now idle.
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut stream = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let mut buffer = [0u8; 512];
        while !answer.ends_with(b"ok\n") {
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0, "closed before answering");
            answer.extend_from_slice(&buffer[..n]);
        }
        held.push(stream);
    }
    // A scrape beside it is admitted by closing the longest-idle of them.
    let scrape = tokio::time::timeout(Duration::from_secs(10), exporter.metrics())
        .await
        .expect("a scrape beside a client holding every slot answers");
    assert_eq!(scrape.value("lotus_up"), 1.0);
    assert!(
        scrape.value("lotus_follow_exporter_connections_evicted_total") >= 1.0,
        "the eviction is counted"
    );
    // The evicted connection was really closed: reading it ends.
    let mut closed = 0;
    for stream in &mut held {
        let mut buffer = [0u8; 64];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buffer)).await
        {
            closed += 1;
        }
    }
    assert!(closed >= 1, "an idle connection was closed for the scrape");
}
