//! In-process benchmarks of the exporter's hot pure parts: rendering a snapshot, counting the
//! NDJSON pin stream, attoFIL conversion, `/proc/net` parsing, the listening sockets over netlink
//! and `/proc/net`, socket owners and the process table (before and after their caches), and one
//! whole collection round against the in-process fakes.
//!
//! ```sh
//! cargo bench --bench inprocess            # every benchmark
//! cargo bench --bench inprocess -- pins    # only names containing "pins"
//! ```
//!
//! A tiny harness (no dependency, so `cargo test` builds nothing more): each benchmark is
//! calibrated to ~10 ms samples, then sampled for about a second; the median, min and max time
//! per iteration are printed, with throughput where it means something. Under `cargo test
//! --all-targets` (no `--bench` argument) it only says so and exits: benchmarks never run in tests.
//! Whole-process figures (latency, CPU per scrape, coalescing, memory) come from `scripts/bench`.

#[path = "pins_before.rs"]
#[allow(
    dead_code,
    reason = "the old counter, of which the row uses the counting path"
)]
mod pins_before;

#[path = "../tests/it/fakes/mod.rs"]
#[allow(dead_code, reason = "the test fakes, of which this uses a part")]
mod fakes;

use std::collections::HashSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use lotus_follow_exporter::checks::follow::pins::PinCounter;
use lotus_follow_exporter::checks::lotus::types::AttoFil;
use lotus_follow_exporter::checks::ports::{listeners, owners, SocketReader};
use lotus_follow_exporter::cli::{parse_flags, Config};
use lotus_follow_exporter::exporter::collector::Collector;
use lotus_follow_exporter::exporter::snapshot::Snapshot;
use lotus_follow_exporter::host::process;
use lotus_follow_exporter::net::multiaddr::Transport;
use lotus_follow_exporter::render;

/// Bytes per chunk fed to the pin counter (what hyper typically hands over from a socket).
const CHUNK: usize = 64 * 1024;

struct Harness {
    filter: Option<String>,
}

impl Harness {
    fn run<T>(&self, name: &str, bytes_per_iter: Option<u64>, mut f: impl FnMut() -> T) {
        if self
            .filter
            .as_ref()
            .is_some_and(|f| !name.contains(f.as_str()))
        {
            return;
        }
        // Calibrate: how long does one iteration take?
        let calibration = Instant::now();
        let mut calibrated = 0u64;
        while calibration.elapsed() < Duration::from_millis(50) || calibrated == 0 {
            black_box(f());
            calibrated += 1;
        }
        let per_iter = calibration.elapsed().as_secs_f64() / calibrated as f64;
        let iters = ((0.010 / per_iter) as u64).max(1);
        let samples = ((1.0 / (per_iter * iters as f64)) as usize).clamp(5, 100);
        let mut times = Vec::with_capacity(samples);
        for _ in 0..samples {
            let started = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            times.push(started.elapsed().as_secs_f64() / iters as f64);
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let throughput = bytes_per_iter
            .map(|b| format!("  {:>8.1} MiB/s", b as f64 / median / (1024.0 * 1024.0)))
            .unwrap_or_default();
        println!(
            "{name:<34} median {:>10}  min {:>10}  max {:>10}  ({samples}x{iters}){throughput}",
            human(median),
            human(times[0]),
            human(times[times.len() - 1]),
        );
    }
}

fn human(seconds: f64) -> String {
    match seconds {
        s if s < 1e-6 => format!("{:.1} ns", s * 1e9),
        s if s < 1e-3 => format!("{:.2} µs", s * 1e6),
        s if s < 1.0 => format!("{:.2} ms", s * 1e3),
        s => format!("{s:.2} s"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("inprocess: benchmarks run only under `cargo bench` (skipped)");
        return;
    }
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let harness = Harness { filter };

    let snapshot = collect_snapshot(10, 1000);
    let text = render::prometheus::render(&snapshot);
    harness.run(
        "render/prometheus (10 wallets)",
        Some(text.len() as u64),
        || render::prometheus::render(&snapshot),
    );
    harness.run("render/status_json (10 wallets)", None, || {
        render::status::render(&snapshot).to_string()
    });

    for pins in [1_000, 10_000, 100_000] {
        let stream = pin_stream(pins);
        harness.run(
            &format!("pins/count {pins}"),
            Some(stream.len() as u64),
            || {
                let mut counter = PinCounter::new(Some("12D3KooWFollowerPeer".into()), 64 * 1024);
                for chunk in stream.chunks(CHUNK) {
                    counter.push(chunk).expect("valid stream");
                }
                counter.finish().expect("valid stream").pins
            },
        );
    }

    pins_before_and_after(&harness);

    let amounts = [
        "0",
        "42",
        "1500000000000000000",
        "123456789012345678901234567",
    ];
    harness.run("attofil/parse+to_fil x4", None, || {
        amounts
            .iter()
            .map(|a| AttoFil::parse(black_box(a)).expect("amount").to_fil())
            .sum::<f64>()
    });

    let table = proc_net_table(1000);
    harness.run(
        "proc_net/parse_table 1000 lines",
        Some(table.len() as u64),
        || listeners::parse_table(&table, Transport::Tcp).0.len(),
    );
    if let Ok(real) = std::fs::read_to_string("/proc/net/tcp") {
        let lines = real.lines().count();
        harness.run(
            &format!("proc_net/parse_table host ({lines} lines)"),
            Some(real.len() as u64),
            || listeners::parse_table(&real, Transport::Tcp).0.len(),
        );
    }
    // Before/after issue 14: the socket tables from /proc/net against netlink, the fd walk for
    // owners against the remembered ones, and the process table read whole against the cache.
    let proc_root = std::path::Path::new("/proc");
    harness.run("listeners/sockets from /proc/net (before)", None, || {
        listeners::read_sockets(proc_root, SocketReader::ProcNet).map(|s| s.0.len())
    });
    harness.run("listeners/sockets over netlink (after)", None, || {
        listeners::read_sockets(proc_root, SocketReader::Netlink).map(|s| s.0.len())
    });
    let inodes: HashSet<u64> = listeners::read_sockets(proc_root, SocketReader::Netlink)
        .map(|(sockets, _)| sockets.iter().map(|s| s.inode).collect())
        .unwrap_or_default();
    harness.run(
        &format!(
            "owners/walk every /proc/*/fd ({} sockets; before)",
            inodes.len()
        ),
        None,
        || owners::read_socket_owners(proc_root, &inodes).len(),
    );
    let mut cache = owners::OwnerCache::default();
    harness.run(
        &format!(
            "owners/remembered, re-checked ({} sockets; after)",
            inodes.len()
        ),
        None,
        || cache.owners(proc_root, &inodes).len(),
    );
    let table = process::read_process_table(proc_root).unwrap_or_default();
    harness.run(
        &format!(
            "listeners/whole scan, /proc/net, no cache ({} processes)",
            table.processes.len()
        ),
        None,
        || {
            listeners::read_listening_sockets(proc_root, SocketReader::ProcNet)
                .map(|s| s.sockets.len())
        },
    );
    let mut cache = owners::OwnerCache::default();
    harness.run(
        "listeners/whole scan, netlink, owners remembered",
        None,
        || {
            listeners::read_listening_sockets_cached(
                proc_root,
                SocketReader::Netlink,
                &mut cache,
                &table,
            )
            .map(|s| s.sockets.len())
        },
    );
    harness.run(
        "proc/read_process_table host (every cmdline; before)",
        None,
        || process::read_process_table(proc_root).map(|t| t.processes.len()),
    );
    let mut cache = process::ProcessCache::default();
    harness.run("proc/read_process_table host (cached; after)", None, || {
        process::read_process_table_cached(proc_root, &mut cache).map(|t| t.processes.len())
    });

    let runtime = runtime();
    let (collector, _fakes) = runtime.block_on(collector_with_fakes(10, 1000));
    // The first round fetches the cached figures (genesis, full listing, trust); measure later ones.
    runtime.block_on(collector.collect(Duration::from_secs(5)));
    harness.run("collect/round (zero-latency fakes)", None, || {
        runtime.block_on(collector.collect(Duration::from_secs(5)))
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The fakes a collector talks to; dropping them stops them.
struct Fakes {
    _lotus: fakes::lotus::FakeLotus,
    _follower: fakes::cluster::FakeServer,
}

async fn collector_with_fakes(wallets: usize, pins: usize) -> (Collector, Fakes) {
    let mut state = fakes::lotus::LotusState::synced_now();
    let mut args = vec![
        "lotus-follow-exporter".to_string(),
        "--web.listen-address".into(),
        "127.0.0.1:0".into(),
    ];
    for i in 0..wallets {
        let address = format!("f0{}", 1000 + i);
        state.add_wallet(&address, "1500000000000000000");
        args.extend(["--lotus.wallet".into(), format!("{address}=w{i}")]);
    }
    let lotus = fakes::lotus::FakeLotus::start_with(state).await;
    let cluster_state = fakes::cluster::ClusterState {
        pins: vec![("pinned".into(), pins), ("pin_error".into(), 3)],
        ..Default::default()
    };
    let (follower, port) = fakes::cluster::serve_tcp(cluster_state).await;
    args.extend([
        "--lotus.api".into(),
        lotus.url(),
        "--follow.api".into(),
        format!("bench=/ip4/127.0.0.1/tcp/{port}"),
    ]);
    let flags = parse_flags(args).expect("flags");
    let home = std::env::temp_dir().join("lfe-bench-empty-home");
    let home = home.to_string_lossy().to_string();
    let config =
        Config::resolve(flags, &|name| (name == "HOME").then(|| home.clone())).expect("config");
    let fakes = Fakes {
        _lotus: lotus,
        _follower: follower,
    };
    (
        Collector::new(lotus_follow_exporter::checks::registry(&config.checks)),
        fakes,
    )
}

/// The pin-stream counter's cost per 1k pins, before the freshness fields (status counts only,
/// `pins_before.rs`) and after (`created`, `timestamp`, `attempt_count` too), side by side:
/// the same 10k-pin stream (as a follower streams it, every field present), the two counters
/// sampled in turns so both see the same machine. Target: after / before within 0.8-1.2.
fn pins_before_and_after(harness: &Harness) {
    const NAME: &str = "pins/count per 1k: before vs after";
    if harness
        .filter
        .as_ref()
        .is_some_and(|f| !NAME.contains(f.as_str()))
    {
        return;
    }
    let pins = 10_000;
    let stream = pin_stream(pins);
    let own = "12D3KooWFollowerPeer";
    let before = || {
        let mut counter = pins_before::PinCounter::new(Some(own.into()), 64 * 1024);
        for chunk in stream.chunks(CHUNK) {
            counter.push(chunk).expect("valid stream");
        }
        counter.finish().expect("valid stream").pins
    };
    let after = || {
        let mut counter = PinCounter::new(Some(own.into()), 64 * 1024);
        for chunk in stream.chunks(CHUNK) {
            counter.push(chunk).expect("valid stream");
        }
        let counts = counter.finish().expect("valid stream");
        assert!(
            counts.newest_created.is_some(),
            "the stream carries created"
        );
        counts.pins
    };
    assert_eq!(before(), after());
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) || times[0].len() < 20 {
        for (slot, run) in [&before as &dyn Fn() -> u64, &after]
            .into_iter()
            .enumerate()
        {
            let at = Instant::now();
            black_box(run());
            times[slot].push(at.elapsed().as_secs_f64() * 1_000.0 / pins as f64);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (old, new) = (median(&mut times[0]), median(&mut times[1]));
    let ratio = new / old;
    println!(
        "{NAME:<34} before {:>10}  after {:>10}  after/before {ratio:.2} ({} samples each, target 0.80-1.20: {})",
        human(old),
        human(new),
        times[0].len(),
        if (0.8..=1.2).contains(&ratio) { "PASS" } else { "OUTSIDE" },
    );
}

/// A real snapshot: one collection against the in-process fakes.
fn collect_snapshot(wallets: usize, pins: usize) -> Snapshot {
    let runtime = runtime();
    runtime.block_on(async {
        let (collector, _fakes) = collector_with_fakes(wallets, pins).await;
        collector.collect(Duration::from_secs(5)).await
    })
}

/// `pins` NDJSON lines as ipfs-cluster-follow streams them.
fn pin_stream(pins: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for serial in 1..=pins {
        let line =
            fakes::cluster::pin_line(serial, "pinned", "12D3KooWFollowerPeer", "follower-host");
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// A `/proc/net/tcp` table: a header, then `lines` sockets, one in ten listening.
fn proc_net_table(lines: usize) -> String {
    let mut out = String::from("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n");
    for i in 0..lines {
        let state = if i % 10 == 0 { "0A" } else { "01" };
        let remote = if i % 10 == 0 {
            "00000000:0000".to_string()
        } else {
            format!("0100007F:{:04X}", 40000 + i)
        };
        out.push_str(&format!(
            "{i:4}: 0100007F:{:04X} {remote} {state} 00000000:00000000 00:00000000 00000000  1000        0 {} 1 0000000000000000 100 0 0 10 0\n",
            1024 + i,
            100_000 + i
        ));
    }
    out
}
