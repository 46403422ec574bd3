//! 2. Own overhead with zero-latency fakes: CPU per scrape and latency by wallets and pins, and whether they grow as they should.

use serde_json::{json, Value};

use super::{cpu_batches, Batches, BATCHES, BATCH_SECONDS};
use crate::isolate::{isolated, Job};
use crate::measure::tcp_table_lines;
use crate::programs::{Exporter, Fakes};
use crate::table::ms;
use crate::Bench;

/// (wallets, pins, status), each measured on its own.
const SCENARIOS: [(usize, usize, &str); 3] = [
    (10, 1_000, "pin_queued"),
    (100, 1_000, "pin_queued"),
    (1, 100_000, "pinned"),
];
/// 1 wallet and 1k/10k/100k streamed pins: measured side by side (see [`pins`]).
const PIN_SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// Every overhead row (each isolated), then the three judged ratios.
pub fn run(bench: &mut Bench) -> Result<(), String> {
    isolated(bench, Job::OverheadPins)?;
    for (wallets, pins, status) in SCENARIOS {
        let status = status.to_string();
        isolated(
            bench,
            Job::OverheadRow {
                wallets,
                pins,
                status,
            },
        )?;
    }
    let cpu = |wallets: usize, pins: usize, status: &str| -> Result<f64, String> {
        let key = format!("overhead/{wallets}/{pins}/{status}");
        bench
            .table
            .figure(&key, "cpu_ms_per_scrape")
            .ok_or_else(|| format!("{key}: not measured"))
    };
    let base = cpu(1, 1_000, "pin_queued")?;
    let wallet_ratio = cpu(100, 1_000, "pin_queued")? / base;
    let per_k_small = (cpu(1, 10_000, "pin_queued")? - base) / 9.0;
    let per_k_large = (cpu(1, 100_000, "pin_queued")? - base) / 99.0;
    let cached_ratio = cpu(1, 100_000, "pinned")? / base;
    let linearity = crate::measure::ratio(per_k_large, per_k_small);
    let table = &mut bench.table;
    table.judged(
        "overhead",
        "CPU 100 wallets / 1 wallet",
        &format!("{wallet_ratio:.2}x"),
        "<= 2x (flat)",
        wallet_ratio <= 2.0,
    );
    table.result(
        "overhead/cpu_ms_per_1k_pins",
        json!({"1k-10k": per_k_small, "1k-100k": per_k_large}),
    );
    table.judged(
        "overhead",
        "CPU per 1k streamed pins (1k->10k vs 1k->100k)",
        &format!("{per_k_small:.3} vs {per_k_large:.3} ms ({linearity:.2}x)"),
        "0.67x-1.5x (linear)",
        (0.67..=1.5).contains(&linearity),
    );
    table.judged(
        "overhead",
        "CPU 100k pinned (cached) / 1k streamed",
        &format!("{cached_ratio:.2}x"),
        "<= 2x (flat)",
        cached_ratio <= 2.0,
    );
    Ok(())
}

/// One scenario on its own: about 2.5 s of scrapes (3 batches of 0.8 s), as many as the 1-wallet
/// rows get each: every scrape leaves one TIME_WAIT socket per Lotus call for 60 s, and a longer
/// window would measure mostly that.
pub fn row(bench: &mut Bench, wallets: usize, pins: usize, status: &str) -> Result<(), String> {
    let (figures, counters, tcp) = {
        let fakes = Fakes::start(
            bench,
            &[
                "--wallets",
                &wallets.to_string(),
                "--pins",
                &format!("{status}={pins}"),
            ],
        )?;
        let exporter = Exporter::start(bench, &fakes, wallets, &[])?;
        bench.warm(&exporter.url, 3)?;
        fakes.reset(bench)?;
        let before = tcp_table_lines();
        let figures = cpu_batches(bench, &exporter, 3, 0.8)?;
        let tcp = (before, tcp_table_lines());
        (figures, fakes.counters(bench)?, tcp)
    };
    record(bench, wallets, pins, status, &figures, &counters, tcp);
    Ok(())
}

/// 1k, 10k and 100k streamed pins with one exporter each, all started at once and measured in
/// turns (batch 1 of each, then batch 2 of each, ...), so drift on the host (other processes in
/// the process table the exporter reads, TIME_WAIT sockets piling up) weighs on the three alike
/// instead of on whichever ran last: the linearity figure subtracts two CPU costs that differ by
/// a few ms, which made it flap when the rows ran minutes apart.
pub fn pins(bench: &mut Bench) -> Result<(), String> {
    let mut stacks = Vec::new();
    for pins in PIN_SIZES {
        let fakes = Fakes::start(
            bench,
            &["--wallets", "1", "--pins", &format!("pin_queued={pins}")],
        )?;
        let exporter = Exporter::start(bench, &fakes, 1, &[])?;
        // Exporter first: a stack drops (stops) in this order.
        stacks.push((pins, exporter, fakes));
    }
    for (_, exporter, fakes) in &stacks {
        bench.warm(&exporter.url, 3)?;
        fakes.reset(bench)?;
    }
    let before = tcp_table_lines();
    let mut batches: Vec<Vec<Batches>> = vec![Vec::new(); stacks.len()];
    for _ in 0..BATCHES {
        for (i, (_, exporter, _)) in stacks.iter().enumerate() {
            batches[i].push(cpu_batches(bench, exporter, 1, BATCH_SECONDS)?);
        }
    }
    let tcp = (before, tcp_table_lines());
    let mut measured = Vec::new();
    for ((pins, _, fakes), parts) in stacks.iter().zip(&batches) {
        measured.push((*pins, Batches::combine(parts), fakes.counters(bench)?));
    }
    drop(stacks);
    for (pins, figures, counters) in measured {
        record(bench, 1, pins, "pin_queued", &figures, &counters, tcp);
    }
    Ok(())
}

fn record(
    bench: &mut Bench,
    wallets: usize,
    pins: usize,
    status: &str,
    figures: &Batches,
    counters: &Value,
    tcp: (usize, usize),
) {
    let lotus_calls = counters["lotus_http_requests"].as_f64().unwrap_or(f64::NAN)
        / figures.requests.max(1) as f64;
    let mut result = json!(figures);
    result["lotus_requests_per_scrape"] = json!(lotus_calls);
    result["proc_net_tcp_lines"] = json!([tcp.0, tcp.1]);
    bench
        .table
        .result(format!("overhead/{wallets}/{pins}/{status}"), result);
    let streamed = if status != "pinned" {
        "streamed every scrape"
    } else {
        "pinned: cached listing"
    };
    bench.table.info(
        "overhead",
        &format!("{wallets} wallet(s), {}k pins ({streamed})", pins / 1000),
        &format!(
            "CPU {}, p50 {}, p99 {} [tcp {}->{}]",
            ms(figures.cpu_ms_per_scrape),
            ms(figures.p50_ms),
            ms(figures.p99_ms),
            tcp.0,
            tcp.1
        ),
    );
}
