//! The example systemd unit passes `systemd-analyze verify` (skipped where systemd is absent).

use std::process::Command;

const UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/systemd/lotus-follow-exporter.service"
);
/// The binary path the example unit names; verify insists that it exists.
const INSTALLED_BINARY: &str = "/usr/local/bin/lotus-follow-exporter";

fn systemd_analyze_present() -> bool {
    Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn example_unit_passes_systemd_analyze_verify() {
    if !systemd_analyze_present() {
        eprintln!("systemd-analyze not installed: skipping the unit check");
        return;
    }
    let text = std::fs::read_to_string(UNIT).expect("read the example unit");
    assert!(
        text.contains(INSTALLED_BINARY),
        "ExecStart names {INSTALLED_BINARY}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let unit = dir.path().join("lotus-follow-exporter.service");
    let built = env!("CARGO_BIN_EXE_lotus-follow-exporter");
    std::fs::write(&unit, text.replace(INSTALLED_BINARY, built)).expect("write unit copy");
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Warnings about this unit (unknown keys, bad values) exit 0 too: any line naming it fails.
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("lotus-follow-exporter.service"))
        .collect();
    assert!(
        output.status.success() && complaints.is_empty(),
        "systemd-analyze verify rejects the unit:\n{stderr}"
    );
}

#[test]
fn example_unit_is_hardened_as_documented() {
    let text = std::fs::read_to_string(UNIT).expect("read the example unit");
    for line in [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
        "AmbientCapabilities=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
    ] {
        assert!(
            text.lines().any(|l| l.trim() == line),
            "missing `{line}` in {UNIT}"
        );
    }
}
