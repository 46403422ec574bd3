//! Golden-file test of `/metrics` and `/status`: the real exporter binary against the in-process
//! fakes in a few fixed states, masked and compared with the files in `tests/golden/`.
//!
//! Each state is also held against the shipped alert rules (`tests/it/agreement.rs`): `check`'s exit
//! status, `/status`'s `health`, the page's verdict and `lotus_follow_exporter_healthy` agree,
//! and `promtool test rules` on the state's series fires a warning or critical alert exactly
//! when they say it is not healthy.
//!
//! The safety net for restructuring the crate: any change to a metric name, a HELP or TYPE
//! line, a label, a label value, a series appearing or vanishing, a verdict or a reason, or a
//! key of the `/status` document shows up as a diff against `tests/golden/<state>.metrics` and
//! `tests/golden/<state>.status.json`.
//!
//! # States
//!
//! - `healthy`: a synced Lotus with a watched wallet and F3 running; one follower on a unix
//!   socket (`<config-dir>/websites/api-socket`) with pins in several statuses; a Kubo
//!   answering (`--kubo.api`).
//! - `degraded`: Lotus 50 epochs behind with `NetPeers` answering a JSON-RPC error envelope;
//!   a follower with no cluster peers and its IPFS down; a follower on TCP (`--follow.api`)
//!   whose pin stream ends with an `X-Stream-Error`; a configured but stopped follower
//!   (`service.json`, no socket) whose `ipfs_connector` names a stopped Kubo (refused).
//! - `lotus_down`: nothing listens on the Lotus API port (bound, never listened on: refused);
//!   a configured but stopped follower.
//!
//! # Masking (what changes between two runs of the same state, and only that)
//!
//! In `/metrics`, the VALUE of these series becomes `<V>`; the series and its labels stay, so a
//! renamed or missing series is still a diff:
//! - `process_*`: the exporter's own pid-dependent CPU, memory, fds, start time;
//! - names containing `duration`, `seconds_total`, `timestamp`, `uptime`, `_start_time`: timings
//!   and wall-clock times;
//! - `lotus_follow_exporter_backend_body_bytes_read_total`: grows with every scrape;
//! - `lotus_follow_exporter_socket_owner_lookups_cut_total`: depends on the host's load (the
//!   owner search's 20 ms budget);
//! - absolute chain positions, which the fake derives from the wall clock as the real chain
//!   does: names containing `height` or `instance` (heights, F3 instances). Differences between
//!   them (sync lag, head ahead, finality lags) are NOT masked: each Lotus state is anchored
//!   (see [`anchored`]) so that its epoch has just begun, and they stay fixed for 29 s, far
//!   longer than a state takes even on a loaded host (the 30 s guard fails it before then).
//!
//! Everywhere (metrics text and every JSON string), these substrings are replaced:
//! - the temp dir of the run → `<TMP>`;
//! - the fake Lotus's ephemeral port → `<LOTUS_PORT>`, the TCP follower's → `<FOLLOW_PORT>`,
//!   the fake Kubo's → `<KUBO_PORT>`, the exporter's own → `<EXPORTER_PORT>`;
//! - the test binary's name (`it-<hash>`, who listens on the fakes' ports) → `<TEST_BINARY>`;
//! - pids (`pid 1234`, `"pid": 1234`) → `<PID>`;
//! - `build_info`'s `revision` and `rustc` labels → `<REVISION>`, `<RUSTC>` (they change per
//!   commit and toolchain; `version` is kept).
//!
//! In `/status`, the JSON is parsed, walked, and the value of any key that names a timing, a
//! time, a pid or a wall-clock chain position (see [`VOLATILE_KEY_PARTS`]) becomes `"<V>"`
//! (a `null` stays `null`: absent is not masked away); a JSON number equal to an ephemeral port
//! becomes its placeholder. Then it is pretty-printed with sorted keys (serde_json's map is a
//! BTreeMap here) so the file is stable.
//!
//! Inputs from the host that are not masked: the process table (`lotus_daemon_running`, the
//! `api_listener` is this test binary) and netlink being available (`ports_listeners.source`).
//!
//! # Determinism
//!
//! The port plan is sorted by port number, so where two fakes listen on ephemeral ports the
//! test takes them in a fixed order (Lotus's below the TCP follower's, see `degraded`).
//!
//! The exporter is started with `--web.listen-address 127.0.0.1:0`; the test waits for its
//! `listening on` log line (no sleep). Each state is scraped until two consecutive masked
//! outputs (metrics and status) are equal, at most [`MAX_SCRAPES`] times, under a 30 s guard.
//!
//! # Updating the golden files on purpose
//!
//! ```sh
//! UPDATE_GOLDEN=1 cargo test --test it golden
//! git diff tests/golden/    # review: every line of this diff is a visible behaviour change
//! ```
//!
//! Without `UPDATE_GOLDEN`, a mismatch fails with the first differing lines (with line
//! numbers), the path of the golden file and this command.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::agreement::{self, Exporter, Views};
use crate::fakes::cluster::{self, ClusterState, FakeServer};
use crate::fakes::kubo::{FakeKubo, Mode};
use crate::fakes::lotus::{Behavior, FakeLotus, LotusState};

/// Most scrapes of one state before giving up on two equal ones in a row.
const MAX_SCRAPES: usize = 10;
/// Hang guard of one state: start, readiness and every scrape.
const GUARD: Duration = Duration::from_secs(30);

/// Metric-name fragments whose value changes between runs.
const VOLATILE_NAME_PARTS: &[&str] = &[
    "duration",
    "seconds_total",
    "timestamp",
    "uptime",
    "_start_time",
    "backend_body_bytes_read_total",
    // Cut when the owner search of /proc/<pid>/fd hits its 20 ms budget: depends on the load.
    "owner_lookups_cut_total",
    "height",
    "instance",
];

/// `/status` key fragments whose value changes between runs (the same quantities as above).
const VOLATILE_KEY_PARTS: &[&str] = &[
    "duration",
    "seconds",
    "timestamp",
    "last_check",
    "uptime",
    "pid",
    "height",
    "instance",
];

/// The volatile substrings of one run, replaced by placeholders.
struct Placeholders {
    pairs: Vec<(String, String)>,
    ports: Vec<(u16, String)>,
}

impl Placeholders {
    fn new(tmp: &Path) -> Placeholders {
        let mut pairs = vec![(tmp.to_string_lossy().into_owned(), "<TMP>".to_string())];
        // The canonical form too, should the exporter resolve symlinks.
        if let Ok(canonical) = tmp.canonicalize() {
            pairs.push((
                canonical.to_string_lossy().into_owned(),
                "<TMP>".to_string(),
            ));
        }
        Placeholders {
            pairs,
            ports: Vec::new(),
        }
    }

    fn port(&mut self, port: u16, name: &str) {
        self.pairs.push((port.to_string(), format!("<{name}>")));
        self.ports.push((port, format!("<{name}>")));
    }

    /// The placeholder of an ephemeral port, for a port given as a JSON number.
    fn port_name(&self, number: u64) -> Option<String> {
        self.ports
            .iter()
            .find(|(port, _)| u64::from(*port) == number)
            .map(|(_, name)| name.clone())
    }

    /// Replace every volatile substring of `text`.
    fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (from, to) in &self.pairs {
            if from.chars().all(|c| c.is_ascii_digit()) {
                out = replace_number(&out, from, to);
            } else {
                out = out.replace(from.as_str(), to);
            }
        }
        mask_test_binary(&mask_pids(&out))
    }
}

/// Replace `number` where it stands alone (not inside a longer number).
fn replace_number(text: &str, number: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(number) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + number.len()..].chars().next();
        let alone = !before.is_some_and(|c| c.is_ascii_digit())
            && !after.is_some_and(|c| c.is_ascii_digit());
        out.push_str(&rest[..at]);
        out.push_str(if alone { with } else { number });
        rest = &rest[at + number.len()..];
    }
    out.push_str(rest);
    out
}

/// `pid 1234` → `pid <PID>`.
fn mask_pids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("pid ") {
        out.push_str(&rest[..at + 4]);
        rest = &rest[at + 4..];
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            out.push_str("<PID>");
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// This test binary's name (`it-0123abcd…`, who listens on the fakes' ports) → `<TEST_BINARY>`.
fn mask_test_binary(text: &str) -> String {
    let exe = std::env::current_exe().expect("the test binary's path");
    let name = exe.file_name().expect("a file name").to_string_lossy();
    text.replace(name.as_ref(), "<TEST_BINARY>")
}

/// Mask one Prometheus text exposition.
fn mask_metrics(text: &str, places: &Placeholders) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = places.apply(line);
        if line.starts_with('#') || line.is_empty() {
            out.push_str(&line);
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap_or((line.as_str(), ""));
            let name = series.split('{').next().unwrap_or(series);
            let series = mask_build_info(series);
            if name.starts_with("process_") || VOLATILE_NAME_PARTS.iter().any(|p| name.contains(p))
            {
                out.push_str(&format!("{series} <V>"));
            } else {
                out.push_str(&format!("{series} {value}"));
            }
        }
        out.push('\n');
    }
    out
}

/// `revision="…"` and `rustc="…"` labels → placeholders.
fn mask_build_info(series: &str) -> String {
    let mut out = series.to_string();
    for (label, with) in [("revision", "<REVISION>"), ("rustc", "<RUSTC>")] {
        let key = format!("{label}=\"");
        if let Some(start) = out.find(&key) {
            let from = start + key.len();
            if let Some(len) = out[from..].find('"') {
                out.replace_range(from..from + len, with);
            }
        }
    }
    out
}

/// Mask and pretty-print one `/status` document, keys sorted.
fn mask_status(text: &str, places: &Placeholders) -> String {
    let mut doc: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("/status is not JSON ({e}):\n{text}"));
    walk(&mut doc, places);
    let mut out = serde_json::to_string_pretty(&doc).expect("serialize");
    out.push('\n');
    out
}

fn walk(value: &mut Value, places: &Placeholders) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let volatile = VOLATILE_KEY_PARTS.iter().any(|p| key.contains(p));
                if volatile && !item.is_null() {
                    *item = Value::String("<V>".to_string());
                } else {
                    walk(item, places);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| walk(item, places)),
        Value::String(s) => *s = places.apply(s),
        Value::Number(n) => {
            if let Some(port) = n.as_u64().and_then(|n| places.port_name(n)) {
                *value = Value::String(port);
            }
        }
        _ => {}
    }
}

/// Scrape `/metrics` and `/status` until two consecutive masked pairs are equal; return it.
async fn settled(exporter: &Exporter, places: &Placeholders) -> (String, String) {
    let mut last: Option<(String, String)> = None;
    for _ in 0..MAX_SCRAPES {
        let metrics = mask_metrics(&exporter.get("/metrics").await, places);
        let status = mask_status(&exporter.get("/status").await, places);
        let now = (metrics, status);
        if last.as_ref() == Some(&now) {
            return now;
        }
        last = Some(now);
    }
    let (metrics, status) = last.expect("scraped at least once");
    panic!(
        "no two consecutive masked scrapes were equal in {MAX_SCRAPES} tries; something volatile \
         is not masked. Last:\n{metrics}\n{status}"
    );
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compare `actual` with `tests/golden/<file>`, or rewrite it under `UPDATE_GOLDEN=1`.
fn compare(file: &str, actual: &str) -> Result<(), String> {
    let path = golden_dir().join(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::create_dir_all(golden_dir()).expect("create tests/golden");
        std::fs::write(&path, actual).expect("write golden file");
        return Ok(());
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected == actual {
        return Ok(());
    }
    Err(format!(
        "{} differs from this run:\n{}\nIf the change is intended: UPDATE_GOLDEN=1 cargo test \
         --test it golden, then review `git diff tests/golden/`.\n",
        path.display(),
        diff(&expected, actual)
    ))
}

/// The first differing lines of two texts, with line numbers (`-` golden, `+` actual).
fn diff(expected: &str, actual: &str) -> String {
    const SHOWN: usize = 20;
    let old: Vec<&str> = expected.lines().collect();
    let new: Vec<&str> = actual.lines().collect();
    if old.is_empty() {
        return "  (the golden file is missing or empty)".to_string();
    }
    let mut out = String::new();
    let mut shown = 0;
    let (mut i, mut j) = (0, 0);
    while (i < old.len() || j < new.len()) && shown < SHOWN {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (a, b) => {
                // Resynchronise: a line only on one side is an insertion or a removal.
                if let (Some(a), Some(b)) = (a, b) {
                    if let Some(k) = new[j..].iter().position(|l| l == a).filter(|k| *k <= 5) {
                        for (n, line) in new[j..j + k].iter().enumerate() {
                            out.push_str(&format!("{:>5} + {line}\n", j + n + 1));
                        }
                        shown += k;
                        j += k;
                        continue;
                    }
                    if let Some(k) = old[i..].iter().position(|l| l == b).filter(|k| *k <= 5) {
                        for (n, line) in old[i..i + k].iter().enumerate() {
                            out.push_str(&format!("{:>5} - {line}\n", i + n + 1));
                        }
                        shown += k;
                        i += k;
                        continue;
                    }
                }
                if let Some(a) = a {
                    out.push_str(&format!("{:>5} - {a}\n", i + 1));
                    i += 1;
                }
                if let Some(b) = b {
                    out.push_str(&format!("{:>5} + {b}\n", j + 1));
                    j += 1;
                }
                shown += 1;
            }
        }
    }
    if shown >= SHOWN {
        out.push_str("  ... (more differences follow)\n");
    }
    out
}

/// Run one state: start the exporter with `args`, settle, compare both pages, then hold the
/// state's verdict against the shipped alert rules (see `agreement`): `check`, `/status`, the
/// page and `lotus_follow_exporter_healthy` agree, and an alert fires exactly when they say
/// the state is not healthy.
async fn check_state(name: &str, tmp: &Path, mut places: Placeholders, args: &[String]) {
    let (exporter, metrics, status) = tokio::time::timeout(GUARD, async {
        let exporter = agreement::start(tmp, args).await;
        places.port(exporter.port, "EXPORTER_PORT");
        let (metrics, status) = settled(&exporter, &places).await;
        (exporter, metrics, status)
    })
    .await
    .unwrap_or_else(|_| panic!("{name}: no settled scrape within {GUARD:?}"));
    let failures: Vec<String> = [
        compare(&format!("{name}.metrics"), &metrics),
        compare(&format!("{name}.status.json"), &status),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let views = Views::collect(&exporter).await;
    let firing = agreement::assert_agrees(&format!("golden state {name}"), &views);
    eprintln!("{name}: the shipped rules fire {firing:?}");
}

/// A follower answering on `<config_dir>/<name>/api-socket`.
async fn socket_follower(config_dir: &Path, name: &str, state: ClusterState) -> FakeServer {
    std::fs::create_dir_all(config_dir.join(name)).expect("follower folder");
    cluster::serve_unix(&config_dir.join(name).join("api-socket"), state).await
}

/// `state` with its head `behind` epochs below the clock, genesis moved by less than one
/// epoch so that the current epoch begins now: the expected height then stays the same for
/// the next `block_delay - 1` seconds, so the lag the exporter computes cannot change mid-test
/// by crossing an epoch boundary.
fn anchored(mut state: LotusState, behind: i64) -> LotusState {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let into_epoch = now.saturating_sub(state.genesis_timestamp) % state.block_delay.max(1);
    state.genesis_timestamp += into_epoch;
    let expected = state.expected_height();
    state.set_head_height(expected - behind);
    for worker in &mut state.sync_workers {
        worker.height = expected - behind;
        if worker.target.is_some() {
            worker.target = Some(expected);
        }
    }
    state
}

const WALLET: &str = "f1abjxfbp274xpdqcpuaykwkfb43omjotacm2p3za";

fn flags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config_dir = tmp.path().join("follow");
    let lotus = FakeLotus::start_with(anchored(LotusState::synced_now(), 0)).await;
    let state = ClusterState {
        pins: vec![
            ("pinned".to_string(), 5),
            ("pinning".to_string(), 2),
            ("pin_queued".to_string(), 1),
            ("pin_error".to_string(), 1),
        ],
        ..ClusterState::default()
    };
    let _follower = socket_follower(&config_dir, "websites", state).await;
    let kubo = FakeKubo::start(Mode::Up).await;
    let mut places = Placeholders::new(tmp.path());
    places.port(lotus.port(), "LOTUS_PORT");
    places.port(kubo.port(), "KUBO_PORT");
    let args = flags(&[
        "--lotus.api",
        &lotus.api_info(),
        "--lotus.wallet",
        &format!("{WALLET}=hot"),
        "--follow.config-dir",
        config_dir.to_str().expect("utf-8"),
        "--kubo.api",
        &kubo.multiaddr(),
    ]);
    check_state("healthy", tmp.path(), places, &args).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn degraded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config_dir = tmp.path().join("follow");
    // The port plan is sorted by port number: the two fakes on ephemeral ports are taken in a
    // fixed order (Lotus below the TCP follower) so that the plan reads the same on every run.
    // A pair in the other order is held until the end of the loop, so each try binds anew.
    let mut held = Vec::new();
    let (lotus, tcp, tcp_port) = loop {
        assert!(
            held.len() < 50,
            "no pair of ephemeral ports in order in 50 tries"
        );
        let lotus = FakeLotus::start_with(anchored(LotusState::lagging(50), 50)).await;
        let (tcp, tcp_port) = cluster::serve_tcp(ClusterState {
            stream_error: Some("pin tracker is shutting down".to_string()),
            ..ClusterState::default()
        })
        .await;
        if tcp_port > lotus.port() {
            break (lotus, tcp, tcp_port);
        }
        held.push((lotus, tcp));
    };
    drop(held);
    let _tcp = tcp;
    lotus.set_behavior(
        "NetPeers",
        Behavior::RpcError {
            code: 1,
            message: "libp2p host is shutting down".to_string(),
        },
    );
    let lonely = ClusterState {
        other_peers: Vec::new(),
        trust_links: Vec::new(),
        ipfs_error: "dial tcp 127.0.0.1:5001: connect: connection refused".to_string(),
        ..ClusterState::default()
    };
    let _lonely = socket_follower(&config_dir, "lonely", lonely).await;
    crate::util::stopped_follower(&config_dir, "stopped");
    // Its service.json names its Kubo, stopped too: refused, its port reserved for this test.
    let kubo = FakeKubo::refusing();
    std::fs::write(
        config_dir.join("stopped").join("service.json"),
        format!(
            r#"{{"ipfs_connector": {{"ipfshttp": {{"node_multiaddress": "{}"}}}}}}"#,
            kubo.multiaddr()
        ),
    )
    .expect("service.json");
    let mut places = Placeholders::new(tmp.path());
    places.port(lotus.port(), "LOTUS_PORT");
    places.port(tcp_port, "FOLLOW_PORT");
    places.port(kubo.port(), "KUBO_PORT");
    let args = flags(&[
        "--lotus.api",
        &lotus.api_info(),
        "--follow.config-dir",
        config_dir.to_str().expect("utf-8"),
        "--follow.api",
        &format!("ontcp=/ip4/127.0.0.1/tcp/{tcp_port}/http"),
    ]);
    check_state("degraded", tmp.path(), places, &args).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lotus_down() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config_dir = tmp.path().join("follow");
    // A port bound and never listened on: reserved for this test (no other test's exporter or
    // fake can take it, as one could a port freed by a stopped fake), and every connection to
    // it is refused.
    let reserved = tokio::net::TcpSocket::new_v4().expect("socket");
    reserved
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind without listening");
    let port = reserved.local_addr().expect("local addr").port();
    crate::util::stopped_follower(&config_dir, "websites");
    let mut places = Placeholders::new(tmp.path());
    places.port(port, "LOTUS_PORT");
    let args = flags(&[
        "--lotus.api",
        &format!("/ip4/127.0.0.1/tcp/{port}/http"),
        "--follow.config-dir",
        config_dir.to_str().expect("utf-8"),
    ]);
    check_state("lotus_down", tmp.path(), places, &args).await;
    drop(reserved);
}
