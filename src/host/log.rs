//! Logging that a client cannot turn into a flood: a wrapper around the real logger.
//!
//! - Work a client starts on its own (a `/probe` run: [`client_triggered`]) logs at debug,
//!   whatever level the code logging it chose: one line per request is the client's rate.
//! - Every line at info or above is limited per call site: at most [`BURST`] lines per
//!   [`WINDOW`], then the rest of the window is counted and said in one line when the next one
//!   gets through. An operator still sees each kind of event; a loop of them costs a few lines
//!   a minute.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines of one call site let through per window.
pub const BURST: u32 = 10;
/// The window of [`BURST`].
pub const WINDOW: Duration = Duration::from_secs(60);

tokio::task_local! {
    /// Set while a client's own work runs: its lines are logged at debug.
    static CLIENT_TRIGGERED: ();
}

/// Run `work` (a client's own: a `/probe` run) with its log lines lowered to debug.
pub fn client_triggered<F: Future>(work: F) -> impl Future<Output = F::Output> {
    CLIENT_TRIGGERED.scope((), work)
}

/// True inside [`client_triggered`] work.
pub fn in_client_work() -> bool {
    CLIENT_TRIGGERED.try_with(|_| ()).is_ok()
}

/// A logger in front of another: client work at debug, lines at info and above limited per
/// call site.
pub struct Guarded<L> {
    inner: L,
    sites: Mutex<HashMap<(&'static str, u32), Site>>,
}

/// One call site's window.
struct Site {
    began: Instant,
    passed: u32,
    suppressed: u64,
}

/// What to do with one line.
#[derive(Debug, PartialEq, Eq)]
enum Pass {
    /// Log it; the number of lines suppressed before it, if any.
    Log(u64),
    Drop,
}

impl<L: log::Log> Guarded<L> {
    pub fn new(inner: L) -> Guarded<L> {
        Guarded {
            inner,
            sites: Mutex::new(HashMap::new()),
        }
    }

    fn pass(&self, site: (&'static str, u32), now: Instant) -> Pass {
        let mut sites = crate::host::lock(&self.sites);
        // A bounded table: sites are the program's log calls, a few hundred at most.
        let state = sites.entry(site).or_insert(Site {
            began: now,
            passed: 0,
            suppressed: 0,
        });
        if now.duration_since(state.began) >= WINDOW {
            state.began = now;
            state.passed = 0;
        }
        if state.passed >= BURST {
            state.suppressed += 1;
            return Pass::Drop;
        }
        state.passed += 1;
        Pass::Log(std::mem::take(&mut state.suppressed))
    }
}

impl<L: log::Log> log::Log for Guarded<L> {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = if in_client_work() {
            record.level().max(log::Level::Debug)
        } else {
            record.level()
        };
        let lowered = log::Metadata::builder()
            .level(level)
            .target(record.target())
            .build();
        if !self.inner.enabled(&lowered) {
            return;
        }
        let suppressed = if level <= log::Level::Info {
            let site = (
                record
                    .file_static()
                    .or(record.module_path_static())
                    .unwrap_or(""),
                record.line().unwrap_or(0),
            );
            match self.pass(site, Instant::now()) {
                Pass::Drop => return,
                Pass::Log(n) => n,
            }
        } else {
            0
        };
        let note = match suppressed {
            0 => String::new(),
            n => format!(" ({n} more like this in the last {WINDOW:?} were not logged)"),
        };
        self.inner.log(
            &log::Record::builder()
                .args(format_args!("{}{note}", record.args()))
                .level(level)
                .target(record.target())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .key_values(record.key_values())
                .build(),
        );
    }

    fn flush(&self) {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Keeps what it is given.
    #[derive(Clone, Default)]
    struct Keep(Arc<Mutex<Vec<(log::Level, String)>>>);

    impl log::Log for Keep {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::Level::Info
        }
        fn log(&self, record: &log::Record<'_>) {
            let line = (record.level(), record.args().to_string());
            self.0.lock().unwrap().push(line);
        }
        fn flush(&self) {}
    }

    /// Log one line at `level` from one call site through `logger`.
    fn line(logger: &dyn log::Log, level: log::Level, text: &str) {
        logger.log(
            &log::Record::builder()
                .args(format_args!("{text}"))
                .level(level)
                .file_static(Some("here.rs"))
                .line(Some(7))
                .build(),
        );
    }

    #[test]
    fn a_flood_from_one_call_site_is_cut_to_a_burst_and_then_counted() {
        let keep = Keep::default();
        let guarded = Guarded::new(keep.clone());
        let now = Instant::now();
        let passes: Vec<Pass> = (0..BURST + 5)
            .map(|_| guarded.pass(("here.rs", 7), now))
            .collect();
        assert!(passes[..BURST as usize].iter().all(|p| *p == Pass::Log(0)));
        assert!(passes[BURST as usize..].iter().all(|p| *p == Pass::Drop));
        assert_eq!(
            guarded.pass(("there.rs", 1), now),
            Pass::Log(0),
            "sites apart"
        );
        assert_eq!(guarded.pass(("here.rs", 7), now + WINDOW), Pass::Log(5));
        for _ in 0..100 {
            line(&guarded, log::Level::Warn, "warned");
        }
        assert!(keep.0.lock().unwrap().len() <= BURST as usize);
    }

    #[tokio::test]
    async fn client_work_logs_at_debug() {
        let keep = Keep::default();
        let guarded = Guarded::new(keep.clone());
        client_triggered(async {
            assert!(in_client_work());
            line(&guarded, log::Level::Info, "a probe's line");
        })
        .await;
        assert!(
            keep.0.lock().unwrap().is_empty(),
            "lowered to debug, below info"
        );
        assert!(!in_client_work());
        line(&guarded, log::Level::Info, "the operator's line");
        assert_eq!(keep.0.lock().unwrap().len(), 1);
    }
}
