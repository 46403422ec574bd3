//! The programs under test as guarded processes: the fake backends, the exporter, the connection holder, and where their binaries are.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::Value;

use crate::http::{fetch, Ask};
use crate::processes::{first_line, free_port, Proc};
use crate::Bench;

/// `tools/fake_backends.rs`: fake Lotus and followers (on unix sockets), with a counters endpoint.
pub struct Fakes {
    /// Its ready line: `lotus`, `followers`, `wallets`, `counters`.
    pub info: Value,
    counters_url: String,
    _proc: Proc,
}

impl Fakes {
    /// Starts the fakes with `args` (passed as they are).
    pub fn start(bench: &Bench, args: &[&str]) -> Result<Fakes, String> {
        let sockets = tempfile::Builder::new()
            .prefix("sockets-")
            .tempdir_in(&bench.workdir)
            .map_err(|e| format!("socket dir: {e}"))?
            .keep();
        let mut command = Command::new(&bench.bins.fakes);
        command
            .arg("--socket-dir")
            .arg(&sockets)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut proc = Proc::spawn(&mut command, "fake_backends", Duration::from_secs(5))?;
        let line = first_line(&mut proc, Duration::from_secs(30))
            .map_err(|e| format!("fake_backends did not start ({args:?}): {e}"))?;
        let info: Value = serde_json::from_str(&line).map_err(|e| format!("fake_backends: {e}"))?;
        let counters_url = format!("http://{}", info["counters"].as_str().unwrap_or(""));
        Ok(Fakes {
            info,
            counters_url,
            _proc: proc,
        })
    }

    /// The fake Lotus's address (`127.0.0.1:P`).
    pub fn lotus(&self) -> &str {
        self.info["lotus"].as_str().unwrap_or("")
    }

    /// Requests seen per Lotus method and per follower path since the last reset.
    pub fn counters(&self, bench: &Bench) -> Result<Value, String> {
        let url = format!("{}/counters", self.counters_url);
        let answer = bench.block_on(fetch(&Ask::get(&url), Duration::from_secs(5)))?;
        serde_json::from_slice(&answer.body).map_err(|e| format!("{url}: {e}"))
    }

    /// Zeroes the counters.
    pub fn reset(&self, bench: &Bench) -> Result<(), String> {
        let url = format!("{}/reset", self.counters_url);
        let ask = Ask {
            method: Method::POST,
            ..Ask::get(&url)
        };
        bench
            .block_on(fetch(&ask, Duration::from_secs(5)))
            .map(|_| ())
    }
}

/// The release exporter against `Fakes`, in a home of its own, answering on a free port.
pub struct Exporter {
    pub port: u16,
    /// `http://127.0.0.1:PORT/metrics`.
    pub url: String,
    /// From spawn to the first 200 on `/metrics`.
    pub startup: Duration,
    proc: Proc,
}

impl Exporter {
    /// Starts it with the first `wallets` wallets of the fakes, every follower and `extra` flags,
    /// and waits (10 s at most) for a first successful scrape.
    pub fn start(
        bench: &Bench,
        fakes: &Fakes,
        wallets: usize,
        extra: &[&str],
    ) -> Result<Exporter, String> {
        let home = tempfile::Builder::new()
            .prefix("home-")
            .tempdir_in(&bench.workdir)
            .map_err(|e| format!("home: {e}"))?
            .keep();
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}/metrics");
        let in_home = |name: &str| home.join(name);
        let mut command = Command::new(&bench.bins.exporter);
        command
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--lotus.api")
            .arg(format!("http://{}", fakes.lotus()))
            .arg("--lotus.path")
            .arg(in_home(".lotus"))
            .arg("--follow.config-dir")
            .arg(in_home(".ipfs-cluster-follow"))
            .arg("--ports.cluster-service-config")
            .arg(in_home("service.json"))
            .arg("--ports.kubo-config")
            .arg(in_home("kubo-config"))
            .args(["--lotus.max-wallets", &wallets.max(1).to_string()])
            .args(["--log.level", "warn"])
            .args(extra);
        for spec in fakes.info["followers"].as_array().into_iter().flatten() {
            command.arg("--follow.api").arg(spec.as_str().unwrap_or(""));
        }
        for address in fakes.info["wallets"]
            .as_array()
            .into_iter()
            .flatten()
            .take(wallets)
        {
            command
                .arg("--lotus.wallet")
                .arg(address.as_str().unwrap_or(""));
        }
        for name in [
            "FULLNODE_API_INFO",
            "LOTUS_PATH",
            "IPFS_PATH",
            "IPFS_CLUSTER_PATH",
            "RUST_LOG",
        ] {
            command.env_remove(name);
        }
        let log_path = bench.workdir.join(format!("exporter-{port}.log"));
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        command
            .env("HOME", &home)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let started = Instant::now();
        let mut proc = Proc::spawn(&mut command, "exporter", Duration::from_secs(15))?;
        let deadline = started + Duration::from_secs(10);
        while !bench.http_ok(&url, Duration::from_secs(5)) {
            if proc.exited() || Instant::now() > deadline {
                return Err(format!(
                    "exporter did not start; see {}",
                    log_path.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(Exporter {
            port,
            url,
            startup: started.elapsed(),
            proc,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Its CPU seconds so far.
    pub fn cpu(&self) -> Result<f64, String> {
        crate::measure::cpu_seconds(self.pid())
    }

    /// Its resident memory in kB, `None` when it could not be read.
    pub fn rss_kb(&self) -> Option<u64> {
        crate::measure::status_kb(self.pid(), "VmRSS")
    }
}

/// `tools/hold_connections.rs`: N established loopback connections until dropped.
pub struct ConnectionHolder {
    stdin: Option<ChildStdin>,
    proc: Proc,
}

impl ConnectionHolder {
    /// Starts it and waits (60 s at most) until every connection is established; its soft
    /// `RLIMIT_NOFILE` is raised to fit them.
    pub fn start(binary: &Path, connections: usize) -> Result<ConnectionHolder, String> {
        let mut command = Command::new(binary);
        command
            .args([
                "--connections",
                &connections.to_string(),
                "--max-seconds",
                "300",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let want = (2 * connections + 64) as libc::rlim_t;
        // SAFETY: getrlimit/setrlimit are async-signal-safe and only touch the local struct.
        unsafe {
            command.pre_exec(move || {
                let mut limit = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < want {
                    limit.rlim_cur = want.min(limit.rlim_max);
                    libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                }
                Ok(())
            });
        }
        let mut proc = Proc::spawn(&mut command, "hold_connections", Duration::from_secs(30))?;
        let stdin = proc.take_stdin();
        first_line(&mut proc, Duration::from_secs(60))
            .map_err(|e| format!("hold_connections did not start (file descriptor limit?): {e}"))?;
        Ok(ConnectionHolder { stdin, proc })
    }
}

impl Drop for ConnectionHolder {
    fn drop(&mut self) {
        // Closing stdin is its signal to let go; the Proc guard then reaps (or kills) it.
        drop(self.stdin.take());
        if self.proc.wait_for(Duration::from_secs(30)).is_none() {
            self.proc.stop();
        }
    }
}

/// Where the release binaries are: `$CARGO_TARGET_DIR/release`, else this checkout's `target/release`
/// (the tools are Cargo examples, so they land in its `examples/`).
pub struct Binaries {
    pub exporter: PathBuf,
    pub fakes: PathBuf,
    pub hold_connections: PathBuf,
}

impl Binaries {
    /// The paths (not checked here: a missing one fails where it is spawned).
    pub fn locate() -> Binaries {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        let release = target.join("release");
        Binaries {
            exporter: release.join("lotus-follow-exporter"),
            fakes: release.join("examples").join("fake_backends"),
            hold_connections: release.join("examples").join("hold_connections"),
        }
    }
}
