//! 6. A busy host: thousands of established loopback connections must not make a scrape dearer (target <= 1.3).

use serde_json::json;

use super::{cpu_batches, BATCHES, BATCH_SECONDS};
use crate::measure::established_sockets;
use crate::programs::{ConnectionHolder, Exporter, Fakes};
use crate::table::ms;
use crate::Bench;

/// Connections `tools/hold_connections.rs` holds (twice as many sockets).
const CONNECTIONS: usize = 4000;

/// CPU per scrape on the quiet host, then with the connections held.
pub fn run(bench: &mut Bench) -> Result<(), String> {
    let (quiet, busy, quiet_sockets, busy_sockets) = {
        let fakes = Fakes::start(bench, &["--wallets", "1", "--pins", "pin_queued=1000"])?;
        let exporter = Exporter::start(bench, &fakes, 1, &[])?;
        bench.warm(&exporter.url, 5)?;
        let quiet_sockets = established_sockets();
        let quiet = cpu_batches(bench, &exporter, BATCHES, BATCH_SECONDS)?;
        let holder = ConnectionHolder::start(&bench.bins.hold_connections, CONNECTIONS)?;
        let busy_sockets = established_sockets();
        // The holder's new listener: its owner is searched once.
        bench.warm(&exporter.url, 3)?;
        let busy = cpu_batches(bench, &exporter, BATCHES, BATCH_SECONDS)?;
        drop(holder);
        (quiet, busy, quiet_sockets, busy_sockets)
    };
    let ratio = busy.cpu_ms_per_scrape / quiet.cpu_ms_per_scrape;
    bench.table.result(
        "host",
        json!({"quiet": quiet, "busy": busy, "quiet_sockets": quiet_sockets,
               "busy_sockets": busy_sockets, "ratio": ratio}),
    );
    let table = &mut bench.table;
    table.info(
        "host",
        &format!("CPU per scrape, quiet host [tcp {quiet_sockets}]"),
        &format!(
            "CPU {}, p50 {}",
            ms(quiet.cpu_ms_per_scrape),
            ms(quiet.p50_ms)
        ),
    );
    table.info(
        "host",
        &format!("CPU per scrape, {CONNECTIONS} connections held [tcp {busy_sockets}]"),
        &format!(
            "CPU {}, p50 {}",
            ms(busy.cpu_ms_per_scrape),
            ms(busy.p50_ms)
        ),
    );
    table.judged(
        "host",
        &format!("CPU per scrape with {} sockets / without", 2 * CONNECTIONS),
        &format!("{ratio:.2}x"),
        "<= 1.3",
        ratio <= 1.3,
    );
    Ok(())
}
