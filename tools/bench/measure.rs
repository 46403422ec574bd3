//! What is read off the host: CPU seconds and RSS of a process, a peak-RSS sampler, socket table sizes, medians.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// `utime + stime` of a process in seconds, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // After the command name's closing parenthesis: field 3 (state) first, so utime (field 14)
    // and stime (field 15) are the 12th and 13th.
    let rest = text.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> Result<f64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .map(|t| t as f64)
            .ok_or_else(|| format!("{path}: no field {}", i + 3))
    };
    Ok((tick(11)? + tick(12)?) / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf reads a constant of the system; no memory is touched.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// A `/proc/<pid>/status` field in kB (`VmRSS`, ...); `None` when absent or unreadable.
pub fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
}

/// Resident memory in MiB, or `unknown` when it could not be read (never a made-up 0).
pub fn mib(kb: Option<u64>) -> String {
    kb.map_or_else(
        || "unknown".to_string(),
        |kb| format!("{:.1} MiB", kb as f64 / 1024.0),
    )
}

/// Samples a process's `VmRSS` every 2 ms on a thread until dropped or `stop`ped; `peak_kb` is
/// the largest seen.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match status_kb(pid, "VmRSS") {
                        Some(kb) => peak.fetch_max(kb, Ordering::Relaxed),
                        None => return,
                    };
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        RssSampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the peak in kB, `None` when `VmRSS` was never read.
    pub fn stop(mut self) -> Option<u64> {
        self.halt();
        Some(self.peak.load(Ordering::Relaxed)).filter(|&kb| kb > 0)
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Lines of `/proc/net/tcp` (header excluded): every TIME_WAIT left by earlier runs is one.
pub fn tcp_table_lines() -> usize {
    table_lines("/proc/net/tcp")
}

/// Sockets in `/proc/net/tcp` and `tcp6` together.
pub fn established_sockets() -> usize {
    table_lines("/proc/net/tcp") + table_lines("/proc/net/tcp6")
}

fn table_lines(path: &str) -> usize {
    std::fs::read_to_string(path)
        .map(|text| text.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

/// The median (the mean of the middle two for an even count); NaN when empty.
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut sorted: Vec<f64> = values.into_iter().collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// `numerator / denominator`, infinite when the denominator is not above zero (so a ratio
/// judged against a bound fails rather than passes).
pub fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        f64::INFINITY
    }
}

/// The largest value (NaN when empty).
pub fn max(values: impl IntoIterator<Item = f64>) -> f64 {
    values.into_iter().fold(f64::NAN, f64::max)
}

/// The host's CPU model name from `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}
