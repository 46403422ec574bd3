//! The measurements, one file each, and the names `--only` picks them by.

mod blackbox;
mod coalescing;
mod concurrency;
mod followers;
mod footprint;
mod hardening;
mod host;
mod overhead;
mod probe_limits;

use crate::isolate::Job;
use crate::Bench;

/// Every section, in the order a full run takes them.
pub const NAMES: [&str; 8] = [
    "concurrency",
    "overhead",
    "coalescing",
    "footprint",
    "blackbox",
    "hardening",
    "host",
    "followers",
];

/// Runs one section by name.
pub fn run(bench: &mut Bench, name: &str) -> Result<(), String> {
    match name {
        "concurrency" => concurrency::run(bench),
        "overhead" => overhead::run(bench),
        "coalescing" => coalescing::run(bench),
        "footprint" => footprint::run(bench),
        "blackbox" => crate::isolate::isolated(bench, Job::Blackbox),
        "hardening" => hardening::run(bench),
        "host" => crate::isolate::isolated(bench, Job::Host),
        "followers" => crate::isolate::isolated(bench, Job::Followers),
        other => Err(format!("unknown section {other:?}")),
    }
}

/// Runs one isolated job here (in the namespace's child, or in place when there is none).
pub fn run_job(bench: &mut Bench, job: &Job) -> Result<(), String> {
    match job {
        Job::OverheadPins => overhead::pins(bench),
        Job::OverheadRow {
            wallets,
            pins,
            status,
        } => overhead::row(bench, *wallets, *pins, status),
        Job::Blackbox => blackbox::run(bench),
        Job::Host => host::run(bench),
        Job::Followers => followers::run(bench),
    }
}

/// CPU ms per scrape in batches of scrapes: the median over the batches, and the latencies
/// (median of the batches' p50, largest of their p99).
#[derive(serde::Serialize, Clone)]
pub struct Batches {
    pub cpu_ms_per_scrape: f64,
    pub cpu_ms_batches: Vec<f64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: usize,
}

impl Batches {
    /// Folds several runs of batches into one (medians and maxima over all their batches).
    pub fn combine(parts: &[Batches]) -> Batches {
        let batches: Vec<f64> = parts
            .iter()
            .flat_map(|b| b.cpu_ms_batches.clone())
            .collect();
        Batches {
            cpu_ms_per_scrape: median(parts.iter().map(|b| b.cpu_ms_per_scrape)),
            cpu_ms_batches: batches,
            p50_ms: median(parts.iter().map(|b| b.p50_ms)),
            p99_ms: crate::measure::max(parts.iter().map(|b| b.p99_ms)),
            requests: parts.iter().map(|b| b.requests).sum(),
        }
    }
}

/// `batches` batches of sequential scrapes (at most 400, `seconds` long, at least 5 each).
pub fn cpu_batches(
    bench: &Bench,
    exporter: &crate::programs::Exporter,
    batches: usize,
    seconds: f64,
) -> Result<Batches, String> {
    let (mut per_batch, mut p50s, mut p99s, mut scrapes) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..batches {
        let before = exporter.cpu()?;
        let result = bench.seq(&exporter.url, 400, seconds, 5)?;
        per_batch.push((exporter.cpu()? - before) * 1e3 / result.requests.max(1) as f64);
        p50s.push(result.p50_ms);
        p99s.push(result.p99_ms);
        scrapes += result.requests;
    }
    Ok(Batches {
        cpu_ms_per_scrape: median(per_batch.iter().copied()),
        cpu_ms_batches: per_batch,
        p50_ms: median(p50s),
        p99_ms: crate::measure::max(p99s),
        requests: scrapes,
    })
}

/// A batch count and length the CPU rows share: the median of 5 half-second batches.
pub const BATCHES: usize = 5;
/// See [`BATCHES`].
pub const BATCH_SECONDS: f64 = 0.5;

use crate::measure::median;
