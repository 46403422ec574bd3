//! The fault matrix: every way a backend can misbehave, against Lotus and against a follower.
//!
//! For each fault the scrape must return within its deadline, the faulted backend's checks must
//! fail (and its figures be absent or 0 as documented), the other backend must stay correct, and
//! the body bytes the exporter read must stay under the configured cap. Each scrape is the first
//! of its own exporter process, so the byte counter it reports is that scrape's alone (in-process,
//! every test of this binary would add to the library's one counter).

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::fakes::cluster::{self, ClusterState};
use crate::fakes::lotus::FakeLotus;
use crate::util;

/// Body cap given to the exporter for both backends.
const CAP: usize = 1 << 20;
/// The scrape budget (`--collector.timeout`).
const BUDGET: Duration = Duration::from_millis(1500);

/// How a misbehaving server answers any request.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Nothing listens on the port.
    Refused,
    /// Accepts and never answers.
    Hang,
    /// Sends headers, then one byte of body every 50 ms.
    Dribble,
    /// Sends headers and part of the body, then resets the connection.
    ResetMidBody,
    /// Streams a 200 MB body.
    HugeBody,
    InvalidJson,
    /// Valid JSON of the wrong shape.
    WrongShape,
    /// A JSON-RPC error envelope.
    RpcErrorEnvelope,
    Status(u16),
    /// A non-HTTP daemon (an SSH banner) holds the port.
    NotHttp,
}

const FAULTS: [Fault; 14] = [
    Fault::Refused,
    Fault::Hang,
    Fault::Dribble,
    Fault::ResetMidBody,
    Fault::HugeBody,
    Fault::InvalidJson,
    Fault::WrongShape,
    Fault::RpcErrorEnvelope,
    Fault::Status(401),
    Fault::Status(403),
    Fault::Status(500),
    Fault::Status(502),
    Fault::NotHttp,
    Fault::Status(404),
];

/// Start a server with this fault on a loopback port; returns the port, and for
/// [`Fault::Refused`] the socket that keeps it: bound, never listened on, so every connection is
/// refused and no other test's server (they share this process) can take the port meanwhile.
async fn fault_server(fault: Fault) -> (u16, Option<TcpSocket>) {
    if matches!(fault, Fault::Refused) {
        let reserved = TcpSocket::new_v4().unwrap();
        reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = reserved.local_addr().unwrap().port();
        return (port, Some(reserved));
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(misbehave(stream, fault));
        }
    });
    (port, None)
}

async fn misbehave(mut stream: TcpStream, fault: Fault) {
    if matches!(fault, Fault::NotHttp) {
        let _ = stream
            .write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
            .await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        return;
    }
    read_request_head(&mut stream).await;
    let json = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let _ = match fault {
        Fault::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        }
        Fault::Dribble => dribble(&mut stream).await,
        Fault::ResetMidBody => reset_mid_body(stream).await,
        Fault::HugeBody => huge_body(&mut stream).await,
        Fault::InvalidJson => {
            stream
                .write_all(json("{\"result\": {not json").as_bytes())
                .await
        }
        Fault::WrongShape => {
            stream
                .write_all(json("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[1,2,3]}").as_bytes())
                .await
        }
        Fault::RpcErrorEnvelope => stream
            .write_all(
                json("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":\"boom\"}}")
                    .as_bytes(),
            )
            .await,
        Fault::Status(code) => {
            let head = format!("HTTP/1.1 {code} Fault\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nfault");
            stream.write_all(head.as_bytes()).await
        }
        Fault::Refused | Fault::NotHttp => Ok(()),
    };
}

async fn read_request_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
}

async fn dribble(stream: &mut TcpStream) -> std::io::Result<()> {
    stream
        .write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
        )
        .await?;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stream.write_all(b" ").await?;
    }
}

async fn reset_mid_body(stream: TcpStream) -> std::io::Result<()> {
    let mut stream = stream;
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"jsonrpc\":\"2.0\",\"result\":{\"Vers")
        .await?;
    stream.flush().await?;
    // Linger 0 makes the close a reset; it does not block on drop.
    #[allow(deprecated)]
    stream.set_linger(Some(Duration::ZERO))?;
    drop(stream);
    Ok(())
}

async fn huge_body(stream: &mut TcpStream) -> std::io::Result<()> {
    const SIZE: usize = 200_000_000;
    stream
        .write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes())
        .await?;
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < SIZE {
        stream.write_all(&chunk).await?;
        sent += chunk.len();
    }
    Ok(())
}

/// Run one scrape with the given flags, by a fresh exporter process; check the deadline and
/// return the body bytes it read.
async fn scrape(args: &[&str]) -> (util::Metrics, serde_json::Value, u64) {
    let mut all = vec![
        "--collector.timeout",
        "1500ms",
        "--lotus.max-body-bytes",
        "1048576",
        "--follow.max-body-bytes",
        "1048576",
    ];
    all.extend_from_slice(args);
    let exporter = util::spawn(&all).await;
    // Every fault ends by the deadline: the guard's margin of 30 s catches a hang, not slowness.
    let page = tokio::time::timeout(BUDGET + Duration::from_secs(30), exporter.get("/metrics"))
        .await
        .unwrap_or_else(|_| panic!("a scrape with args {args:?} outlived its deadline by 30 s"));
    assert_eq!(page.status, 200);
    let metrics = util::Metrics::parse(&page.body);
    let read = metrics.value("lotus_follow_exporter_backend_body_bytes_read_total") as u64;
    let status = exporter.status().await;
    (metrics, status, read)
}

/// A healthy follower on a unix socket; returns the server (keep it alive) and its `--follow.api`.
async fn healthy_follower(dir: &std::path::Path) -> (cluster::FakeServer, String) {
    let socket: PathBuf = dir.join("api-socket");
    let server = cluster::serve_unix(&socket, ClusterState::default()).await;
    (server, format!("ok=/unix/{}", socket.display()))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_fails_only_its_own_backend_within_the_deadline_and_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let lotus = FakeLotus::start().await;
    let (_follower, follower_api) = healthy_follower(dir.path()).await;
    for fault in FAULTS {
        // Lotus misbehaves; the follower is healthy.
        let (port, _reserved) = fault_server(fault).await;
        let api = format!("/ip4/127.0.0.1/tcp/{port}/http");
        let (m, status, read) = scrape(&["--lotus.api", &api, "--follow.api", &follower_api]).await;
        assert_eq!(m.value("lotus_up"), 0.0, "{fault:?}");
        assert_eq!(m.check_success("lotus_version"), Some(0.0), "{fault:?}");
        for absent in ["lotus_synced", "lotus_peers", "lotus_chain_height"] {
            assert!(!m.has(absent), "{fault:?}: {absent} must be absent");
        }
        assert_eq!(
            m.value("cluster_follow_api_reachable{cluster_name=\"ok\"}"),
            1.0,
            "{fault:?}"
        );
        assert!(
            read < 2 * CAP as u64,
            "{fault:?}: read {read} bytes with a {CAP}-byte cap"
        );
        let errors = status["lotus"]["errors"].to_string();
        assert!(
            !errors.is_empty() && errors != "[]",
            "{fault:?}: no reason given"
        );

        // The follower misbehaves; Lotus is healthy.
        let (port, _reserved) = fault_server(fault).await;
        let api = format!("bad=/ip4/127.0.0.1/tcp/{port}");
        let (m, status, read) =
            scrape(&["--lotus.api", &lotus.api_info(), "--follow.api", &api]).await;
        assert_eq!(m.value("lotus_up"), 1.0, "{fault:?}");
        assert_eq!(m.value("lotus_synced"), 1.0, "{fault:?}");
        assert_ne!(
            m.get("cluster_follow_api_reachable{cluster_name=\"bad\"}"),
            Some(1.0),
            "{fault:?}: a misbehaving follower is never reachable"
        );
        assert_eq!(
            m.get("lotus_follow_exporter_check_success{check=\"follow_api\",cluster_name=\"bad\"}"),
            Some(0.0),
            "{fault:?}"
        );
        assert_eq!(
            m.get("cluster_follow_peers{cluster_name=\"bad\"}"),
            None,
            "{fault:?}"
        );
        assert_eq!(
            m.value("cluster_follow_health{cluster_name=\"bad\",state=\"unhealthy\"}"),
            1.0,
            "{fault:?}"
        );
        assert!(
            read < 2 * CAP as u64,
            "{fault:?}: read {read} bytes with a {CAP}-byte cap"
        );
        let errors = status["cluster_follow"][0]["errors"].to_string();
        assert!(errors != "[]", "{fault:?}: no reason given");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_follow_socket_is_refused_not_hung() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api-socket");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(
        socket.exists(),
        "the socket file stays after its listener is gone"
    );
    let api = format!("stale=/unix/{}", socket.display());
    let exporter = util::start(&[
        "--lotus.api",
        "/ip4/127.0.0.1/tcp/1/http",
        "--follow.api",
        &api,
    ])
    .await;
    let m = exporter.metrics().await;
    assert_eq!(
        m.value("cluster_follow_api_reachable{cluster_name=\"stale\"}"),
        0.0
    );
    assert_eq!(
        m.value("cluster_follow_status{cluster_name=\"stale\",state=\"stopped\"}"),
        1.0
    );
    let errors = exporter.status().await["cluster_follow"][0]["errors"].to_string();
    assert!(errors.contains("connection refused"), "{errors}");
}
