//! 5. Side by side with blackbox_exporter probing the same fake Lotus, fast and slow: CPU per scrape / CPU per probe (target <= 2.0).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{BATCHES, BATCH_SECONDS};
use crate::http::{fetch, Ask};
use crate::measure::{cpu_seconds, max, median, ratio, status_kb};
use crate::processes::{free_port, Proc};
use crate::programs::{Exporter, Fakes};
use crate::table::ms;
use crate::{blackbox, Bench};

const CONFIG: &str = r#"modules:
  lotus_jsonrpc:
    prober: http
    timeout: 5s
    http:
      method: POST
      headers:
        Content-Type: application/json
      body: '{"jsonrpc":"2.0","method":"Filecoin.ChainHead","params":[],"id":1}'
      valid_status_codes: [200]
      fail_if_body_not_matches_regexp: ['"result"']
      preferred_ip_protocol: ip4
"#;

/// One side's batches: CPU ms per request of each, and the latencies seen.
#[derive(Default)]
struct Side {
    cpu_batches: Vec<f64>,
    p50s: Vec<f64>,
    p99s: Vec<f64>,
    requests: usize,
}

impl Side {
    fn batch(&mut self, bench: &Bench, pid: u32, url: &str) -> Result<(), String> {
        let before = cpu_seconds(pid)?;
        let result = bench.seq(url, 400, BATCH_SECONDS * 2.0, 5)?;
        self.cpu_batches
            .push((cpu_seconds(pid)? - before) * 1e3 / result.requests.max(1) as f64);
        self.p50s.push(result.p50_ms);
        self.p99s.push(result.p99_ms);
        self.requests += result.requests;
        Ok(())
    }

    fn cpu(&self) -> f64 {
        median(self.cpu_batches.iter().copied())
    }

    fn p50(&self) -> f64 {
        median(self.p50s.iter().copied())
    }

    fn p99(&self) -> f64 {
        max(self.p99s.iter().copied())
    }

    fn json(&self) -> serde_json::Value {
        json!({"p50_ms": self.p50(), "p99_ms": self.p99(), "requests": self.requests})
    }
}

/// The fake Lotus's answer delay in the second run: slower than any of our fakes answers, as a
/// node on another host or behind a proxy does, so the ratio cannot hinge on how fast the fake is.
const SLOW_LATENCY: &str = "5ms";

/// Both runs side by side: against the fake as fast as it answers, then against the fake
/// answering every call after [`SLOW_LATENCY`].
pub fn run(bench: &mut Bench) -> Result<(), String> {
    let Some(binary) = blackbox::binary() else {
        bench.table.row(
            "blackbox",
            "CPU per scrape / CPU per probe",
            "blackbox_exporter not found or built",
            "<= 2.0",
            "FAIL",
        );
        return Ok(());
    };
    let config = bench.workdir.join("blackbox.yml");
    std::fs::write(&config, CONFIG).map_err(|e| format!("{}: {e}", config.display()))?;
    let fast = side_by_side(bench, &binary, &config, &[])?;
    let slow = side_by_side(
        bench,
        &binary,
        &config,
        &["--lotus-default-latency", SLOW_LATENCY],
    )?;
    let version = blackbox::version(&binary);
    bench.table.result(
        "blackbox",
        json!({"version": version, "fast_fake": fast.json(), "slow_fake": slow.json()}),
    );
    fast.rows(bench, "");
    slow.rows(bench, &format!(", fake answering after {SLOW_LATENCY}"));
    let table = &mut bench.table;
    table.info(
        "blackbox",
        "RSS blackbox vs ours",
        &match (fast.bb_rss, fast.ours_rss) {
            (Some(bb), Some(ours)) => format!(
                "{:.1} vs {:.1} MiB ({:.2}x)",
                bb as f64 / 1024.0,
                ours as f64 / 1024.0,
                ours as f64 / bb as f64
            ),
            _ => format!(
                "{} vs {}",
                crate::measure::mib(fast.bb_rss),
                crate::measure::mib(fast.ours_rss)
            ),
        },
    );
    table.info("blackbox", "blackbox_exporter", &version);
    Ok(())
}

/// One side-by-side run's two sides and resident sizes.
struct Run {
    probe: Side,
    ours: Side,
    bb_rss: Option<u64>,
    ours_rss: Option<u64>,
}

impl Run {
    fn ratio(&self) -> f64 {
        ratio(self.ours.cpu(), self.probe.cpu())
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "probe": self.probe.json(), "probe_cpu_ms": self.probe.cpu(),
            "probe_cpu_ms_batches": self.probe.cpu_batches, "probe_rss_kb": self.bb_rss,
            "scrape": self.ours.json(), "scrape_cpu_ms": self.ours.cpu(),
            "scrape_cpu_ms_batches": self.ours.cpu_batches, "scrape_rss_kb": self.ours_rss,
            "cpu_ratio": self.ratio(),
        })
    }

    /// The run's rows; `against` names the fake's pace in each row ("" for as fast as it can).
    fn rows(&self, bench: &mut Bench, against: &str) {
        let (probe, ours) = (&self.probe, &self.ours);
        let table = &mut bench.table;
        table.info(
            "blackbox",
            &format!("one probe (1 JSON-RPC POST) p50 / p99{against}"),
            &format!("{} / {}", ms(probe.p50()), ms(probe.p99())),
        );
        table.info(
            "blackbox",
            &format!("our scrape (~10 calls + /proc) p50 / p99{against}"),
            &format!("{} / {}", ms(ours.p50()), ms(ours.p99())),
        );
        table.info(
            "blackbox",
            &format!("latency ratio ours / probe (p50){against}"),
            &format!("{:.2}x", ours.p50() / probe.p50()),
        );
        let ratio = self.ratio();
        table.judged(
            "blackbox",
            &format!("CPU per scrape / CPU per probe (medians of 5 batches, in turns){against}"),
            &format!("{} / {} = {ratio:.2}", ms(ours.cpu()), ms(probe.cpu())),
            "<= 2.0",
            ratio <= 2.0,
        );
    }
}

/// Probe batch, scrape batch, in turns, 5 times each, against one fake started with `fake_args`.
fn side_by_side(
    bench: &mut Bench,
    binary: &std::path::Path,
    config: &std::path::Path,
    fake_args: &[&str],
) -> Result<Run, String> {
    let mut args = vec!["--wallets", "1", "--pins", "pinned=1000"];
    args.extend_from_slice(fake_args);
    let fakes = Fakes::start(bench, &args)?;
    let port = free_port()?;
    let log_path = bench.workdir.join("blackbox.log");
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new(binary);
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    let mut bb = Proc::spawn(&mut command, "blackbox_exporter", Duration::from_secs(10))?;
    let exporter = Exporter::start(bench, &fakes, 1, &[])?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let healthy = format!("http://127.0.0.1:{port}/-/healthy");
    while !bench.http_ok(&healthy, Duration::from_secs(1)) {
        if bb.exited() || Instant::now() > deadline {
            return Err(format!(
                "blackbox_exporter did not start; see {}",
                log_path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let probe_url = format!(
        "http://127.0.0.1:{port}/probe?module=lotus_jsonrpc&target=http://{}/rpc/v1",
        fakes.lotus()
    );
    let first = bench.block_on(fetch(&Ask::get(&probe_url), Duration::from_secs(5)))?;
    let body = String::from_utf8_lossy(&first.body);
    if !body.contains("probe_success 1") {
        eprintln!("bench: blackbox probe did not succeed:\n{body}");
    }
    bench.warm(&probe_url, 5)?;
    bench.warm(&exporter.url, 5)?;
    // In turns (probe batch, scrape batch, ...), so drift on the shared host weighs on both.
    let (mut probe, mut ours) = (Side::default(), Side::default());
    for _ in 0..BATCHES {
        probe.batch(bench, bb.pid(), &probe_url)?;
        ours.batch(bench, exporter.pid(), &exporter.url)?;
    }
    let bb_rss = status_kb(bb.pid(), "VmRSS");
    Ok(Run {
        probe,
        ours,
        bb_rss,
        ours_rss: exporter.rss_kb(),
    })
}
