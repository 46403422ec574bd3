//! The exporter's own metrics: build info, per-check success and duration, scrape duration,
//! bytes read from backends, connections evicted and refused, probes refused, socket-owner
//! searches cut short, and the standard `process_*` metrics.

use std::sync::atomic::Ordering;

use prometheus::core::Collector;

use super::{bool_value, Families};
use crate::contract::CheckStatus;
use crate::counters::{
    BODY_BYTES_READ, CONNECTIONS_EVICTED, CONNECTIONS_REFUSED, OWNER_LOOKUPS_CUT, PROBES_REFUSED,
};
use crate::exporter::snapshot::Snapshot;

/// The rustc that built this binary (set by build.rs).
const RUSTC_VERSION: &str = env!("LFE_RUSTC_VERSION");
/// The git revision this binary was built from, when known (set by build.rs).
const REVISION: &str = env!("LFE_GIT_REVISION");

pub fn render(snapshot: &Snapshot, out: &mut Families) {
    out.gauge(
        "lotus_follow_exporter_build_info",
        "A metric with a constant '1' value labeled by version, revision and rustc from which lotus-follow-exporter was built.",
    )
    .sample(
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", REVISION),
            ("rustc", RUSTC_VERSION),
        ],
        1.0,
    );
    checks(snapshot, out);
    out.gauge(
        "lotus_follow_exporter_healthy",
        "1 when this scrape's verdict is healthy (nothing would alert; `check` exits 0), 0 when it is degraded or unhealthy (the reasons are in /status and `check`).",
    )
    .sample(&[], bool_value(snapshot.verdict().is_healthy()));
    out.gauge(
        "lotus_follow_exporter_scrape_duration_seconds",
        "Wall time this scrape's collection took.",
    )
    .sample(&[], snapshot.scrape_duration.as_secs_f64());
    out.counter(
        "lotus_follow_exporter_backend_body_bytes_read_total",
        "Bytes of response bodies read from all backends since the exporter started.",
    )
    .sample(&[], BODY_BYTES_READ.load(Ordering::Relaxed) as f64);
    out.counter(
        "lotus_follow_exporter_connections_evicted_total",
        "Connections closed to admit a new one while all --web.max-connections slots were taken: idle ones, or busy ones beyond their bounds (requests pipelined, busy longer than any request may take).",
    )
    .sample(&[], CONNECTIONS_EVICTED.load(Ordering::Relaxed) as f64);
    out.counter(
        "lotus_follow_exporter_connections_refused_total",
        "Connections closed at once, unserved, because every --web.max-connections slot was busy within its bounds.",
    )
    .sample(&[], CONNECTIONS_REFUSED.load(Ordering::Relaxed) as f64);
    out.counter(
        "lotus_follow_exporter_probes_refused_total",
        "/probe requests answered 503 at once because --probe.max-concurrent probes were being answered.",
    )
    .sample(&[], PROBES_REFUSED.load(Ordering::Relaxed) as f64);
    out.counter(
        "lotus_follow_exporter_socket_owner_lookups_cut_total",
        "Scrapes whose search of /proc/<pid>/fd for the owners of listening sockets stopped at its budget of fd links; owners not found yet read unknown until a later scrape finds them.",
    )
    .sample(&[], OWNER_LOOKUPS_CUT.load(Ordering::Relaxed) as f64);
    if cfg!(target_os = "linux") {
        out.extend(prometheus::process_collector::ProcessCollector::for_self().collect());
    }
}

fn checks(snapshot: &Snapshot, out: &mut Families) {
    let ran = || {
        snapshot
            .checks()
            .filter(|c| !matches!(c.status, CheckStatus::Skipped(_)))
    };
    let mut success = out.gauge(
        "lotus_follow_exporter_check_success",
        "1 when a check succeeded in this scrape, 0 when it failed or timed out (skipped checks are not exported).",
    );
    for check in ran() {
        let cluster = check.cluster_name.as_deref().unwrap_or("");
        success.sample(
            &[("check", check.check), ("cluster_name", cluster)],
            bool_value(check.status.is_ok()),
        );
    }
    let mut duration = out.gauge(
        "lotus_follow_exporter_check_duration_seconds",
        "Wall time a check took in this scrape.",
    );
    for check in ran() {
        let cluster = check.cluster_name.as_deref().unwrap_or("");
        duration.sample(
            &[("check", check.check), ("cluster_name", cluster)],
            check.duration.as_secs_f64(),
        );
    }
}
