//! A real Lotus devnet for the tests: `lotus-devnet`, built by `scripts/real-lotus` from Lotus's
//! own source (itests/kit, mock proofs, Lotus's JSON-RPC server and token auth) and named by
//! `REAL_LOTUS_BIN`. Each devnet runs in a temporary folder it writes like a Lotus repo (`api`,
//! `token`) plus `devnet.json` (tokens, genesis, block delay, a funded wallet).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use lotus_follow_exporter::net::http_client::{self, Endpoint};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::process::Daemon;
use super::stack::unique;

/// How long a devnet gets to come up (genesis, the node, the miner, the chain current by the
/// clock) or to stop: generous, the machine has 2 shared cores.
pub const DEVNET_PATIENCE: Duration = Duration::from_secs(300);

const HOW_TO_GET_IT: &str = "the real-Lotus tests need the lotus-devnet harness: build it \
with `scripts/real-lotus` (it prints its folder as its last line; the first build compiles \
filecoin-ffi and Lotus from source) and run \
`REAL_LOTUS_BIN=\"$(scripts/real-lotus | tail -n1)\" cargo test --test it real_lotus`; \
`scripts/test` does both";

/// `lotus-devnet` in the folder named by `REAL_LOTUS_BIN`; panics (the test fails) with how to
/// get it.
pub fn harness() -> PathBuf {
    let Some(dir) = std::env::var_os("REAL_LOTUS_BIN").filter(|d| !d.is_empty()) else {
        panic!("REAL_LOTUS_BIN is not set: {HOW_TO_GET_IT}");
    };
    let path = PathBuf::from(&dir).join("lotus-devnet");
    let executable = std::fs::metadata(&path)
        .map(|m| {
            m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
        })
        .unwrap_or(false);
    assert!(
        executable,
        "REAL_LOTUS_BIN={} holds no executable lotus-devnet: {HOW_TO_GET_IT}",
        PathBuf::from(dir).display()
    );
    path
}

/// One JSON-RPC call to `endpoint` on `path` with an optional bearer token: the HTTP status and
/// the body (JSON when it parses, else a string). Works on a devnet and on the fake alike.
pub async fn rpc_call(
    endpoint: &Endpoint,
    path: &str,
    method: &str,
    params: Value,
    token: Option<&str>,
) -> Result<(u16, Value), String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(path)
        .header("Content-Type", "application/json");
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let response = http_client::fetch(endpoint, request, 16 << 20, deadline)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response.body).into_owned();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((response.status.as_u16(), value))
}

/// How a devnet runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// F3 on, with a manifest for this devnet.
    pub f3: bool,
    /// Run as `lotus daemon` (a `lotus` link to the harness), so the exporter's process table
    /// sees a Lotus daemon. Only the tests about the daemon process do: any other would make
    /// every other test's exporter see one too.
    pub as_lotus_daemon: bool,
}

/// One running devnet. Dropping it stops it (SIGTERM, then SIGKILL) and removes its folder.
#[derive(Debug)]
pub struct Devnet {
    /// The Lotus repo folder: `api`, `token`, `devnet.json`, and the controls `halt`,
    /// `restart-api`, `stop`.
    pub dir: PathBuf,
    pub daemon: Daemon,
    _root: tempfile::TempDir,
}

/// Where devnet folders go; folders of test processes that have gone are removed on the way.
fn devnets_root() -> PathBuf {
    let root = std::env::temp_dir().join("lfe-real-lotus");
    std::fs::create_dir_all(&root).expect("the devnets' folder");
    if let Ok(entries) = std::fs::read_dir(&root) {
        for entry in entries.flatten() {
            let owner = std::fs::read_to_string(entry.path().join("owner")).unwrap_or_default();
            let alive = owner
                .trim()
                .parse::<u32>()
                .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
            if !alive && entry.path().join("owner").exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    root
}

impl Devnet {
    /// Start a devnet and wait until it has written `devnet.json` (its chain current by the clock).
    pub async fn start(options: Options) -> Devnet {
        let harness = harness();
        let root = tempfile::Builder::new()
            .prefix(&unique("devnet"))
            .tempdir_in(devnets_root())
            .expect("a devnet folder");
        std::fs::write(root.path().join("owner"), std::process::id().to_string())
            .expect("owner file");
        let dir = root.path().join("repo");
        let tmp = root.path().join("tmp");
        std::fs::create_dir_all(&tmp).expect("the devnet's TMPDIR");
        let mut command = if options.as_lotus_daemon {
            let link = root.path().join("lotus");
            std::os::unix::fs::symlink(&harness, &link).expect("a lotus link to the harness");
            Command::new(link)
        } else {
            Command::new(&harness)
        };
        command
            .arg(format!("-dir={}", dir.display()))
            .arg(format!("-f3={}", options.f3));
        if options.as_lotus_daemon {
            // After the flags: Go's flag package stops at the first positional argument, and
            // the exporter takes `lotus [flags] daemon` for a daemon all the same.
            command.arg("daemon");
        }
        command
            .env("TMPDIR", &tmp)
            .env_remove("LOTUS_PATH")
            .env_remove("FULLNODE_API_INFO");
        let daemon = Daemon::spawn("lotus-devnet", command, &root.path().join("devnet.log"));
        let devnet = Devnet {
            dir,
            daemon,
            _root: root,
        };
        devnet
            .until(
                "the devnet to write devnet.json",
                DEVNET_PATIENCE,
                || async { devnet.read_info() },
            )
            .await;
        devnet
    }

    /// A devnet shared by the tests that only look at it (F3 on), started by the first to ask.
    /// It lives as long as the test process (its children die with it: `PR_SET_PDEATHSIG`).
    pub async fn shared() -> &'static Devnet {
        static SHARED: tokio::sync::OnceCell<Devnet> = tokio::sync::OnceCell::const_new();
        SHARED
            .get_or_init(|| {
                Devnet::start(Options {
                    f3: true,
                    as_lotus_daemon: false,
                })
            })
            .await
    }

    fn read_info(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.dir.join("devnet.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// `devnet.json` as it is now.
    pub fn info(&self) -> Value {
        self.read_info()
            .unwrap_or_else(|| panic!("no devnet.json in {}\n{}", self.dir.display(), self.logs()))
    }

    /// A token of this permission level (`read`, `write`, `sign`, `admin`), made by the node.
    pub fn token(&self, level: &str) -> String {
        self.info()["tokens"][level]
            .as_str()
            .unwrap_or_else(|| panic!("no {level} token in devnet.json"))
            .to_string()
    }

    pub fn genesis_timestamp(&self) -> u64 {
        self.info()["genesis_timestamp"]
            .as_u64()
            .expect("genesis_timestamp")
    }

    pub fn block_delay(&self) -> u64 {
        self.info()["block_delay_seconds"]
            .as_u64()
            .expect("block_delay_seconds")
    }

    /// The epoch the clock expects now, from the devnet's genesis and block delay.
    pub fn expected_height(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        now.saturating_sub(self.genesis_timestamp()) / self.block_delay()
    }

    /// The API's loopback port now.
    pub fn port(&self) -> u16 {
        let url = self.info()["api_url"]
            .as_str()
            .expect("api_url")
            .to_string();
        url.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {url}"))
    }

    /// The API's endpoint now.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: self.port(),
        }
    }

    /// One JSON-RPC call on `path` (`/rpc/v1`, `/rpc/v2`, `/rpc/v0`) with an optional token:
    /// the HTTP status and the body (JSON when it parses, else a string).
    pub async fn call(
        &self,
        path: &str,
        method: &str,
        params: Value,
        token: Option<&str>,
    ) -> (u16, Value) {
        rpc_call(&self.endpoint(), path, method, params, token)
            .await
            .unwrap_or_else(|e| panic!("{method} on {path}: {e}\n{}", self.logs()))
    }

    /// `result` of a successful v1 call made with the admin token.
    pub async fn result(&self, method: &str, params: Value) -> Value {
        let admin = self.token("admin");
        let (status, body) = self.call("/rpc/v1", method, params, Some(&admin)).await;
        assert_eq!(status, 200, "{method}: {body}");
        body.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{method} gave no result: {body}"))
    }

    /// The head's height (`Filecoin.ChainHead`).
    pub async fn head_height(&self) -> u64 {
        self.result("Filecoin.ChainHead", json!([])).await["Height"]
            .as_u64()
            .expect("ChainHead Height")
    }

    /// `GET path` on the API's port (`/health/livez`, `/health/readyz`): the status code.
    pub async fn get_status(&self, path: &str) -> Option<u16> {
        let request = http::Request::builder()
            .method(http::Method::GET)
            .uri(path)
            .body(Full::new(Bytes::new()))
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let response = http_client::fetch(&self.endpoint(), request, 1 << 20, deadline)
            .await
            .ok()?;
        Some(response.status.as_u16())
    }

    /// Stop mining (the chain halts; the API keeps answering), or resume.
    pub fn halt(&self, halt: bool) {
        let path = self.dir.join("halt");
        if halt {
            std::fs::write(&path, "").expect("the halt file");
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }

    /// Move the API to a new port (a new `api` file); returns once `devnet.json` says so.
    pub async fn restart_api(&self) -> u16 {
        let before = self.info()["api_generation"]
            .as_u64()
            .expect("api_generation");
        std::fs::write(self.dir.join("restart-api"), "").expect("the restart-api file");
        self.until("the API to move to a new port", DEVNET_PATIENCE, || async {
            let info = self.read_info()?;
            (info["api_generation"].as_u64()? > before && !self.dir.join("restart-api").exists())
                .then_some(())
        })
        .await;
        self.port()
    }

    /// The devnet's log tail, for failure messages.
    pub fn logs(&self) -> String {
        self.daemon.log_tail()
    }

    /// Await `probe` returning `Some`, every 200 ms for `patience`; panics with `what` and the log.
    pub async fn until<T, F, Fut>(&self, what: &str, patience: Duration, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            if let Some(status) = self.daemon.exited() {
                panic!(
                    "the devnet exited ({status}) while waiting for {what}\n{}",
                    self.logs()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "gave up after {patience:?} waiting for {what}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
