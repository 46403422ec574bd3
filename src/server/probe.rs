//! `/probe?target=<target>&module=<module>`: one target of a fleet checked on demand, the
//! blackbox_exporter pattern, through the same collector as `/metrics`.
//!
//! The registry's [`Prober`] builds a fresh check for the target and module; it runs in a
//! collector of its own (no process table: the target is not this host) under the scrape's
//! deadline, and only its section is rendered, with `probe_success` and
//! `probe_duration_seconds`. Concurrent probes of the same target and module share the
//! collector, and so its single flight: a run is shared only by probes whose deadlines it can
//! serve, and cancelled once no probe waits for it (every client left or hung up).
//!
//! # Limits
//! At most `--probe.max-concurrent` probes are answered at once (default
//! [`DEFAULT_MAX_CONCURRENT`]); one more is answered 503 at once and counted
//! (`lotus_follow_exporter_probes_refused_total`). With the prober's own bound on what one probe
//! may hold in memory, that bounds what `/probe` can cost: memory, connections, descriptors.
//! A probe's runs log at debug (one line per request would be the client's rate).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::contract::{ProbeError, Prober, Registry};
use crate::exporter::collector::Collector;

/// The parameters of a probe request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    pub target: String,
    /// The module named, if any (the prober's default otherwise).
    pub module: Option<String>,
}

/// Read `target` and `module` (default `lotus`) from a query string.
pub fn parse_query(query: Option<&str>) -> Result<ProbeRequest, ProbeError> {
    let mut target = None;
    let mut module = None;
    for pair in query.unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "target" if !value.is_empty() => target = Some(value),
            "module" if !value.is_empty() => module = Some(value),
            _ => {}
        }
    }
    Ok(ProbeRequest {
        target: target.ok_or(ProbeError::MissingTarget)?,
        module,
    })
}

/// `%XX` and `+` decoding of a query value (invalid escapes are kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

type Key = (String, String);

/// Default of `--probe.max-concurrent`: a Lotus probe opens about five connections and may hold
/// its memory budget, so 16 at once stay far below 1,000 descriptors and a few tens of MiB,
/// while probing hundreds of nodes per scrape interval (a probe takes tens of milliseconds).
pub const DEFAULT_MAX_CONCURRENT: usize = crate::cli::DEFAULT_PROBE_MAX_CONCURRENT as usize;

/// Runs probes; concurrent probes of one target and module share a collector.
pub struct Probes {
    prober: Arc<dyn Prober>,
    collector_timeout: Duration,
    /// The collector of each target and module being probed; gone once no probe holds it.
    running: Mutex<HashMap<Key, Weak<Collector>>>,
    max_concurrent: usize,
    /// Probes being answered now.
    in_flight: Arc<AtomicUsize>,
}

/// One probe being answered; dropping it makes room for another.
#[must_use]
pub struct Permit(Arc<AtomicUsize>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Probes {
    /// Probes built by `prober`, bounded by `--collector.timeout`, at most `max_concurrent` at
    /// once.
    pub fn new(
        prober: Arc<dyn Prober>,
        collector_timeout: Duration,
        max_concurrent: usize,
    ) -> Probes {
        Probes {
            prober,
            collector_timeout,
            running: Mutex::new(HashMap::new()),
            max_concurrent: max_concurrent.max(1),
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Room for one more probe, or `None` (counted) when `--probe.max-concurrent` are answered.
    pub fn admit(&self) -> Option<Permit> {
        let taken = self
            .in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max_concurrent).then_some(n + 1)
            });
        match taken {
            Ok(_) => Some(Permit(self.in_flight.clone())),
            Err(_) => {
                crate::counters::PROBES_REFUSED.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// The longest a probe may take: the longest module timeout, or `--collector.timeout`.
    pub fn longest_timeout(&self) -> Duration {
        self.prober
            .modules()
            .iter()
            .filter_map(|m| self.prober.timeout(m))
            .fold(self.collector_timeout, Duration::max)
    }

    /// The most probes answered at once.
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// The module a request uses.
    fn module<'a>(&'a self, request: &'a ProbeRequest) -> &'a str {
        request
            .module
            .as_deref()
            .unwrap_or_else(|| self.prober.default_module())
    }

    /// The deadline budget of a probe: the module's timeout (or `--collector.timeout`) lowered
    /// by the scrape's `X-Prometheus-Scrape-Timeout-Seconds` minus the offset.
    pub fn budget(&self, request: &ProbeRequest, header: Option<&str>) -> Result<Duration, String> {
        let cap = self
            .prober
            .timeout(self.module(request))
            .unwrap_or(self.collector_timeout);
        crate::exporter::collector::scrape_budget(cap, header)
    }

    /// Probe `request.target` with its module and render the answer, by `budget`.
    pub async fn probe(
        &self,
        request: &ProbeRequest,
        budget: Duration,
    ) -> Result<String, ProbeError> {
        let begun = Instant::now();
        let collector = self.collector(request)?;
        let snapshot = collector.collect(budget).await;
        Ok(crate::render::prometheus::render_probe(
            &snapshot,
            begun.elapsed(),
        ))
    }

    /// The collector probing this target with this module: the one in use, or a new one.
    fn collector(&self, request: &ProbeRequest) -> Result<Arc<Collector>, ProbeError> {
        let module = self.module(request).to_string();
        let key = (module.clone(), request.target.clone());
        let mut running = crate::host::lock(&self.running);
        running.retain(|_, collector| collector.strong_count() > 0);
        if let Some(collector) = running.get(&key).and_then(Weak::upgrade) {
            return Ok(collector);
        }
        let check = self.prober.check(&request.target, &module)?;
        let collector = Arc::new(Collector::for_client(Registry::single(check)));
        running.insert(key, Arc::downgrade(&collector));
        Ok(collector)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_target_and_module() {
        let r = parse_query(Some("target=https%3A%2F%2Fnode%3A443&module=read")).unwrap();
        assert_eq!(r.target, "https://node:443");
        assert_eq!(r.module.as_deref(), Some("read"));
        let r = parse_query(Some("target=node:1234")).unwrap();
        assert_eq!(r.module, None);
        assert_eq!(
            parse_query(Some("module=lotus")),
            Err(ProbeError::MissingTarget)
        );
        assert_eq!(parse_query(None), Err(ProbeError::MissingTarget));
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
