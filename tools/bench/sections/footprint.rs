//! 4. Footprint: binary size (as built and stripped) and start-up time to the first successful scrape.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::measure::median;
use crate::processes::run as run_tool;
use crate::programs::{Exporter, Fakes};
use crate::table::ms;
use crate::Bench;

/// Binary size, then five starts against one set of fakes.
pub fn run(bench: &mut Bench) -> Result<(), String> {
    let binary = &bench.bins.exporter;
    let size = std::fs::metadata(binary)
        .map_err(|e| format!("{}: {e}", binary.display()))?
        .len();
    let stripped = bench.workdir.join("stripped");
    std::fs::copy(binary, &stripped).map_err(|e| format!("copy {}: {e}", binary.display()))?;
    // No `strip` on PATH (or it failed): the stripped size is absent, never guessed.
    let stripped_size = run_tool(
        Command::new("strip").arg(&stripped),
        None,
        Duration::from_secs(60),
    )
    .ok()
    .filter(|out| out.status.success())
    .and_then(|_| std::fs::metadata(&stripped).ok())
    .map(|m| m.len());
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20));
    bench.table.result("footprint/binary_bytes", json!(size));
    bench
        .table
        .result("footprint/binary_stripped_bytes", json!(stripped_size));
    let value = match stripped_size {
        Some(small) => format!("{}; {}", mib(size), mib(small)),
        None => mib(size),
    };
    bench
        .table
        .info("footprint", "binary size (release; stripped)", &value);

    let mut startups = Vec::new();
    {
        let fakes = Fakes::start(bench, &["--wallets", "1"])?;
        for _ in 0..5 {
            let exporter = Exporter::start(bench, &fakes, 1, &[])?;
            startups.push(exporter.startup.as_secs_f64() * 1e3);
        }
    }
    bench.table.result("footprint/startup_ms", json!(startups));
    bench.table.info(
        "footprint",
        "start-up to first successful scrape (median of 5)",
        &ms(median(startups)),
    );
    Ok(())
}
