//! 3. Coalescing: N simultaneous scrapes make every backend call exactly once a round; and 4. the footprint under that load.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};

use crate::measure::RssSampler;
use crate::programs::{Exporter, Fakes};
use crate::table::{ms, short};
use crate::Bench;

/// Every backend call one round of this setup makes (1 wallet, 1 follower), once each. The rest
/// (StateNetworkName, ChainGetGenesis, StateGetNetworkParams, StateNetworkVersion, the trust
/// graph, ...) are cached across rounds and must not appear at all while the benchmark runs.
const COALESCED_CALLS: [&str; 15] = [
    "Filecoin.Version",
    "Filecoin.Session",
    "Filecoin.ChainHead",
    "Filecoin.SyncState",
    "Filecoin.NetPeers",
    "Filecoin.WalletBalance",
    "Filecoin.MpoolGetNonce",
    "Filecoin.StateGetActor",
    "follower /id",
    "follower /health",
    "follower /pins (live states)",
    "Filecoin.F3IsRunning",
    "Filecoin.F3GetLatestCertificate",
    "Filecoin.F3GetProgress",
    "Filecoin.ChainGetTipSetFinalityStatus",
];

/// (simultaneous scrapes, waves).
const LOADS: [(usize, usize); 4] = [(1, 5), (10, 5), (100, 3), (500, 3)];

/// Backend requests per call per round; calls never seen are left out (and so missing).
fn requests_per_round(counters: &Value, waves: usize) -> BTreeMap<String, f64> {
    let waves = waves as f64;
    let mut per_round = BTreeMap::new();
    for (method, count) in counters["lotus"].as_object().into_iter().flatten() {
        let count = count.as_f64().unwrap_or(0.0);
        if count > 0.0 {
            per_round.insert(method.clone(), count / waves);
        }
    }
    for paths in counters["follow"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, p)| p)
    {
        for (path, count) in paths.as_object().into_iter().flatten() {
            let count = count.as_f64().unwrap_or(0.0);
            if count == 0.0 {
                continue;
            }
            let name = if path == "/id" {
                "follower /id".to_string()
            } else if path.starts_with("/pins") && path.contains("filter=") {
                "follower /pins (live states)".to_string()
            } else {
                format!("follower {path}")
            };
            *per_round.entry(name).or_insert(0.0) += count / waves;
        }
    }
    per_round
}

/// One exporter, 100 ms backends, waves of 1/10/100/500 simultaneous scrapes.
pub fn run(bench: &mut Bench) -> Result<(), String> {
    let fakes = Fakes::start(
        bench,
        &[
            "--lotus-default-latency",
            "100ms",
            "--follow-latency",
            "/id=100ms",
            "--wallets",
            "1",
            "--pins",
            "pin_queued=1000",
        ],
    )?;
    let exporter = Exporter::start(bench, &fakes, 1, &[])?;
    bench.warm(&exporter.url, 2)?;
    std::thread::sleep(Duration::from_secs(1));
    let idle_kb = exporter.rss_kb();
    let expected: BTreeSet<&str> = COALESCED_CALLS.into_iter().collect();
    for (n, waves) in LOADS {
        fakes.reset(bench)?;
        let sampler = RssSampler::start(exporter.pid());
        let result = bench.burst(&exporter.url, n, waves);
        let peak_kb = sampler.stop();
        let result = result?;
        let per_round = requests_per_round(&fakes.counters(bench)?, waves);
        let seen: BTreeSet<&str> = per_round.keys().map(String::as_str).collect();
        let missing: Vec<&str> = expected.difference(&seen).copied().collect();
        let unexpected: Vec<&str> = seen.difference(&expected).copied().collect();
        let not_one: Vec<&str> = expected
            .intersection(&seen)
            .copied()
            .filter(|m| per_round[*m] != 1.0)
            .collect();
        let ok =
            missing.is_empty() && unexpected.is_empty() && not_one.is_empty() && result.errors == 0;
        let mut figures = json!(result);
        figures["requests_per_round"] = json!(per_round);
        figures["peak_rss_kb"] = json!(peak_kb);
        figures["missing"] = json!(missing);
        figures["unexpected"] = json!(unexpected);
        figures["not_one"] = json!(not_one);
        bench.table.result(format!("coalescing/{n}"), figures);
        let mut counts: Vec<f64> = expected
            .intersection(&seen)
            .map(|m| per_round[*m])
            .collect();
        counts.sort_by(f64::total_cmp);
        let mut value = match (counts.first(), counts.last()) {
            (Some(low), Some(high)) => format!("{}..{}", short(*low), short(*high)),
            _ => "none".to_string(),
        };
        value += &format!(
            " ({}/{} calls)",
            expected.len() - missing.len(),
            expected.len()
        );
        for (what, names) in [
            ("missing", &missing),
            ("unexpected", &unexpected),
            ("not 1", &not_one),
        ] {
            if !names.is_empty() {
                let listed: Vec<String> = names
                    .iter()
                    .map(|m| format!("{m}={}", short(per_round.get(*m).copied().unwrap_or(0.0))))
                    .collect();
                value += &format!("; {what}: {}", listed.join(", "));
            }
        }
        if result.errors > 0 {
            value += &format!("; {} scrape errors", result.errors);
        }
        let table = &mut bench.table;
        table.judged(
            "coalescing",
            &format!("N={n}: backend requests per call per round"),
            &value,
            "each 1",
            ok,
        );
        table.info(
            "coalescing",
            &format!("N={n}: scrape latency p50 / p99 (round ~100 ms)"),
            &format!("{} / {}", ms(result.p50_ms), ms(result.p99_ms)),
        );
        let mib = crate::measure::mib(peak_kb);
        if n == 100 {
            table.result("footprint/rss_under_100_kb", json!(peak_kb));
            table.info(
                "footprint",
                "RSS under 100 simultaneous scrapes (peak)",
                &mib,
            );
        }
        if n == 500 {
            table.info(
                "footprint",
                "RSS under 500 simultaneous scrapes (peak)",
                &mib,
            );
        }
    }
    bench.table.result("footprint/rss_idle_kb", json!(idle_kb));
    bench.table.info(
        "footprint",
        "RSS idle (after 2 scrapes)",
        &crate::measure::mib(idle_kb),
    );
    Ok(())
}
