//! 1. Concurrency: with injected backend latencies, a scrape takes as long as the slowest call, not their sum.

use serde_json::json;

use crate::programs::{Exporter, Fakes};
use crate::table::ms;
use crate::Bench;

/// (name, slowest single call in ms, fake_backends arguments).
const SCENARIOS: [(&str, f64, &[&str]); 2] = [
    (
        "independent calls",
        200.0,
        &[
            "--lotus-latency",
            "Version=50ms",
            "--lotus-latency",
            "Session=50ms",
            "--lotus-latency",
            "ChainHead=100ms",
            "--lotus-latency",
            "NetPeers=100ms",
            "--lotus-latency",
            "WalletBalance=100ms",
            "--lotus-latency",
            "SyncState=200ms",
            "--follow-latency",
            "/id=50ms",
            "--follow-latency",
            "/pins=100ms",
            "--follow-latency",
            "/health/graph=50ms",
            "--wallets",
            "3",
        ],
    ),
    (
        "follower /id=100 then /pins=200",
        200.0,
        &[
            "--lotus-latency",
            "Version=50ms",
            "--lotus-latency",
            "ChainHead=100ms",
            "--lotus-latency",
            "SyncState=200ms",
            "--follow-latency",
            "/id=100ms",
            "--follow-latency",
            "/pins=200ms",
            "--wallets",
            "3",
        ],
    ),
];

/// p50 scrape / slowest call for each scenario (target <= 1.05).
pub fn run(bench: &mut Bench) -> Result<(), String> {
    for (name, slowest_ms, args) in SCENARIOS {
        let result = {
            let fakes = Fakes::start(bench, args)?;
            let exporter = Exporter::start(bench, &fakes, 3, &[])?;
            // The first round also fetches the cached figures.
            bench.warm(&exporter.url, 1)?;
            bench.seq(&exporter.url, 10, 10.0, 5)?
        };
        let ratio = result.p50_ms / slowest_ms;
        let mut figures = json!(result);
        figures["slowest_ms"] = json!(slowest_ms);
        figures["ratio"] = json!(ratio);
        bench.table.result(format!("concurrency/{name}"), figures);
        bench.table.judged(
            "concurrency",
            &format!("{name}: p50 scrape / slowest call"),
            &format!(
                "{} / {slowest_ms:.0} ms = {ratio:.3} (max {:.3})",
                ms(result.p50_ms),
                result.max_ms / slowest_ms
            ),
            "<= 1.05",
            ratio <= 1.05,
        );
    }
    Ok(())
}
