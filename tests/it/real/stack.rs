//! One real ipfs-cluster stack on loopback: an offline Kubo, a one-peer ipfs-cluster-service (CRDT
//! consensus, pinning-service API on), its template served over HTTP, and ipfs-cluster-follow
//! peers, each in a temporary folder, configured through its own config file and environment.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use lotus_follow_exporter::net::http_client::{self, Endpoint};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::process::{await_some, bins, run, Bins, Daemon, TemplateServer};
use crate::util::{free_tcp_port, free_udp_port};

/// A name unique in this test process and among concurrent test processes.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One HTTP request with a 10 s deadline: `(status, body)`, `None` when nothing answered.
pub async fn http(endpoint: &Endpoint, method: http::Method, path: &str) -> Option<(u16, String)> {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::new()))
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let response = http_client::fetch(endpoint, request, 16 << 20, deadline)
        .await
        .ok()?;
    Some((
        response.status.as_u16(),
        String::from_utf8_lossy(&response.body).into_owned(),
    ))
}

/// `GET /id` of a cluster REST API, parsed, when it answers 200.
pub async fn cluster_id(endpoint: &Endpoint) -> Option<Value> {
    match http(endpoint, http::Method::GET, "/id").await? {
        (200, body) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

fn tcp(port: u16) -> Endpoint {
    Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port,
    }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// An offline Kubo (`ipfs daemon --offline`) with its API, gateway and swarm on free ports.
#[derive(Debug)]
pub struct Kubo {
    pub dir: PathBuf,
    pub api_port: u16,
    pub gateway_port: u16,
    pub daemon: Daemon,
}

impl Kubo {
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config")
    }

    pub fn api_multiaddr(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}", self.api_port)
    }

    /// An `ipfs` command talking to this node.
    pub fn command(&self, bins: &Bins) -> Command {
        let mut command = Command::new(&bins.ipfs);
        command
            .env("IPFS_PATH", &self.dir)
            .env("IPFS_TELEMETRY", "off");
        command
    }

    async fn start(bins: &Bins, root: &Path) -> Kubo {
        let dir = root.join("kubo");
        let mut init = Command::new(&bins.ipfs);
        init.args(["init", "--profile", "test"])
            .env("IPFS_PATH", &dir)
            .env("IPFS_TELEMETRY", "off");
        run("ipfs init", init).await;
        let (api_port, gateway_port, swarm_port) =
            (free_tcp_port(), free_tcp_port(), free_tcp_port());
        let config_path = dir.join("config");
        let mut config = read_json(&config_path);
        config["Addresses"]["API"] = json!(format!("/ip4/127.0.0.1/tcp/{api_port}"));
        config["Addresses"]["Gateway"] = json!(format!("/ip4/127.0.0.1/tcp/{gateway_port}"));
        config["Addresses"]["Swarm"] = json!([format!("/ip4/127.0.0.1/tcp/{swarm_port}")]);
        config["Bootstrap"] = json!([]);
        write_json(&config_path, &config);
        let mut daemon = Command::new(&bins.ipfs);
        daemon
            .args(["daemon", "--offline"])
            .env("IPFS_PATH", &dir)
            .env("IPFS_TELEMETRY", "off");
        let daemon = Daemon::spawn("kubo", daemon, &root.join("kubo.log"));
        let kubo = Kubo {
            dir,
            api_port,
            gateway_port,
            daemon,
        };
        let api = tcp(api_port);
        await_some(
            "Kubo's API to answer /api/v0/id",
            || kubo.daemon.log_tail(),
            || async {
                matches!(
                    http(&api, http::Method::POST, "/api/v0/id").await,
                    Some((200, _))
                )
                .then_some(())
            },
        )
        .await;
        kubo
    }
}

/// A one-peer ipfs-cluster-service with CRDT consensus and every API on a free loopback port.
#[derive(Debug)]
pub struct Service {
    pub dir: PathBuf,
    pub peer_id: String,
    pub rest_port: u16,
    pub proxy_port: u16,
    pub pinsvc_port: u16,
    pub swarm_tcp_port: u16,
    pub swarm_udp_port: u16,
    pub daemon: Daemon,
}

impl Service {
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("service.json")
    }

    pub fn rest(&self) -> Endpoint {
        tcp(self.rest_port)
    }

    /// An `ipfs-cluster-ctl` command talking to this service's REST API.
    pub fn ctl(&self, bins: &Bins) -> Command {
        let mut command = Command::new(&bins.ctl);
        command.args(["--host", &format!("/ip4/127.0.0.1/tcp/{}", self.rest_port)]);
        command
    }

    async fn start(bins: &Bins, root: &Path, kubo_api: &str) -> Service {
        let dir = root.join("service");
        let mut init = Command::new(&bins.service);
        init.args(["init", "--consensus", "crdt"])
            .env("IPFS_CLUSTER_PATH", &dir);
        run("ipfs-cluster-service init", init).await;
        let peer_id = read_json(&dir.join("identity.json"))["id"]
            .as_str()
            .expect("identity.json has an id")
            .to_string();
        let cluster_name = unique("rp");
        let (rest_port, proxy_port, pinsvc_port) =
            (free_tcp_port(), free_tcp_port(), free_tcp_port());
        let (swarm_tcp_port, swarm_udp_port) = (free_tcp_port(), free_udp_port());
        let config_path = dir.join("service.json");
        let mut config = read_json(&config_path);
        let cluster = &mut config["cluster"];
        cluster["peername"] = json!("real-service");
        cluster["listen_multiaddress"] = json!([
            format!("/ip4/127.0.0.1/tcp/{swarm_tcp_port}"),
            format!("/ip4/127.0.0.1/udp/{swarm_udp_port}/quic-v1"),
        ]);
        // Peers see each other within seconds, and no LAN discovery between test stacks.
        cluster["monitor_ping_interval"] = json!("2s");
        cluster["peer_watch_interval"] = json!("2s");
        cluster["mdns_interval"] = json!("0s");
        let crdt = &mut config["consensus"]["crdt"];
        crdt["cluster_name"] = json!(cluster_name);
        crdt["trusted_peers"] = json!([peer_id]);
        crdt["rebroadcast_interval"] = json!("2s");
        let api = &mut config["api"];
        api["restapi"]["http_listen_multiaddress"] =
            json!(format!("/ip4/127.0.0.1/tcp/{rest_port}"));
        api["ipfsproxy"]["listen_multiaddress"] = json!(format!("/ip4/127.0.0.1/tcp/{proxy_port}"));
        api["ipfsproxy"]["node_multiaddress"] = json!(kubo_api);
        api["pinsvcapi"]["http_listen_multiaddress"] =
            json!(format!("/ip4/127.0.0.1/tcp/{pinsvc_port}"));
        config["ipfs_connector"]["ipfshttp"]["node_multiaddress"] = json!(kubo_api);
        write_json(&config_path, &config);

        let mut daemon = Command::new(&bins.service);
        daemon.arg("daemon").env("IPFS_CLUSTER_PATH", &dir);
        let daemon = Daemon::spawn("ipfs-cluster-service", daemon, &root.join("service.log"));
        let service = Service {
            dir,
            peer_id,
            rest_port,
            proxy_port,
            pinsvc_port,
            swarm_tcp_port,
            swarm_udp_port,
            daemon,
        };
        let rest = service.rest();
        await_some(
            "ipfs-cluster-service's REST API to answer /id",
            || service.daemon.log_tail(),
            || async { cluster_id(&rest).await.map(|_| ()) },
        )
        .await;
        service
    }

    /// The template a follower fetches: this service's config, bootstrapping to it, the swarm on
    /// any free loopback port (several followers share one template).
    fn template(&self) -> String {
        let mut config = read_json(&self.config_path());
        let cluster = &mut config["cluster"];
        cluster["peername"] = json!("");
        cluster["listen_multiaddress"] = json!(["/ip4/127.0.0.1/tcp/0"]);
        cluster["peer_addresses"] = json!([format!(
            "/ip4/127.0.0.1/tcp/{}/p2p/{}",
            self.swarm_tcp_port, self.peer_id
        )]);
        serde_json::to_string_pretty(&config).unwrap()
    }
}

/// An `ipfs-cluster-follow <name> run` peer.
#[derive(Debug)]
pub struct Follower {
    pub name: String,
    /// Its `IPFS_CLUSTER_PATH`; its own folder is `<folder>/<name>`.
    pub folder: PathBuf,
    /// Where its REST API is: the unix socket, or the TCP port its environment moved it to.
    pub api: Endpoint,
    pub daemon: Daemon,
}

impl Follower {
    pub fn socket(&self) -> PathBuf {
        self.folder.join(&self.name).join("api-socket")
    }

    /// `init` then `run` a follower of `template_url` in `folder`, with `env` added; awaits its
    /// API and its first sight of the service.
    ///
    /// `run` first waits (up to two minutes, before it opens its API) for IPFS at the default
    /// `/ip4/127.0.0.1/tcp/5001` or at `CLUSTER_IPFSHTTP_NODEMULTIADDRESS`, not at the template's
    /// `node_multiaddress` (`cmdutils.WaitForIPFS`), so that variable names our Kubo.
    pub async fn start(
        bins: &Bins,
        folder: &Path,
        name: &str,
        template_url: &str,
        kubo_api: &str,
        env: &[(&str, String)],
        log: &Path,
    ) -> Follower {
        std::fs::create_dir_all(folder).expect("follower folder");
        let mut init = Command::new(&bins.follow);
        init.args([name, "init", template_url])
            .env("IPFS_CLUSTER_PATH", folder);
        run("ipfs-cluster-follow init", init).await;
        let mut command = Command::new(&bins.follow);
        command
            .args([name, "run"])
            .env("IPFS_CLUSTER_PATH", folder)
            .env("CLUSTER_IPFSHTTP_NODEMULTIADDRESS", kubo_api);
        let mut api = Endpoint::Unix(folder.join(name).join("api-socket"));
        for (key, value) in env {
            command.env(key, value);
            if *key == "CLUSTER_RESTAPI_HTTPLISTENMULTIADDRESS" {
                let port = value.rsplit('/').next().and_then(|p| p.parse().ok());
                api = tcp(port.expect("a /tcp/<port> address"));
            }
        }
        let daemon = Daemon::spawn(&format!("ipfs-cluster-follow {name}"), command, log);
        let follower = Follower {
            name: name.to_string(),
            folder: folder.to_path_buf(),
            api,
            daemon,
        };
        follower.await_connected().await;
        follower
    }

    /// Await its API answering `/id` with a cluster peer besides itself.
    pub async fn await_connected(&self) {
        await_some(
            &format!("follower {} to see the service", self.name),
            || self.daemon.log_tail(),
            || async {
                let id = cluster_id(&self.api).await?;
                let peers = id["cluster_peers"].as_array()?.len();
                (peers >= 2).then_some(())
            },
        )
        .await;
    }
}

/// Kubo, the service, its template and one follower, in one temporary folder. Dropping it stops
/// the follower, then the service, then Kubo (SIGTERM, SIGKILL for what is left).
#[derive(Debug)]
pub struct Stack {
    pub follower: Follower,
    pub service: Service,
    pub kubo: Kubo,
    pub template: TemplateServer,
    pub bins: Bins,
    /// The `--follow.config-dir` of `follower`.
    pub follow_dir: PathBuf,
    pub root: tempfile::TempDir,
}

impl Stack {
    /// A stack of its own, for a test that stops or changes something.
    pub async fn start() -> Stack {
        let bins = bins();
        // Short paths: a unix socket path must fit in 108 bytes.
        let root = tempfile::Builder::new()
            .prefix("rp")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let kubo = Kubo::start(&bins, root.path()).await;
        let service = Service::start(&bins, root.path(), &kubo.api_multiaddr()).await;
        let template = TemplateServer::serve(service.template());
        let follow_dir = root.path().join("follow");
        let name = unique("f");
        let follower = Follower::start(
            &bins,
            &follow_dir,
            &name,
            &template.url,
            &kubo.api_multiaddr(),
            &[],
            &root.path().join("follow.log"),
        )
        .await;
        Stack {
            follower,
            service,
            kubo,
            template,
            bins,
            follow_dir,
            root,
        }
    }

    /// A stack shared by the tests that only look at it, while any of them runs; the last one
    /// to let go of it stops it.
    pub async fn shared() -> Arc<Stack> {
        static SHARED: tokio::sync::Mutex<Weak<Stack>> = tokio::sync::Mutex::const_new(Weak::new());
        let mut slot = SHARED.lock().await;
        if let Some(stack) = slot.upgrade() {
            return stack;
        }
        let stack = Arc::new(Stack::start().await);
        *slot = Arc::downgrade(&stack);
        stack
    }

    /// Another follower of this stack's service in a folder of its own, with `env` added.
    pub async fn another_follower(&self, env: &[(&str, String)]) -> Follower {
        let name = unique("g");
        let folder = self.root.path().join(&name);
        let log = self.root.path().join(format!("{name}.log"));
        let kubo_api = self.kubo.api_multiaddr();
        Follower::start(
            &self.bins,
            &folder,
            &name,
            &self.template.url,
            &kubo_api,
            env,
            &log,
        )
        .await
    }

    /// Exporter flags watching this stack: its follower folder, the service's and Kubo's configs,
    /// and a one-second refresh of the slow follow figures.
    pub fn exporter_args(&self) -> Vec<String> {
        vec![
            "--follow.config-dir".into(),
            self.follow_dir.display().to_string(),
            "--ports.cluster-service-config".into(),
            self.service.config_path().display().to_string(),
            "--ports.kubo-config".into(),
            self.kubo.config_path().display().to_string(),
            "--follow.refresh-interval".into(),
            "1s".into(),
        ]
    }

    /// Every daemon's log tail, for failure messages.
    pub fn logs(&self) -> String {
        [
            &self.follower.daemon,
            &self.service.daemon,
            &self.kubo.daemon,
        ]
        .iter()
        .map(|d| d.log_tail())
        .collect::<Vec<_>>()
        .join("\n")
    }
}
