//! 5. Side by side with blackbox_exporter probing the same fake Lotus: CPU per scrape / CPU per probe (target <= 2.0).

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

/// Probe batch, scrape batch, in turns, 5 times each.
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
    let (probe, ours, bb_rss, ours_rss) = {
        let fakes = Fakes::start(bench, &["--wallets", "1", "--pins", "pinned=1000"])?;
        let port = free_port()?;
        let log_path = bench.workdir.join("blackbox.log");
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(&binary);
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
        (probe, ours, bb_rss, exporter.rss_kb())
    };
    let version = blackbox::version(&binary);
    let (bb_cpu, ours_cpu) = (probe.cpu(), ours.cpu());
    let ratio = ratio(ours_cpu, bb_cpu);
    bench.table.result(
        "blackbox",
        json!({
            "version": version, "probe": probe.json(), "probe_cpu_ms": bb_cpu,
            "probe_cpu_ms_batches": probe.cpu_batches, "probe_rss_kb": bb_rss,
            "scrape": ours.json(), "scrape_cpu_ms": ours_cpu,
            "scrape_cpu_ms_batches": ours.cpu_batches, "scrape_rss_kb": ours_rss,
            "cpu_ratio": ratio,
        }),
    );
    let table = &mut bench.table;
    table.info(
        "blackbox",
        "one probe (1 JSON-RPC POST) p50 / p99",
        &format!("{} / {}", ms(probe.p50()), ms(probe.p99())),
    );
    table.info(
        "blackbox",
        "our scrape (~10 calls + /proc) p50 / p99",
        &format!("{} / {}", ms(ours.p50()), ms(ours.p99())),
    );
    table.info(
        "blackbox",
        "latency ratio ours / probe (p50)",
        &format!("{:.2}x", ours.p50() / probe.p50()),
    );
    table.judged(
        "blackbox",
        "CPU per scrape / CPU per probe (medians of 5 batches, in turns)",
        &format!("{} / {} = {ratio:.2}", ms(ours_cpu), ms(bb_cpu)),
        "<= 2.0",
        ratio <= 2.0,
    );
    table.info(
        "blackbox",
        "RSS blackbox vs ours",
        &match (bb_rss, ours_rss) {
            (Some(bb), Some(ours)) => format!(
                "{:.1} vs {:.1} MiB ({:.2}x)",
                bb as f64 / 1024.0,
                ours as f64 / 1024.0,
                ours as f64 / bb as f64
            ),
            _ => format!(
                "{} vs {}",
                crate::measure::mib(bb_rss),
                crate::measure::mib(ours_rss)
            ),
        },
    );
    table.info("blackbox", "blackbox_exporter", &version);
    Ok(())
}
