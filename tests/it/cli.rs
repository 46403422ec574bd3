//! Bad input on the command line gets a precise error: the built binary run as a user would.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_lotus-follow-exporter");

/// Flags that keep a `check` away from this host's real configs and processes.
fn quiet_flags(none: &Path) -> Vec<String> {
    // An empty Lotus repo (no `api` file, no config.toml): one that does not exist is warned about.
    let empty_repo = none.parent().unwrap().to_str().unwrap().to_string();
    let none = none.to_str().unwrap().to_string();
    [
        "--follow.process-discovery=false",
        "--follow.config-dir",
        &none,
        "--ports.cluster-service-config",
        &none,
        "--ports.kubo-config",
        &none,
        "--lotus.path",
        &empty_repo,
        "--collector.timeout",
        "2s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run(args: &[&str], cwd: &Path) -> Output {
    let none = cwd.join("none");
    Command::new(BIN)
        .args(args)
        .args(quiet_flags(&none))
        .current_dir(cwd)
        .env("HOME", cwd)
        .env_remove("RUST_LOG")
        .env_remove("FULLNODE_API_INFO")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn an_unknown_log_level_stops_the_exporter_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for level in ["warning", "verbose"] {
        let out = run(&["check", "--log.level", level], dir.path());
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{level}: {err}");
        assert!(
            err.contains("--log.level") && err.contains(level) && err.contains("warn"),
            "{level}: {err}"
        );
    }
    let out = run(&["check", "--log.level", "debug"], dir.path());
    assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn a_follower_cap_of_zero_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["check", "--follow.max-followers", "0"], dir.path());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--follow.max-followers") && err.contains("at least 1"),
        "{err}"
    );
}

#[test]
fn host_and_port_is_not_taken_for_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["check", "--lotus.api", "localhost:1234"], dir.path());
    let (report, log) = (text(&out.stdout), text(&out.stderr));
    assert!(report.contains("http://localhost:1234"), "{report}");
    assert!(
        !log.contains("token is on the command line"),
        "localhost is no token: {log}"
    );
}

#[test]
fn a_token_in_a_url_on_the_command_line_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &["check", "--lotus.api", "http://127.0.0.1:1/?token=s3cr3t-q"],
        dir.path(),
    );
    let log = text(&out.stderr);
    assert!(
        log.contains("token is on the command line") && log.contains("(ps)"),
        "{log}"
    );
    let everything = format!("{log}{}", text(&out.stdout));
    assert!(!everything.contains("s3cr3t-q"), "{everything}");
}

#[test]
fn a_missing_relative_token_file_names_the_path_tried() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &["check", "--lotus.token-file", "no-such-token"],
        dir.path(),
    );
    let report = text(&out.stdout);
    let tried = dir.path().join("no-such-token");
    assert!(
        report.contains(tried.to_str().unwrap()) && report.contains("does not exist"),
        "{report}"
    );
    assert!(!report.contains("make it readable"), "{report}");
    assert!(!report.contains("(default)"), "{report}");
}

#[test]
fn a_busy_listen_address_names_who_holds_it_and_lotus_trouble_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let out = run(
        &[
            "--web.listen-address",
            &address,
            "--lotus.api",
            "localhost:1234",
        ],
        dir.path(),
    );
    let log = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{log}");
    let me = std::env::current_exe().unwrap();
    let me = me.file_name().unwrap().to_str().unwrap();
    assert!(
        log.contains("in use by") && log.contains(&format!("{me} (pid {})", std::process::id())),
        "{log}"
    );
    let lotus_line = log
        .lines()
        .find(|l| l.contains("Lotus"))
        .unwrap_or_else(|| panic!("no Lotus line: {log}"));
    assert_eq!(lotus_line.matches("--lotus.api").count(), 1, "{lotus_line}");
    assert!(
        lotus_line.contains("http://localhost:1234") && !lotus_line.contains("unusable ("),
        "{lotus_line}"
    );
}

#[test]
fn hash_password_help_lists_only_its_own_flags() {
    for args in [&["hash-password", "--help"][..], &["help", "hash-password"]] {
        let out = Command::new(BIN).args(args).output().unwrap();
        let help = text(&out.stdout);
        assert!(out.status.success(), "{args:?}: {help}");
        assert!(help.contains("--cost"), "{args:?}: {help}");
        assert!(
            !help.contains("--web.listen-address") && !help.contains("--lotus.api"),
            "{args:?}: {help}"
        );
    }
}

// hash-password from a pipe (no terminal): tests/web.rs hash_password_prints_a_hash_that_verifies.

/// A pseudo-terminal pair: the controlling side and the terminal itself.
fn open_pty() -> (std::fs::File, OwnedFd) {
    // SAFETY: plain libc calls on fds this function owns; every result is checked.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(
            master >= 0,
            "posix_openpt: {}",
            std::io::Error::last_os_error()
        );
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let slave = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        assert!(slave >= 0, "open pts: {}", std::io::Error::last_os_error());
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    }
}

#[test]
fn hash_password_does_not_echo_on_a_terminal() {
    const SECRET: &str = "tr0ub4dor-and-3";
    let (mut master, slave) = open_pty();
    let child = Command::new(BIN)
        .args(["hash-password", "--cost", "4"])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the prompt: echo is off from then on.
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !text(&seen).contains("Password:") {
        let n = master.read(&mut buf).unwrap();
        assert!(n > 0, "no prompt: {}", text(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    master.write_all(format!("{SECRET}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let hash = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&seen));
    assert!(bcrypt::verify(SECRET, hash.trim()).unwrap(), "{hash}");
    // What the terminal showed after the prompt: the newline, never the password. The child
    // has exited, so whatever it (or the line discipline) wrote is already there to read.
    let mut flags = 0;
    // SAFETY: fcntl on an fd owned by `master`.
    unsafe {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&master);
        flags = libc::fcntl(fd, libc::F_GETFL, flags);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    loop {
        match master.read(&mut buf) {
            Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    assert!(!text(&seen).contains(SECRET), "echoed: {}", text(&seen));
}
