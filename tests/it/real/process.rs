//! Real daemons as child processes: where the binaries are, spawning with logs, stopping with
//! SIGTERM and killing whatever is left when a test ends (even on panic).

use std::fs::File;
use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Duration;

/// How long a daemon gets to come up, or to exit after SIGTERM (generous: 2 shared cores).
pub const PATIENCE: Duration = Duration::from_secs(90);

/// The four binaries `scripts/real-peers` builds, found through `REAL_PEERS_BIN`.
#[derive(Debug, Clone)]
pub struct Bins {
    pub ipfs: PathBuf,
    pub service: PathBuf,
    pub follow: PathBuf,
    pub ctl: PathBuf,
}

const HOW_TO_GET_THEM: &str =
    "the real-peer tests need Kubo and ipfs-cluster binaries: build them \
with `scripts/real-peers` (it prints their folder as its last line) and run \
`REAL_PEERS_BIN=\"$(scripts/real-peers | tail -n1)\" cargo test --test it real_cluster`; \
`scripts/test` does both";

/// The binaries named by `REAL_PEERS_BIN`; panics (the test fails) with how to get them.
pub fn bins() -> Bins {
    let Some(dir) = std::env::var_os("REAL_PEERS_BIN").filter(|d| !d.is_empty()) else {
        panic!("REAL_PEERS_BIN is not set: {HOW_TO_GET_THEM}");
    };
    let dir = PathBuf::from(dir);
    let find = |name: &str| {
        let path = dir.join(name);
        let executable = std::fs::metadata(&path)
            .map(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
            .unwrap_or(false);
        assert!(
            executable,
            "REAL_PEERS_BIN={} holds no executable {name}: {HOW_TO_GET_THEM}",
            dir.display()
        );
        path
    };
    Bins {
        ipfs: find("ipfs"),
        service: find("ipfs-cluster-service"),
        follow: find("ipfs-cluster-follow"),
        ctl: find("ipfs-cluster-ctl"),
    }
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawn on one long-lived thread: the children ask the kernel to SIGKILL them when the thread
/// that forked them dies (`PR_SET_PDEATHSIG`), so they must be forked by a thread that lives as
/// long as the test process, not by a test's thread that may end while another test shares them.
fn spawn_child(mut command: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("real-peers-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("spawner thread");
        Mutex::new(tx)
    });
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    sender
        .lock()
        .unwrap()
        .send((command, tx))
        .expect("spawner alive");
    rx.recv().expect("spawner answers")
}

/// A running daemon, its output in a log file. Dropping it stops it: SIGTERM, then SIGKILL.
#[derive(Debug)]
pub struct Daemon {
    pub name: String,
    pub log: PathBuf,
    child: Mutex<Child>,
    pid: u32,
}

impl Daemon {
    /// Start `command` with stdin closed and stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Daemon {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the daemon log");
        let err = out.try_clone().expect("clone the log handle");
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = spawn_child(command).unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon {
            name: name.to_string(),
            log: log.to_path_buf(),
            pid: child.id(),
            child: Mutex::new(child),
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status once it has exited, `None` while it runs.
    pub fn exited(&self) -> Option<ExitStatus> {
        self.child.lock().unwrap().try_wait().ok().flatten()
    }

    /// Send a signal unless it has exited (and been reaped) already.
    pub fn signal(&self, signal: i32) {
        if self.exited().is_none() {
            // SAFETY: plain kill(2) on our own unreaped child's pid.
            unsafe {
                libc::kill(self.pid as libc::pid_t, signal);
            }
        }
    }

    /// Stop it the way an operator would (SIGTERM) and await its exit; SIGKILL after [`PATIENCE`].
    pub async fn stop(&self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill();
        panic!(
            "{} did not exit within {PATIENCE:?} of SIGTERM:\n{}",
            self.name,
            self.log_tail()
        );
    }

    /// SIGKILL it (a crash) and reap it.
    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The end of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        format!(
            "--- {} ({}) ---\n{}",
            self.name,
            self.log.display(),
            &text[start..]
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        self.signal(libc::SIGTERM);
        for _ in 0..200 {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }
}

/// Run a short command (an `init`, a `pin add`) to completion under [`PATIENCE`]; panics with its
/// output when it fails. Returns its stdout.
pub async fn run(what: &str, command: Command) -> String {
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true).stdin(Stdio::null());
    let output = tokio::time::timeout(PATIENCE, command.output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {PATIENCE:?}"))
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Await `probe` returning `Some`, trying every 200 ms for [`PATIENCE`]; panics with `what` and
/// `context()` (daemon logs) when it never does.
pub async fn await_some<T, F, Fut>(what: &str, context: impl Fn() -> String, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "gave up after {PATIENCE:?} waiting for {what}\n{}",
                context()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A template `service.json` served over HTTP on loopback from its own thread (independent of
/// any test's runtime), for `ipfs-cluster-follow <name> init <url>` and every `run`.
#[derive(Debug)]
pub struct TemplateServer {
    pub url: String,
}

impl TemplateServer {
    pub fn serve(body: String) -> TemplateServer {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the template server");
        let port = listener.local_addr().expect("template address").port();
        // The thread lives as long as the test process; one short answer per connection.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        TemplateServer {
            url: format!("http://127.0.0.1:{port}/service.json"),
        }
    }
}
