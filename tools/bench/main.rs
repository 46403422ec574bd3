//! Whole-process benchmark of lotus-follow-exporter against the fake backends, on loopback (`scripts/bench` builds, then runs this).
//!
//! ```sh
//! scripts/bench                  # release build, then every measurement, then one table
//! scripts/bench --no-build       # reuse the release binaries already built
//! scripts/bench --json FILE      # also write every figure as JSON
//! scripts/bench --only overhead,coalescing
//! ```
//!
//! Starts `tools/fake_backends.rs` (fake Lotus + fake ipfs-cluster-follow, with injected
//! latencies) and the release exporter as separate processes on free loopback ports, drives them
//! with the load of `tools/loadgen` (its `drive.rs`, run in this process), and measures:
//!   1. concurrency: scrape wall time / slowest single backend call (target <= 1.05)
//!   2. own overhead with zero-latency fakes: CPU per scrape (`/proc/<pid>/stat` utime+stime,
//!      median of 5 half-second batches, taken in turns) and p50/p99 latency at 1/10/100 wallets
//!      and 1k/10k/100k pins (the three pin sizes measured in turns, side by side)
//!   3. coalescing: backend requests per call per round at 1/10/100/500 simultaneous scrapes;
//!      every expected call exactly once a round (a missing or an extra call fails)
//!   4. footprint: RSS idle and under 100 simultaneous scrapes, binary size, start-up time
//!   5. side by side with blackbox_exporter probing the same fake Lotus: CPU per scrape / CPU per
//!      probe (target <= 2.0)
//!   6. hardening: a 7 MiB Lotus `Version`, a client holding every connection slot, a login flood
//!   7. a busy host: CPU per scrape with 4,000 established loopback connections (8,000 sockets,
//!      held by `tools/hold_connections.rs`) / without (target <= 1.3)
//!   8. followers: CPU per scrape with 1, 8 and 32 followers, linear in followers
//!
//! Targets are judged here (PASS/FAIL column), never in unit tests; the exit status is 1 when any
//! target FAILs or a section could not run. The rows that compare CPU run in a network namespace
//! of their own when `unshare` allows it (`isolate.rs`). blackbox_exporter is built from source
//! once (`blackbox.rs`). Every process started is stopped on every exit path (`processes.rs`),
//! and every wait has a deadline.

mod blackbox;
#[path = "../loadgen/drive.rs"]
mod drive;
mod http;
mod isolate;
mod measure;
mod processes;
mod programs;
mod sections;
mod table;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use hyper::Uri;
use serde_json::{json, Map};

use drive::Summary;
use programs::Binaries;
use table::Table;

/// Whole-process benchmark of lotus-follow-exporter against the fake backends, on loopback.
#[derive(Parser)]
struct Args {
    /// Reuse the release binaries already built (read by `scripts/bench`; nothing to do here).
    #[arg(long = "no-build")]
    no_build: bool,
    /// Also write every figure to this file as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run only these sections, comma-separated (of: concurrency, overhead, coalescing,
    /// footprint, blackbox, hardening, host, followers).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// One isolated job, run inside its own network namespace (internal: see isolate.rs).
    #[arg(long, hide = true)]
    child: Option<String>,
    /// Where to make the scratch folder (internal: a child's goes inside its parent's).
    #[arg(long, hide = true)]
    scratch: Option<PathBuf>,
}

/// What every section works with: the binaries, a scratch folder, a runtime for the load and
/// the table the rows go to.
pub struct Bench {
    pub bins: Binaries,
    pub workdir: PathBuf,
    pub table: Table,
    runtime: tokio::runtime::Runtime,
}

impl Bench {
    /// Runs `future` on the bench's runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// A task on the bench's runtime (runs while this thread sleeps or blocks).
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(future)
    }

    /// Whether `url` answers 200 within `deadline`.
    pub fn http_ok(&self, url: &str, deadline: Duration) -> bool {
        matches!(
            self.block_on(http::fetch(&http::Ask::get(url), deadline)),
            Ok(answer) if answer.status == 200
        )
    }

    /// `count` scrapes one after another (see `drive::sequential`), at most `max_seconds` once
    /// `min_count` were sent; the whole run bounded by `max_seconds` + 60 s.
    pub fn seq(
        &self,
        url: &str,
        count: usize,
        max_seconds: f64,
        min_count: usize,
    ) -> Result<Summary, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let deadline = Duration::from_secs_f64(max_seconds + 60.0);
        let run = drive::sequential(uri, count, max_seconds, min_count);
        self.load(&format!("seq {url} x{count}"), run, deadline)
    }

    /// `seq` with the defaults the sections use (3 s at most, 5 scrapes at least).
    pub fn warm(&self, url: &str, count: usize) -> Result<Summary, String> {
        self.seq(url, count, 3.0, 5)
    }

    /// `waves` waves of `concurrency` simultaneous scrapes (see `drive::burst`), bounded by 120 s.
    pub fn burst(&self, url: &str, concurrency: usize, waves: usize) -> Result<Summary, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let run = drive::burst(uri, concurrency, waves, Duration::from_millis(50));
        self.load(
            &format!("burst {url} {concurrency}x{waves}"),
            run,
            Duration::from_secs(120),
        )
    }

    fn load(
        &self,
        what: &str,
        run: impl Future<Output = Summary>,
        deadline: Duration,
    ) -> Result<Summary, String> {
        let result = self
            .block_on(async { tokio::time::timeout(deadline, run).await })
            .map_err(|_| format!("load {what}: timed out after {deadline:?}"))?;
        if result.errors > 0 {
            eprintln!(
                "bench: load {what}: {} errors, e.g. {:?}",
                result.errors, result.first_errors
            );
        }
        Ok(result)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fatal(&format!("tokio runtime: {e}")),
    };
    let scratch = args.scratch.clone().unwrap_or_else(std::env::temp_dir);
    let workdir = match tempfile::Builder::new()
        .prefix("lfe-bench-")
        .tempdir_in(scratch)
    {
        Ok(dir) => dir,
        Err(e) => return fatal(&format!("scratch folder: {e}")),
    };
    let mut bench = Bench {
        bins: Binaries::locate(),
        workdir: workdir.path().to_path_buf(),
        table: Table::default(),
        runtime,
    };
    bench.spawn(clean_up_on_signal(bench.workdir.clone()));
    if let Some(job) = &args.child {
        bench.table.to_stderr = true;
        let Some(out) = &args.json else {
            return fatal("--child needs --json");
        };
        return isolate::child_main(&mut bench, job, out);
    }
    let chosen: Vec<String> = if args.only.is_empty() {
        sections::NAMES.iter().map(|s| s.to_string()).collect()
    } else {
        args.only.clone()
    };
    if let Some(unknown) = chosen
        .iter()
        .find(|s| !sections::NAMES.contains(&s.as_str()))
    {
        return fatal(&format!(
            "unknown section {unknown:?} (known: {})",
            sections::NAMES.join(",")
        ));
    }
    // A Go build of minutes: only when the blackbox section will run.
    if chosen.iter().any(|s| s == "blackbox") {
        if let Err(e) = blackbox::ensure() {
            eprintln!("bench: blackbox_exporter: {e}");
        }
    }
    let started = Instant::now();
    Table::print_header();
    for name in &chosen {
        if let Err(e) = sections::run(&mut bench, name) {
            eprintln!("bench: {name}: {e}");
            bench
                .table
                .row(name, "section did not complete", &e, "completes", "FAIL");
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    report(&bench, elapsed, args.json.as_deref())
}

/// On SIGINT or SIGTERM: remove the scratch folder and exit at once. Drop guards do not run, but
/// every process started dies with this one (`PR_SET_PDEATHSIG`), and an isolated child's scratch
/// folder is inside this one.
async fn clean_up_on_signal(workdir: PathBuf) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    let code = tokio::select! {
        _ = interrupt.recv() => 130,
        _ = terminate.recv() => 143,
    };
    let _ = std::fs::remove_dir_all(&workdir);
    eprintln!("bench: interrupted; every process it started dies with it");
    std::process::exit(code);
}

fn report(bench: &Bench, elapsed: f64, json_path: Option<&std::path::Path>) -> ExitCode {
    let table = &bench.table;
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!();
    println!(
        "Machine: {cpus} CPUs, {}, Linux {}; measured in {elapsed:.0} s",
        measure::cpu_model(),
        kernel.trim()
    );
    println!();
    table.print_markdown();
    let failed = table.failed();
    println!();
    println!("[tcp A->B]: sockets in /proc/net/tcp when the row started and ended (the exporter asks netlink");
    println!(
        "for listeners, so it no longer reads that table). {}",
        if isolate::used() {
            "The overhead, blackbox, host and followers rows each ran in a network namespace of their own."
        } else {
            "No network namespace could be made: rows share the host's table."
        }
    );
    println!(
        "{} rows passed or informational, {} failed targets",
        table.rows.len() - failed.len(),
        failed.len()
    );
    let mut code = ExitCode::SUCCESS;
    if let Some(path) = json_path {
        let mut extra = Map::new();
        extra.insert("elapsed_s".to_string(), json!(elapsed));
        if let Err(e) = table.write_json(path, extra) {
            eprintln!("bench: {e}");
            code = ExitCode::FAILURE;
        }
    }
    if !failed.is_empty() {
        let names: Vec<String> = failed
            .iter()
            .map(|r| format!("{} {}", r[0], r[1]))
            .collect();
        eprintln!("bench: FAIL: {}", names.join("; "));
        code = ExitCode::FAILURE;
    }
    code
}

fn fatal(message: &str) -> ExitCode {
    eprintln!("bench: {message}");
    ExitCode::FAILURE
}
