//! Child processes kept on a leash: spawned to die with the bench, waited on with deadlines, stopped on every exit path.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A child process that is stopped when dropped: SIGTERM, then SIGKILL after `grace`, and reaped.
/// Spawned with `PR_SET_PDEATHSIG`, so it dies with the bench even when the bench is killed.
pub struct Proc {
    child: Child,
    name: String,
    grace: Duration,
    reaped: bool,
}

impl Proc {
    /// Spawns `command` (stdio as the caller set it).
    pub fn spawn(command: &mut Command, name: &str, grace: Duration) -> Result<Proc, String> {
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(|e| format!("spawn {name}: {e}"))?;
        Ok(Proc {
            child,
            name: name.to_string(),
            grace,
            reaped: false,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stdout pipe, when it was piped and not taken yet.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Its stdin pipe, when it was piped and not taken yet.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Whether it has exited (reaping it if so).
    pub fn exited(&mut self) -> bool {
        self.reaped || matches!(self.child.try_wait(), Ok(Some(_)) | Err(_))
    }

    /// Waits up to `deadline` for it to exit by itself; its status if it did.
    pub fn wait_for(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + deadline;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    return Some(status);
                }
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
                _ => return None,
            }
        }
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL; always reaped.
    pub fn stop(&mut self) {
        if self.reaped {
            return;
        }
        if let Ok(Some(_)) = self.child.try_wait() {
            self.reaped = true;
            return;
        }
        // SAFETY: kill() with a pid this process spawned and has not reaped yet (so not reused).
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        if self.wait_for(self.grace).is_none() {
            eprintln!(
                "bench: {} did not stop within {:?}; killing it",
                self.name, self.grace
            );
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a tool run to completion printed.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a tool to completion within `deadline` (killed past it), `input` on its stdin.
pub fn run(
    command: &mut Command,
    input: Option<&str>,
    deadline: Duration,
) -> Result<Output, String> {
    let name = format!("{:?}", command.get_program());
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(command, &name, Duration::from_secs(5))?;
    if let (Some(mut stdin), Some(input)) = (proc.take_stdin(), input) {
        let _ = stdin.write_all(input.as_bytes());
    }
    let stdout = read_all(proc.child.stdout.take());
    let stderr = read_all(proc.child.stderr.take());
    let status = proc
        .wait_for(deadline)
        .ok_or_else(|| format!("{name} did not finish within {deadline:?}"))?;
    let collect =
        |r: mpsc::Receiver<String>| r.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    Ok(Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

fn read_all(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            let _ = tx.send(text);
        });
    }
    rx
}

/// The first line a process prints on stdout, within `deadline` (the pipe stays with the reader
/// thread, open until the process exits).
pub fn first_line(proc: &mut Proc, deadline: Duration) -> Result<String, String> {
    let stdout = proc
        .take_stdout()
        .ok_or_else(|| format!("{}: stdout not piped", proc.name))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep the pipe open (the process may still write) until it closes.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    match rx.recv_timeout(deadline) {
        Ok(line) if !line.trim().is_empty() => Ok(line),
        Ok(_) => Err(format!("{} exited before it was ready", proc.name)),
        Err(_) => Err(format!("{} not ready within {deadline:?}", proc.name)),
    }
}

/// A loopback port free right now.
pub fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}
