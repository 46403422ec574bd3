//! The shipped unit's `RestrictAddressFamilies=` lets the port check read the listening sockets
//! over netlink (`NETLINK_SOCK_DIAG`); a unit without `AF_NETLINK` falls back to `/proc/net`,
//! and the refusal is logged once, naming the directive to change.
//!
//! systemd enforces `RestrictAddressFamilies=` with a seccomp filter that makes socket(2) fail
//! with `EAFNOSUPPORT` for any other family. These tests put the same filter on the exporter
//! binary (in the child, before exec), built from the families the shipped unit lists, so no
//! systemd is needed and the unit file itself is what is tested.

use std::process::Stdio;

use crate::util;

const UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/systemd/lotus-follow-exporter.service"
);

/// The address families the shipped unit allows (its `RestrictAddressFamilies=` lines).
fn unit_families() -> Vec<String> {
    let text = std::fs::read_to_string(UNIT).expect("read the shipped unit");
    let families: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("RestrictAddressFamilies="))
        .flat_map(|v| v.split_whitespace().map(String::from))
        .collect();
    assert!(!families.is_empty(), "the unit restricts address families");
    families
}

fn family_number(name: &str) -> u32 {
    let number = match name {
        "AF_UNIX" => libc::AF_UNIX,
        "AF_INET" => libc::AF_INET,
        "AF_INET6" => libc::AF_INET6,
        "AF_NETLINK" => libc::AF_NETLINK,
        "AF_PACKET" => libc::AF_PACKET,
        other => panic!("family {other} of the unit is unknown to this test"),
    };
    number as u32
}

/// `audit_arch` of this machine, as seccomp reports it (linux/audit.h).
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// A seccomp program that fails socket(2) with EAFNOSUPPORT unless its family is one of
/// `allowed`, as systemd's `RestrictAddressFamilies=` does.
fn restrict_families(allowed: &[u32]) -> Vec<libc::sock_filter> {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = |offset: u32| stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset);
    // seccomp_data: nr at 0, arch at 4, args[0] (its low 32 bits, little endian) at 16.
    let n = allowed.len();
    let allow_at = 6 + n; // index of the final RET ALLOW
    let to_allow = |i: usize| u8::try_from(allow_at - (i + 1)).expect("short program");
    let mut program = vec![
        load(4),
        jeq(AUDIT_ARCH, 0, to_allow(1)),
        load(0),
        jeq(libc::SYS_socket as u32, 0, to_allow(3)),
        load(16),
    ];
    for (j, family) in allowed.iter().enumerate() {
        program.push(jeq(*family, to_allow(5 + j), 0));
    }
    program.push(stmt(
        libc::BPF_RET | libc::BPF_K,
        libc::SECCOMP_RET_ERRNO | libc::EAFNOSUPPORT as u32,
    ));
    program.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW));
    assert_eq!(program.len(), allow_at + 1);
    program
}

/// The exporter under `families`, scraped `scrapes` times: each scrape's `/status`
/// `ports_listeners`, and its whole log.
async fn run_restricted(families: &[String], scrapes: usize) -> (Vec<serde_json::Value>, String) {
    let allowed: Vec<u32> = families.iter().map(|f| family_number(f)).collect();
    let program = restrict_families(&allowed);
    let tmp = tempfile::tempdir().expect("temp dir");
    let none = tmp.path().join("none");
    let none = none.to_str().expect("utf-8 path");
    let lotus_port = util::free_tcp_port().to_string();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"));
    command
        .args([
            "--follow.process-discovery=false",
            "--follow.config-dir",
            none,
        ])
        .args(["--lotus.api", &format!("http://127.0.0.1:{lotus_port}")])
        .args(["--ports.cluster-service-config", none])
        .args(["--ports.kubo-config", none])
        .env_clear()
        .env("HOME", tmp.path())
        .stdin(Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls (two prctl) on memory the
    // parent prepared; the program outlives the spawn.
    unsafe {
        // An address (a raw pointer is not Send); the vector stays alive and unmoved until after
        // the spawn.
        let program_addr = program.as_ptr() as usize;
        let len = u16::try_from(program.len()).expect("short program");
        command.pre_exec(move || {
            let fprog = libc::sock_fprog {
                len,
                filter: program_addr as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &fprog as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (mut exporter, log) = util::spawn_command_logged(command).await;
    let mut sources = Vec::new();
    for _ in 0..scrapes {
        sources.push(exporter.status().await["ports_listeners"].clone());
    }
    exporter.kill().await;
    drop(program);
    (sources, log.await.expect("the log reader"))
}

const FALLBACK_LINE: &str = "listening sockets read from /proc/net";

#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_unit_lets_the_port_check_use_netlink() {
    let families = unit_families();
    assert!(families.iter().any(|f| f == "AF_NETLINK"), "{families:?}");
    let (sources, log) = run_restricted(&families, 2).await;
    for listeners in &sources {
        assert_eq!(listeners["source"], "netlink", "{listeners}\n{log}");
        assert_eq!(listeners["fallback_reason"], serde_json::Value::Null);
    }
    assert!(!log.contains(FALLBACK_LINE), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_unit_without_af_netlink_falls_back_and_says_once_what_to_change() {
    let families: Vec<String> = unit_families()
        .into_iter()
        .filter(|f| f != "AF_NETLINK")
        .collect();
    let (sources, log) = run_restricted(&families, 3).await;
    for listeners in &sources {
        assert_eq!(listeners["source"], "/proc/net", "{listeners}");
        let reason = listeners["fallback_reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("RestrictAddressFamilies=") && reason.contains("AF_NETLINK"),
            "{reason}"
        );
    }
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains(FALLBACK_LINE)).collect();
    assert_eq!(warnings.len(), 1, "logged once over three scrapes:\n{log}");
    let warning = warnings[0];
    assert!(
        warning.contains("level=WARN")
            && warning.contains("RestrictAddressFamilies=")
            && warning.contains("AF_NETLINK")
            && warning.contains("Address family not supported"),
        "{warning}"
    );
}
