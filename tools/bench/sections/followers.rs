//! 7. Followers: CPU per scrape with 1, 8 and 32 followers, linear in followers.

use serde_json::json;

use super::{cpu_batches, Batches, BATCHES, BATCH_SECONDS};
use crate::programs::{Exporter, Fakes};
use crate::table::ms;
use crate::Bench;

const COUNTS: [usize; 3] = [1, 8, 32];

/// 1, 8 and 32 followers (each with 100 queued pins), one exporter and one fake each, measured
/// in turns as the pin rows are.
pub fn run(bench: &mut Bench) -> Result<(), String> {
    let mut stacks = Vec::new();
    for count in COUNTS {
        let fakes = Fakes::start(
            bench,
            &[
                "--wallets",
                "1",
                "--followers",
                &count.to_string(),
                "--pins",
                "pin_queued=100",
            ],
        )?;
        let exporter = Exporter::start(bench, &fakes, 1, &[])?;
        // Exporter first: a stack drops (stops) in this order.
        stacks.push((exporter, fakes));
    }
    for (exporter, _) in &stacks {
        bench.warm(&exporter.url, 3)?;
    }
    let mut batches: Vec<Vec<Batches>> = vec![Vec::new(); COUNTS.len()];
    for _ in 0..BATCHES {
        for (i, (exporter, _)) in stacks.iter().enumerate() {
            batches[i].push(cpu_batches(bench, exporter, 1, BATCH_SECONDS)?);
        }
    }
    drop(stacks);
    let figures: Vec<Batches> = batches
        .iter()
        .map(|parts| Batches::combine(parts))
        .collect();
    for (count, figures) in COUNTS.iter().zip(&figures) {
        bench.table.result(
            format!("followers/{count}"),
            json!({"cpu_ms_per_scrape": figures.cpu_ms_per_scrape, "p50_ms": figures.p50_ms,
                   "cpu_ms_batches": figures.cpu_ms_batches}),
        );
        bench.table.info(
            "followers",
            &format!("{count} follower(s): CPU per scrape"),
            &format!(
                "CPU {}, p50 {}",
                ms(figures.cpu_ms_per_scrape),
                ms(figures.p50_ms)
            ),
        );
    }
    let cpu: Vec<f64> = figures.iter().map(|f| f.cpu_ms_per_scrape).collect();
    let small = (cpu[1] - cpu[0]) / 7.0;
    let large = (cpu[2] - cpu[0]) / 31.0;
    let linearity = crate::measure::ratio(large, small);
    let table = &mut bench.table;
    table.result(
        "followers/cpu_ms_per_follower",
        json!({"1-8": small, "1-32": large}),
    );
    table.judged(
        "followers",
        "CPU per follower (1->8 vs 1->32)",
        &format!("{small:.3} vs {large:.3} ms ({linearity:.2}x)"),
        "0.67x-1.5x (linear)",
        (0.67..=1.5).contains(&linearity),
    );
    table.info(
        "followers",
        "CPU 32 followers / 1 follower",
        &format!("{:.2}x", cpu[2] / cpu[0]),
    );
    Ok(())
}
