//! Rows that compare CPU run in a network namespace of their own (root and `unshare` needed), so TIME_WAIT sockets left by earlier rows weigh on none.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::processes::{run, Proc};
use crate::sections;
use crate::Bench;

/// A piece of a section that runs isolated (in a child process of this binary, `--child JOB`).
#[derive(Serialize, Deserialize, Debug)]
pub enum Job {
    OverheadPins,
    OverheadRow {
        wallets: usize,
        pins: usize,
        status: String,
    },
    Blackbox,
    Host,
    Followers,
}

/// 0: not probed yet, 1: no namespace can be made, 2: namespaces in use.
static NETNS: AtomicU8 = AtomicU8::new(0);

/// Whether isolated jobs ran in namespaces of their own (false when none was asked for).
pub fn used() -> bool {
    NETNS.load(Ordering::Relaxed) == 2
}

fn available() -> bool {
    match NETNS.load(Ordering::Relaxed) {
        1 => return false,
        2 => return true,
        _ => {}
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let works = root
        && run(
            Command::new("unshare").args(["--net", "true"]),
            None,
            Duration::from_secs(10),
        )
        .is_ok_and(|out| out.status.success());
    NETNS.store(if works { 2 } else { 1 }, Ordering::Relaxed);
    works
}

/// Runs `job`: in a child of this binary inside a fresh network namespace (loopback up) when one
/// can be made, else right here. The child's rows and figures are merged into the table.
pub fn isolated(bench: &mut Bench, job: Job) -> Result<(), String> {
    if !available() {
        return sections::run_job(bench, &job);
    }
    let out = bench.workdir.join("child.json");
    let _ = std::fs::remove_file(&out);
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let spec = serde_json::to_string(&job).map_err(|e| e.to_string())?;
    let mut command = Command::new("unshare");
    command
        .args([
            "--net",
            "--",
            "sh",
            "-c",
            r#"ip link set lo up && exec "$0" "$@""#,
        ])
        .arg(&exe)
        .args(["--child", &spec, "--json"])
        .arg(&out)
        .arg("--scratch")
        .arg(&bench.workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut child = Proc::spawn(&mut command, "isolated bench", Duration::from_secs(30))?;
    // Generous: the longest job (overhead pins) takes about a minute on 2 busy cores.
    let status = child.wait_for(Duration::from_secs(600));
    let text = std::fs::read_to_string(&out)
        .map_err(|e| format!("{job:?}: no result ({e}); exit {status:?}"))?;
    let result: Value = serde_json::from_str(&text).map_err(|e| format!("{job:?}: {e}"))?;
    bench.table.merge(&result);
    match result["error"].as_str() {
        Some(error) => Err(error.to_string()),
        None if status.is_none() => Err(format!("{job:?}: timed out")),
        None => Ok(()),
    }
}

/// `--child JOB --json OUT`: runs one job here and writes its rows and figures (and its error,
/// if any) to `OUT`.
pub fn child_main(bench: &mut Bench, spec: &str, out: &Path) -> ExitCode {
    let outcome = serde_json::from_str::<Job>(spec)
        .map_err(|e| format!("--child {spec}: {e}"))
        .and_then(|job| sections::run_job(bench, &job));
    let mut extra = Map::new();
    if let Err(e) = &outcome {
        extra.insert("error".to_string(), json!(e));
    }
    match bench.table.write_json(out, extra) {
        Ok(()) if outcome.is_ok() => ExitCode::SUCCESS,
        Ok(()) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
