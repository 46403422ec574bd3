//! Build script: record the rustc version and git revision for `lotus_follow_exporter_build_info`.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let rustc_version = command_output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(String::from))
        .unwrap_or_else(|| "unknown".to_string());
    let revision = command_output("git", &["rev-parse", "--short=12", "HEAD"])
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=LFE_RUSTC_VERSION={rustc_version}");
    println!("cargo:rustc-env=LFE_GIT_REVISION={revision}");
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
