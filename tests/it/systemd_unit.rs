//! The shipped systemd unit (the Debian package's, and the example for installs from source)
//! passes `systemd-analyze verify` (skipped where systemd is absent) and is hardened as
//! documented.

use std::process::Command;

const UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/systemd/lotus-follow-exporter.service"
);
/// The binary path the unit names (where the Debian package puts it); verify insists that it
/// exists.
const INSTALLED_BINARY: &str = "/usr/bin/lotus-follow-exporter";

fn systemd_analyze_present() -> bool {
    Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The unit as shipped, and with the opt-in capabilities turned on as its comment says.
fn variants() -> Vec<(&'static str, String)> {
    let text = std::fs::read_to_string(UNIT).expect("read the example unit");
    let opted_in = text
        .lines()
        .filter(|l| l.trim() != "CapabilityBoundingSet=")
        .map(|l| match l {
            "#AmbientCapabilities=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE"
            | "#CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE" => &l[1..],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(text.trim_end(), opted_in, "the unit has the opt-in lines");
    vec![("as shipped", text), ("capabilities on", opted_in)]
}

#[test]
fn shipped_unit_passes_systemd_analyze_verify() {
    if !systemd_analyze_present() {
        eprintln!("systemd-analyze not installed: skipping the unit check");
        return;
    }
    for (variant, text) in variants() {
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
            "systemd-analyze verify rejects the unit ({variant}):\n{stderr}"
        );
    }
}

#[test]
fn shipped_unit_is_hardened_as_documented() {
    let text = std::fs::read_to_string(UNIT).expect("read the example unit");
    for line in [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        // No capability unless the operator opts in.
        "CapabilityBoundingSet=",
        "#CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
        "#AmbientCapabilities=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
        // Even with CAP_SYS_PTRACE, no reading or writing another process's memory.
        "SystemCallFilter=~@privileged @resources @mount @debug",
        "SystemCallFilter=~process_vm_readv process_vm_writev",
        // Even with CAP_DAC_READ_SEARCH, not the Lotus token and keystore.
        "InaccessiblePaths=-/home/lotus/.lotus/keystore -/home/lotus/.lotus/token",
        // Netlink for the listening sockets (NETLINK_SOCK_DIAG), else /proc/net every scrape.
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        // The flags come from the package's /etc/default file.
        "EnvironmentFile=-/etc/default/lotus-follow-exporter",
        "ExecStart=/usr/bin/lotus-follow-exporter $ARGS",
    ] {
        assert!(
            text.lines().any(|l| l.trim() == line),
            "missing `{line}` in {UNIT}"
        );
    }
    let active: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("AmbientCapabilities="))
        .collect();
    assert!(
        active.is_empty(),
        "capabilities are opt-in, not granted: {active:?}"
    );
}
