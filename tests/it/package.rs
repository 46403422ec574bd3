//! The Debian package installs, works and purges cleanly; the container's binary runs and
//! serves as the image runs it.
//!
//! The package comes from `scripts/package` (`LFE_DEB`: its path) and the throwaway Debian root
//! from `scripts/debian-root` (`LFE_DEBIAN_ROOT`: a tarball of a debootstrap'ed bookworm with
//! systemd); `scripts/test` makes both (cached) and exports the two. Without them these tests
//! fail, saying how to get them. They need root (dpkg runs the maintainer scripts chrooted).
//!
//! The container image cannot be built on a machine that reaches no container registry, so the
//! container test runs what the image would: the release binary that `scripts/package` built
//! with the Containerfile's own `cargo build --release --locked`, as the image's user, with its
//! entrypoint, arguments, environment and volumes (each volume a temporary folder).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util;

const HOW: &str = "run scripts/test, or: LFE_DEB=\"$(scripts/package | tail -n1)\" \
                   LFE_DEBIAN_ROOT=\"$(scripts/debian-root | tail -n1)\" cargo test --test it package";

fn env_path(name: &str) -> PathBuf {
    let value = std::env::var_os(name).unwrap_or_else(|| panic!("{name} is not set: {HOW}"));
    let path = PathBuf::from(value);
    assert!(
        path.is_file(),
        "{name}={} is not a file: {HOW}",
        path.display()
    );
    path
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}

/// Every path under `root`, relative, symlinks not followed.
fn tree(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).expect("under the root");
            out.insert(relative.to_string_lossy().into_owned());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// What the package must install, beside the files of each folder it ships whole.
const INSTALLED: &[&str] = &[
    "usr/bin/lotus-follow-exporter",
    "usr/lib/systemd/system/lotus-follow-exporter.service",
    "etc/default/lotus-follow-exporter",
    "usr/share/lotus-follow-exporter/alerts/lotus-follow-exporter.rules.yml",
    "usr/share/lotus-follow-exporter/grafana/lotus-follow-exporter.json",
    "usr/share/lotus-follow-exporter/grafana/provisioning/dashboards/lotus-follow-exporter.yml",
    "usr/share/lotus-follow-exporter/grafana/provisioning/datasources/prometheus.yml",
    "usr/share/lotus-follow-exporter/docs/runbook.md",
    "usr/share/lotus-follow-exporter/examples/alertmanager.yml",
    "usr/share/lotus-follow-exporter/examples/prometheus.yml",
    "usr/share/doc/lotus-follow-exporter/README.md",
    "usr/share/doc/lotus-follow-exporter/CHANGELOG.md",
    "usr/share/doc/lotus-follow-exporter/copyright",
    "usr/share/doc/lotus-follow-exporter/lotus-follow-exporter.help.txt",
];

#[test]
fn the_debian_package_installs_verifies_runs_and_purges_without_a_trace() {
    let deb = env_path("LFE_DEB");
    let tarball = env_path("LFE_DEBIAN_ROOT");
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    let arch = run(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(
        name,
        format!(
            "lotus-follow-exporter_{}_{}.deb",
            env!("CARGO_PKG_VERSION"),
            arch.trim()
        )
    );
    let scratch = tempfile::tempdir().expect("temp dir");
    let root = scratch.path().join("root");
    std::fs::create_dir(&root).expect("root folder");
    run(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-xf")
        .arg(&tarball));
    let before = tree(&root);

    run(Command::new("dpkg")
        .arg("--root")
        .arg(&root)
        .arg("-i")
        .arg(&deb));
    for path in INSTALLED {
        assert!(root.join(path).is_file(), "{path} is installed");
    }
    for (folder, installed) in [
        (
            "alerts/tests",
            "usr/share/lotus-follow-exporter/alerts/tests",
        ),
        ("docs", "usr/share/doc/lotus-follow-exporter/docs"),
    ] {
        for entry in std::fs::read_dir(repo(folder)).expect("repo folder") {
            let file = entry.expect("entry").file_name();
            let kept = Path::new(&file)
                .extension()
                .is_some_and(|e| e == "yml" || e == "md");
            if kept {
                assert!(
                    root.join(installed).join(&file).is_file(),
                    "{installed}/{file:?}"
                );
            }
        }
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(root.join("usr/bin/lotus-follow-exporter"))
            .expect("binary")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o755);
    let defaults = std::fs::read_to_string(root.join("etc/default/lotus-follow-exporter")).unwrap();
    assert!(
        defaults.lines().any(|l| l.starts_with("ARGS=")),
        "{defaults}"
    );
    let conffiles =
        std::fs::read_to_string(root.join("var/lib/dpkg/info/lotus-follow-exporter.conffiles"))
            .unwrap();
    assert_eq!(conffiles.trim(), "/etc/default/lotus-follow-exporter");
    let copyright =
        std::fs::read_to_string(root.join("usr/share/doc/lotus-follow-exporter/copyright"))
            .unwrap();
    for license in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let text = std::fs::read_to_string(repo(license)).unwrap();
        let line = text.lines().find(|l| l.len() > 60).expect("a long line");
        assert!(
            copyright.contains(line.trim()),
            "{license} is in the copyright file"
        );
    }
    // The postinst enabled the unit (nothing starts it: no systemd runs in the root).
    assert!(root
        .join("etc/systemd/system/multi-user.target.wants/lotus-follow-exporter.service")
        .is_symlink());

    // The installed unit as systemd would load it, with the binary it names in the root.
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg("lotus-follow-exporter.service")
        .output()
        .expect("systemd-analyze (Debian's systemd package) is installed");
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify of the installed unit:\n{complaints}"
    );

    let version = run(Command::new("chroot")
        .arg(&root)
        .args(["/usr/bin/lotus-follow-exporter", "--version"]));
    assert!(
        version.starts_with(&format!(
            "lotus-follow-exporter {} (revision: ",
            env!("CARGO_PKG_VERSION")
        )) && version.contains("build date:")
            && version.contains("rustc version:"),
        "{version}"
    );
    // The installed rule tests pass where they were installed (promtool of the host).
    let tests: Vec<PathBuf> =
        std::fs::read_dir(root.join("usr/share/lotus-follow-exporter/alerts/tests"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
    run(Command::new("promtool")
        .args(["test", "rules"])
        .args(&tests));

    run(Command::new("dpkg")
        .arg("--root")
        .arg(&root)
        .args(["-P", "lotus-follow-exporter"]));
    let after = tree(&root);
    let left: Vec<&String> = after.difference(&before).collect();
    let removed: Vec<&String> = before.difference(&after).collect();
    assert!(
        left.is_empty() && removed.is_empty(),
        "dpkg -P leaves the root as it found it: left {left:?}, removed {removed:?}"
    );
}

/// The instructions of the Containerfile's final stage: (instruction, rest of the line).
fn final_stage() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("Containerfile")).expect("Containerfile");
    let mut stage = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        if word == "FROM" {
            stage.clear();
        }
        stage.push((word.to_string(), rest.trim().to_string()));
    }
    stage
}

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text} is not a JSON list: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_container_binary_runs_and_serves_as_the_image_runs_it() {
    let containerfile = std::fs::read_to_string(repo("Containerfile")).unwrap();
    let script = std::fs::read_to_string(repo("scripts/package")).unwrap();
    assert!(
        containerfile.contains("cargo build --release --locked")
            && script.contains("cargo build --release --locked"),
        "the image and the package build the binary the same way"
    );
    let deb = env_path("LFE_DEB");
    let target = deb
        .parent()
        .and_then(Path::parent)
        .expect("target/debian/x.deb");
    let binary = target.join("release/lotus-follow-exporter");
    assert!(
        binary.is_file(),
        "{} (built by scripts/package)",
        binary.display()
    );

    let stage = final_stage();
    let get = |word: &'static str| {
        stage
            .iter()
            .filter(move |(w, _)| w == word)
            .map(|(_, r)| r.as_str())
    };
    let entrypoint = json_list(get("ENTRYPOINT").next_back().expect("ENTRYPOINT"));
    let cmd = json_list(get("CMD").next_back().expect("CMD"));
    let volumes: Vec<String> = get("VOLUME").flat_map(json_list).collect();
    assert_eq!(get("EXPOSE").collect::<Vec<_>>(), ["10234"]);
    let user = get("USER")
        .next_back()
        .expect("a USER: the image does not run as root");
    let (uid, gid) = user.split_once(':').expect("USER uid:gid");
    let (uid, gid): (u32, u32) = (uid.parse().unwrap(), gid.parse().unwrap());
    assert_ne!(uid, 0, "not root");
    assert_eq!(entrypoint, ["/usr/bin/lotus-follow-exporter"]);

    // Each volume a folder the image's user may read, as an empty volume would be.
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut command = tokio::process::Command::new(&binary);
    let remap = |text: &str| {
        let mut text = text.to_string();
        for volume in &volumes {
            let local = scratch.path().join(volume.trim_start_matches('/'));
            text = text.replace(volume.as_str(), local.to_str().unwrap());
        }
        text
    };
    for volume in &volumes {
        let local = scratch.path().join(volume.trim_start_matches('/'));
        std::fs::create_dir_all(&local).unwrap();
    }
    run(Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(scratch.path()));
    command.env_clear().env("HOME", scratch.path());
    for env in get("ENV") {
        let (key, value) = env.split_once('=').expect("ENV KEY=VALUE");
        command.env(key, remap(value));
    }
    command.args(cmd.iter().map(|a| remap(a)));
    // Nothing on this host answers as Lotus there: the test is that it runs and serves.
    let lotus_port = util::free_tcp_port();
    command.args(["--lotus.api", &format!("http://127.0.0.1:{lotus_port}")]);
    // SAFETY: only setgroups/setgid/setuid between fork and exec.
    if unsafe { libc::geteuid() } == 0 {
        unsafe {
            command.pre_exec(move || {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let (mut exporter, log) = util::spawn_command_logged(command).await;
    let metrics = exporter.metrics().await;
    assert_eq!(
        metrics.value(&format!(
            "lotus_follow_exporter_build_info{{version=\"{}\",revision=\"{}\",rustc=\"{}\"}}",
            env!("CARGO_PKG_VERSION"),
            build_info_label(&metrics.text, "revision"),
            build_info_label(&metrics.text, "rustc"),
        )),
        1.0
    );
    assert_eq!(exporter.get("/healthz").await.body, "ok\n");
    assert_eq!(exporter.get("/runbook").await.status, 200);
    if unsafe { libc::geteuid() } == 0 {
        let pid = exporter.pid().expect("a child");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(
            status
                .lines()
                .any(|l| l.starts_with("Uid:") && l.contains(&format!("\t{uid}\t"))),
            "runs as the image's user:\n{status}"
        );
    }
    exporter.kill().await;
    let log = log.await.unwrap();
    assert!(
        !log.contains("does not exist"),
        "every volume the image names exists:\n{log}"
    );
}

fn build_info_label(text: &str, label: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.starts_with("lotus_follow_exporter_build_info{"))
        .expect("build_info");
    let start = line.find(&format!("{label}=\"")).expect("label") + label.len() + 2;
    line[start..].split('"').next().unwrap().to_string()
}
