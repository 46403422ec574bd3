//! What this binary is: its version, the git revision, build date, rustc and target it was built
//! from (set by `build.rs`), as `--version` prints them and the start-up log line gives them.

/// The crate's version (`Cargo.toml`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision built, 12 hex digits, or `unknown` outside a git checkout.
pub const REVISION: &str = env!("LFE_GIT_REVISION");
/// When it was built: `SOURCE_DATE_EPOCH` when set, else when the build script last ran (UTC).
pub const BUILD_DATE: &str = env!("LFE_BUILD_DATE");
/// The rustc that built it (`1.95.0`).
pub const RUSTC: &str = env!("LFE_RUSTC_VERSION");
/// The target triple it was built for.
pub const TARGET: &str = env!("LFE_TARGET");

/// `-V`: the version and revision on one line.
pub const SHORT: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision: ",
    env!("LFE_GIT_REVISION"),
    ")"
);

/// `--version`, laid out as the Prometheus exporters print theirs (`node_exporter --version`).
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision: ",
    env!("LFE_GIT_REVISION"),
    ")\n  build date:       ",
    env!("LFE_BUILD_DATE"),
    "\n  rustc version:    ",
    env!("LFE_RUSTC_VERSION"),
    "\n  platform:         ",
    env!("LFE_TARGET"),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_version_names_every_part() {
        for part in [VERSION, REVISION, BUILD_DATE, RUSTC, TARGET] {
            assert!(!part.is_empty() && LONG.contains(part), "{part} in {LONG}");
        }
        assert!(
            BUILD_DATE.ends_with('Z') && BUILD_DATE.len() == 20,
            "{BUILD_DATE}"
        );
    }
}
