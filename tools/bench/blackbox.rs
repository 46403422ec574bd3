//! blackbox_exporter to compare against: built from source once into the bench's cache (Go), else one on PATH.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::processes::run;

const MODULE: &str = "github.com/prometheus/blackbox_exporter";
/// Built when `@latest` cannot be resolved (a module proxy that refuses to list versions).
pub const VERSION: &str = "v0.27.0";
/// A Go build from nothing takes minutes on 2 cores; past this it is given up.
const BUILD_DEADLINE: Duration = Duration::from_secs(900);

/// `$XDG_CACHE_HOME/lotus-follow-exporter-bench/bin` (`~/.cache/...` without it).
pub fn cache_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("lotus-follow-exporter-bench").join("bin")
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| executable(path))
}

/// The blackbox_exporter built into [`cache_dir`], else one on PATH (`blackbox_exporter` or
/// Debian's `prometheus-blackbox-exporter`); `None` when neither.
pub fn binary() -> Option<PathBuf> {
    let cached = cache_dir().join("blackbox_exporter");
    if executable(&cached) {
        return Some(cached);
    }
    ["blackbox_exporter", "prometheus-blackbox-exporter"]
        .into_iter()
        .find_map(on_path)
}

/// Builds blackbox_exporter from source into [`cache_dir`] unless one is there or Go is absent:
/// `go install MODULE@latest`, else the pinned [`VERSION`] from the module cache.
pub fn ensure() -> Result<(), String> {
    let dir = cache_dir();
    if executable(&dir.join("blackbox_exporter")) || on_path("go").is_none() {
        return Ok(());
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    eprintln!(
        "bench: building blackbox_exporter from source into {}",
        dir.display()
    );
    let latest = run(
        Command::new("go")
            .args(["install", &format!("{MODULE}@latest")])
            .env("GOBIN", &dir),
        None,
        BUILD_DEADLINE,
    )?;
    if latest.status.success() {
        return Ok(());
    }
    let last = latest
        .stderr
        .trim()
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    eprintln!(
        "bench: go install @latest failed ({last}); building {VERSION} from the module cache"
    );
    let fetched = run(
        Command::new("go").args(["mod", "download", "-json", &format!("{MODULE}@{VERSION}")]),
        None,
        BUILD_DEADLINE,
    )?;
    if !fetched.status.success() {
        return Err(format!("go mod download: {}", fetched.stderr.trim()));
    }
    let info: serde_json::Value =
        serde_json::from_str(&fetched.stdout).map_err(|e| format!("go mod download: {e}"))?;
    let source = info["Dir"]
        .as_str()
        .ok_or("go mod download: no Dir in its answer")?;
    let built = run(
        Command::new("go")
            .args(["build", "-trimpath", "-o"])
            .arg(dir.join("blackbox_exporter"))
            .arg(".")
            .current_dir(source),
        None,
        BUILD_DEADLINE,
    )?;
    if built.status.success() {
        Ok(())
    } else {
        Err(format!("go build: {}", built.stderr.trim()))
    }
}

/// What `--version` says (its first line); a build from [`cache_dir`] without a version stamp
/// reads as "VERSION or later, built from source (PATH)".
pub fn version(binary: &Path) -> String {
    let said = run(
        Command::new(binary).arg("--version"),
        None,
        Duration::from_secs(10),
    )
    .map(|out| {
        if out.stdout.is_empty() {
            out.stderr
        } else {
            out.stdout
        }
    })
    .unwrap_or_else(|e| e);
    let first = said.lines().next().unwrap_or("").to_string();
    if binary.starts_with(cache_dir()) && first.contains("version  ") {
        format!(
            "{VERSION} or later, built from source ({})",
            binary.display()
        )
    } else {
        first
    }
}
