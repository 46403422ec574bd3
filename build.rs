//! Build script: record the rustc version, git revision, build date and target for
//! `lotus_follow_exporter_build_info`, `--version` and the start-up log line.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let rustc_version = command_output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(String::from))
        .unwrap_or_else(|| "unknown".to_string());
    // A build outside a git checkout (the Containerfile copies no .git) is told the revision.
    println!("cargo:rerun-if-env-changed=LFE_GIT_REVISION");
    let revision = std::env::var("LFE_GIT_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(|| command_output("git", &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=LFE_RUSTC_VERSION={rustc_version}");
    println!("cargo:rustc-env=LFE_GIT_REVISION={revision}");
    // Reproducible builds set SOURCE_DATE_EPOCH (reproducible-builds.org); otherwise the time
    // this script ran, which is when the revision or the build script last changed.
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=LFE_BUILD_DATE={}", rfc3339(epoch));
    println!(
        "cargo:rustc-env=LFE_TARGET={}",
        std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string())
    );
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // Where git keeps them: `.git/HEAD` in a clone, but in a `git worktree` `.git` is a file and
    // HEAD lives under the main clone's `.git/worktrees/<name>/` (a path that does not exist
    // makes cargo rerun this script, and rebuild the crate, on every call).
    for (name, fallback) in [("HEAD", ".git/HEAD"), ("refs/heads", ".git/refs/heads")] {
        let path = command_output("git", &["rev-parse", "--git-path", name])
            .unwrap_or_else(|| fallback.to_string());
        println!("cargo:rerun-if-changed={path}");
    }
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `epoch` seconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC; the civil-from-days algorithm of
/// Howard Hinnant's date library, valid for every date after 1970).
fn rfc3339(epoch: u64) -> String {
    let (days, secs) = (epoch / 86_400, epoch % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}
