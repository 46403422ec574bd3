//! The ports check on real sockets: listeners held by another process (a python3 helper), found
//! over netlink and through the /proc/net fallback, owners from /proc/<pid>/fd, and conflicts
//! decided from them and from config files. Every plan is made both ways and must agree.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lotus_follow_exporter::checks::ports::claims::lotus::LISTEN_ENV;
use lotus_follow_exporter::checks::ports::listeners::{
    name_holders, read_listening_sockets, Listener,
};
use lotus_follow_exporter::checks::ports::{
    assemble_with, FollowerClaims, PortEntry, PortsCheck, PortsConfig, PortsObservation,
    PortsReport, PortsSection, SocketReader, CHECK_LISTENERS, SOURCE_CONFIG_FILE,
    SOURCE_DAEMON_ENVIRONMENT, SOURCE_DAEMON_FLAG,
};
use lotus_follow_exporter::contract::CheckStatus;
use lotus_follow_exporter::exporter::snapshot::Snapshot;
use lotus_follow_exporter::host::process::{scan, scan_cached, ProcessCache, ProcessTable};
use lotus_follow_exporter::net::multiaddr::Transport;
use tokio::time::Instant;

/// Binds a TCP listener (on `$HOLD_TCP_PORT` when set) and a UDP socket on 127.0.0.1, prints
/// both ports, holds them until stdin closes.
const HOLD_PORTS: &str = r#"
import os, socket, sys
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.bind(("127.0.0.1", int(os.environ.get("HOLD_TCP_PORT", "0"))))
t.listen()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
print(t.getsockname()[1], u.getsockname()[1], flush=True)
for line in sys.stdin:
    if line.strip() == "close-tcp":
        t.close()
        print("closed", flush=True)
"#;

/// Both ways of reading the socket tables.
const READERS: [SocketReader; 2] = [SocketReader::Netlink, SocketReader::ProcNet];

/// A helper process holding one TCP and one UDP port; killed when dropped.
struct PortHolder {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    tcp: u16,
    udp: u16,
}

impl PortHolder {
    /// Run the helper as `program` (python3, or a symlink to it under another name).
    fn start(program: &Path) -> PortHolder {
        PortHolder::start_with(program, &[])
    }

    /// [`start`](Self::start) with more arguments after the script (`c run` makes a symlink named
    /// ipfs-cluster-follow look like `ipfs-cluster-follow c run`).
    fn start_with(program: &Path, args: &[&str]) -> PortHolder {
        PortHolder::start_with_env(program, args, &[])
    }

    /// [`start_with`](Self::start_with) with these environment variables set.
    fn start_with_env(program: &Path, args: &[&str], env: &[(&str, String)]) -> PortHolder {
        let mut child = Command::new(program)
            .args(["-c", HOLD_PORTS])
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("these tests need python3 ({}): {e}", program.display()));
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        stdout
            .read_line(&mut line)
            .expect("helper prints its ports");
        let ports: Vec<u16> = line
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(ports.len(), 2, "helper said {line:?}");
        PortHolder {
            child,
            stdout,
            tcp: ports[0],
            udp: ports[1],
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Close the TCP listener (the process lives on); returns once the helper says it is closed.
    fn close_tcp(&mut self) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("piped stdin");
        stdin.write_all(b"close-tcp\n").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "closed");
    }

    /// Kill the helper and reap it.
    fn exit(mut self) -> u32 {
        let pid = self.pid();
        let _ = self.child.kill();
        let _ = self.child.wait();
        pid
    }
}

impl Drop for PortHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real python interpreter (not a pyenv shim), so a symlink to it can carry another name.
fn real_python() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("these tests need python3 on PATH");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A copy of python3 named like ipfs-cluster-service (a symlink: argv[0] carries the name).
fn python_named(dir: &Path, name: &str) -> PathBuf {
    let link = dir.join(name);
    std::os::unix::fs::symlink(real_python(), &link).unwrap();
    link
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

async fn process_table() -> Arc<ProcessTable> {
    Arc::new(scan(deadline()).await.expect("/proc is readable"))
}

fn find(listeners: &[Listener], protocol: Transport, port: u16) -> &Listener {
    listeners
        .iter()
        .find(|l| l.protocol == protocol && l.port == port)
        .unwrap_or_else(|| panic!("no {protocol}/{port} listener in {listeners:?}"))
}

/// A config dir with no config at all, except what `files` writes.
fn config(dir: &Path, files: &[(&str, String)], own_listen: Vec<String>) -> PortsConfig {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    PortsConfig {
        cluster_service_config: dir.join("service.json"),
        lotus_config: dir.join("config.toml"),
        lotus_api: None,
        kubo_config: dir.join("config"),
        own_listen,
    }
}

/// The plan made over netlink and over the /proc/net fallback; both must agree.
async fn plan(config: PortsConfig, followers: &[FollowerClaims]) -> PortsReport {
    plan_with(config, followers, process_table().await).await
}

/// [`plan`] with this process table.
async fn plan_with(
    config: PortsConfig,
    followers: &[FollowerClaims],
    procs: Arc<ProcessTable>,
) -> PortsReport {
    let mut reports = Vec::new();
    for reader in READERS {
        let check = PortsCheck::new(config.clone()).with_socket_reader(reader);
        let observation = check.observe(deadline(), procs.clone()).await;
        assert_source(&observation, reader);
        reports.push(assemble_with(observation, followers));
    }
    let proc_net = reports.pop().unwrap();
    let netlink = reports.pop().unwrap();
    assert_eq!(
        netlink.entries, proc_net.entries,
        "netlink and /proc/net disagree"
    );
    netlink
}

/// The listeners check succeeded, and read the tables the way it was asked to.
fn assert_source(observation: &PortsObservation, reader: SocketReader) {
    let listeners = observation
        .checks
        .iter()
        .find(|c| c.check == CHECK_LISTENERS)
        .expect("listeners check ran");
    assert_eq!(listeners.status, CheckStatus::Ok);
    let source = observation.listener_source.clone().expect("a source");
    let expected = match reader {
        SocketReader::Netlink => "netlink",
        SocketReader::ProcNet => "/proc/net",
    };
    assert_eq!(source.name(), expected, "{source:?}");
    assert_eq!(source.fallback_reason, None, "{source:?}");
}

fn metrics(report: PortsReport) -> String {
    let section = PortsSection {
        report,
        ..PortsSection::default()
    };
    let snapshot = Snapshot::new(SystemTime::now(), vec![Box::new(section)], Duration::ZERO);
    lotus_follow_exporter::render::prometheus::render(&snapshot)
}

#[tokio::test]
async fn finds_listeners_held_by_another_process_with_their_owner() {
    let holder = PortHolder::start(Path::new("python3"));
    let procs = process_table().await;
    for reader in READERS {
        let scan =
            read_listening_sockets(Path::new("/proc"), reader).expect("sockets are readable");
        let listeners = name_holders(&scan, &procs, std::process::id());
        assert_owned_by_python(&listeners, &holder);
    }
}

fn assert_owned_by_python(listeners: &[Listener], holder: &PortHolder) {
    for protocol in [Transport::Tcp, Transport::Udp] {
        let port = if protocol == Transport::Tcp {
            holder.tcp
        } else {
            holder.udp
        };
        let listener = find(listeners, protocol, port);
        assert_eq!(
            listener.address,
            "127.0.0.1".parse::<std::net::IpAddr>().unwrap()
        );
        assert_eq!(listener.holders.len(), 1, "{listener:?}");
        let owner = &listener.holders[0];
        assert_eq!(owner.pid, holder.pid());
        assert!(owner.program.starts_with("python"), "{owner:?}");
        assert_eq!(owner.service, None, "python is no service of the plan");
    }
}

#[tokio::test]
async fn an_outsider_holding_a_claimed_port_is_shown_not_a_conflict() {
    let holder = PortHolder::start(Path::new("python3"));
    let dir = tempfile::tempdir().unwrap();
    let kubo = format!(
        r#"{{"Addresses": {{"API": "/ip4/127.0.0.1/tcp/{}", "Swarm": ["/ip4/0.0.0.0/udp/{}/quic-v1"]}}}}"#,
        holder.tcp, holder.udp
    );
    let report = plan(config(dir.path(), &[("config", kubo)], vec![]), &[]).await;

    assert_eq!(report.entries.len(), 2, "{:?}", report.entries);
    for entry in &report.entries {
        assert!(!entry.conflict, "{entry:?}");
        let names = entry.listeners.clone().expect("listeners were read");
        assert_eq!(names.len(), 1, "{entry:?}");
        assert!(names[0].starts_with("python"), "{entry:?}");
    }
    let text = metrics(report);
    assert!(
        text.contains(&format!(
            "port_conflict{{port=\"{}\",protocol=\"tcp\"}} 0",
            holder.tcp
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "port_conflict{{port=\"{}\",protocol=\"udp\"}} 0",
            holder.udp
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "port_listener_info{{port=\"{}\",protocol=\"tcp\",process=\"python",
            holder.tcp
        )),
        "{text}"
    );
}

#[tokio::test]
async fn follow_api_on_a_port_ipfs_cluster_service_holds_is_a_conflict() {
    // The 9097 trap on a free port: ipfs-cluster-service's pinsvcapi is configured and really
    // listening where a follower's API is expected.
    let dir = tempfile::tempdir().unwrap();
    let service = PortHolder::start(&python_named(dir.path(), "ipfs-cluster-service"));
    let service_json = format!(
        r#"{{"api": {{"pinsvcapi": {{"http_listen_multiaddress": "/ip4/127.0.0.1/tcp/{}"}}}}}}"#,
        service.tcp
    );
    let follower = FollowerClaims {
        cluster_name: "mycluster".into(),
        api: Some(("127.0.0.1".to_string(), service.tcp)),
        swarm_addresses: vec![],
        pid: None,
        untrusted_user: None,
    };
    let report = plan(
        config(dir.path(), &[("service.json", service_json)], vec![]),
        std::slice::from_ref(&follower),
    )
    .await;

    let entry = report
        .entries
        .iter()
        .find(|e| e.port == service.tcp && e.protocol == Transport::Tcp)
        .expect("the port is in the plan");
    assert!(entry.conflict);
    let reason = entry.reason.clone().unwrap();
    assert!(reason.contains("configured for both ipfs-cluster-follow:mycluster api on 127.0.0.1 and ipfs-cluster-service pinsvcapi on 127.0.0.1"), "{reason}");
    assert!(
        reason.contains(&format!(
            "held by ipfs-cluster-service (ipfs-cluster-service pid {}) on 127.0.0.1, where ipfs-cluster-follow:mycluster expects its api",
            service.pid()
        )),
        "{reason}"
    );
    assert_eq!(
        entry.listeners,
        Some(vec!["ipfs-cluster-service".to_string()])
    );
    let text = metrics(report);
    assert!(
        text.contains(&format!(
            "port_conflict{{port=\"{}\",protocol=\"tcp\"}} 1",
            service.tcp
        )),
        "{text}"
    );

    // Without service.json the claim is gone, but the port is still held: a runtime conflict alone.
    std::fs::remove_file(dir.path().join("service.json")).unwrap();
    let report = plan(config(dir.path(), &[], vec![]), &[follower]).await;
    assert_eq!(report.entries.len(), 1);
    let reason = report.entries[0].reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("held by ipfs-cluster-service"),
        "{reason}"
    );
}

#[tokio::test]
async fn this_exporter_holding_its_own_port_is_no_conflict_but_a_second_claim_is() {
    let own = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = own.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let report = plan(
        config(dir.path(), &[], vec![format!("127.0.0.1:{port}")]),
        &[],
    )
    .await;
    assert_eq!(report.entries.len(), 1);
    assert!(!report.entries[0].conflict, "{:?}", report.entries[0]);
    assert_eq!(report.entries[0].listeners.as_ref().map(Vec::len), Some(1));

    let lotus = format!("[API]\nListenAddress = \"/ip4/0.0.0.0/tcp/{port}/http\"\n");
    let report = plan(
        config(
            dir.path(),
            &[("config.toml", lotus)],
            vec![format!(":{port}")],
        ),
        &[],
    )
    .await;
    let reason = report.entries[0].reason.clone().unwrap_or_default();
    assert!(
        reason.contains(
            "configured for both lotus api on 0.0.0.0 and lotus-follow-exporter metrics on *"
        ),
        "{reason}"
    );
    assert!(reason.contains("held by lotus-follow-exporter"), "{reason}");
    drop(own);
}

#[tokio::test]
async fn malformed_configs_fail_their_check_without_stopping_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("service.json", "{\"api\": ".to_string()),
        ("config.toml", "[API\n".to_string()),
        (
            "config",
            std::fs::read_to_string("tests/data/kubo-config.json").unwrap(),
        ),
    ];
    let report = plan(config(dir.path(), &files, vec![]), &[]).await;
    let failures: Vec<String> = report
        .checks
        .iter()
        .filter_map(|c| c.error_line())
        .collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(
        failures[0].starts_with("ports_cluster_service_config: ")
            && failures[0].contains("service.json"),
        "{failures:?}"
    );
    assert!(
        failures[1].starts_with("ports_lotus_config: ") && failures[1].contains("config.toml"),
        "{failures:?}"
    );
    // Kubo's claims are still there.
    let ports: Vec<u16> = report.entries.iter().map(|e| e.port).collect();
    assert_eq!(ports, [4001, 4001, 5001, 8080]);
}

#[tokio::test]
async fn a_followers_own_process_holding_its_swarm_port_is_no_conflict_whatever_its_label() {
    // `--follow.api mycluster=...` names the follower that runs as `ipfs-cluster-follow c run`:
    // the labels differ, the process is the same (matched by discovery, carried as the pid).
    let dir = tempfile::tempdir().unwrap();
    let follow = PortHolder::start_with(
        &python_named(dir.path(), "ipfs-cluster-follow"),
        &["c", "run"],
    );
    let claims = |pid| FollowerClaims {
        cluster_name: "mycluster".into(),
        api: None,
        swarm_addresses: vec![format!(
            "/ip4/127.0.0.1/tcp/{}/p2p/12D3KooWPeer",
            follow.tcp
        )],
        pid,
        untrusted_user: None,
    };
    let entry_of = |report: PortsReport| {
        report
            .entries
            .into_iter()
            .find(|e| e.port == follow.tcp && e.protocol == Transport::Tcp)
            .expect("the swarm port is in the plan")
    };
    let matched = entry_of(
        plan(
            config(dir.path(), &[], vec![]),
            &[claims(Some(follow.pid()))],
        )
        .await,
    );
    assert!(!matched.conflict, "{:?}", matched.reason);
    assert_eq!(
        matched.listeners,
        Some(vec!["ipfs-cluster-follow".to_string()])
    );

    // Without the link, the label alone cannot tell: this is the false conflict the pid prevents.
    let unmatched = entry_of(plan(config(dir.path(), &[], vec![]), &[claims(None)]).await);
    let reason = unmatched.reason.unwrap_or_default();
    assert!(reason.contains("held by ipfs-cluster-follow:c"), "{reason}");
}

/// The listeners seen on `port` by one run of `check`, with the process table of `cache`.
async fn listening_on(
    check: &PortsCheck,
    cache: &Arc<std::sync::Mutex<ProcessCache>>,
    protocol: Transport,
    port: u16,
) -> (Vec<Listener>, Arc<ProcessTable>) {
    let procs = Arc::new(scan_cached(deadline(), cache.clone()).await.unwrap());
    let observation = check.observe(deadline(), procs.clone()).await;
    let listeners = observation.listeners.expect("listeners were read");
    let on_port = listeners
        .into_iter()
        .filter(|l| l.protocol == protocol && l.port == port)
        .collect();
    (on_port, procs)
}

#[tokio::test]
async fn a_closed_listener_and_an_exited_process_are_gone_from_the_very_next_scrape() {
    for reader in READERS {
        // One check and one process cache across scrapes, as the collector keeps them.
        let check = PortsCheck::new(PortsConfig::default()).with_socket_reader(reader);
        let cache = Arc::default();
        let mut closing = PortHolder::start(Path::new("python3"));
        let exiting = PortHolder::start(Path::new("python3"));
        for holder in [&closing, &exiting] {
            let (found, procs) = listening_on(&check, &cache, Transport::Tcp, holder.tcp).await;
            assert_eq!(found.len(), 1, "{reader:?}: {found:?}");
            assert_eq!(found[0].holders[0].pid, holder.pid());
            assert!(procs.get(holder.pid()).is_some());
        }
        // Seen twice, so every cache now knows them.
        listening_on(&check, &cache, Transport::Tcp, closing.tcp).await;

        closing.close_tcp();
        let (found, procs) = listening_on(&check, &cache, Transport::Tcp, closing.tcp).await;
        assert!(
            found.is_empty(),
            "{reader:?}: closed, still seen: {found:?}"
        );
        assert!(procs.get(closing.pid()).is_some(), "the process lives on");
        let (udp, _) = listening_on(&check, &cache, Transport::Udp, closing.udp).await;
        assert_eq!(udp.len(), 1, "its UDP socket is still open");

        let (tcp, udp) = (exiting.tcp, exiting.udp);
        let pid = exiting.exit();
        let (found, procs) = listening_on(&check, &cache, Transport::Tcp, tcp).await;
        assert!(
            found.is_empty(),
            "{reader:?}: exited, still seen: {found:?}"
        );
        let (found, _) = listening_on(&check, &cache, Transport::Udp, udp).await;
        assert!(
            found.is_empty(),
            "{reader:?}: exited, still seen: {found:?}"
        );
        assert!(procs.get(pid).is_none(), "an exited process left the table");
    }
}

/// A TCP port nothing listens on now (bound, then released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The entry of `port`/tcp in the plan.
fn tcp_entry(report: &PortsReport, port: u16) -> Option<&PortEntry> {
    report
        .entries
        .iter()
        .find(|e| e.port == port && e.protocol == Transport::Tcp)
}

/// The process table of now, where `holder` runs `argv` (`lotus daemon ...`) as far as the
/// exporter can tell: the real helper stays a python3, so no other test running at the same
/// time sees a `lotus daemon` on this host.
async fn running_as(holder: &PortHolder, argv: &[&str]) -> Arc<ProcessTable> {
    let mut table = scan(deadline()).await.expect("/proc is readable");
    let process = table
        .processes
        .iter_mut()
        .find(|p| p.pid == holder.pid())
        .expect("the helper is in the process table");
    process.argv = argv.iter().map(|a| a.to_string()).collect();
    process.comm = "lotus".into();
    Arc::new(table)
}

#[tokio::test]
async fn the_lotus_api_is_claimed_where_the_running_daemon_really_listens() {
    // A `lotus daemon` of this repo started with `--api P`, while config.toml says another port
    // Q: Lotus listens on 127.0.0.1:P (since v1.36.1 it warns so, lotus #13670), and so does the
    // plan, naming the flag and the address it overrides. Its environment, and the socket it
    // holds, are a real process's (a python3 helper).
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().display().to_string();
    let python = real_python();
    let (api, in_file) = (free_port(), free_port());
    let file = format!("[API]\nListenAddress = \"/ip4/127.0.0.1/tcp/{in_file}/http\"\n");
    let api_text = api.to_string();
    let daemon = PortHolder::start_with_env(&python, &[], &[("HOLD_TCP_PORT", api_text.clone())]);
    assert_eq!(daemon.tcp, api);
    let argv = ["lotus", "--repo", &repo, "daemon", "--api", &api_text];
    let procs = running_as(&daemon, &argv).await;
    let with_file = config(dir.path(), &[("config.toml", file.clone())], vec![]);
    let report = plan_with(with_file.clone(), &[], procs).await;
    assert!(
        tcp_entry(&report, in_file).is_none(),
        "{:?}",
        report.entries
    );
    let entry = tcp_entry(&report, api).expect("the --api port is claimed");
    assert!(!entry.conflict, "{entry:?}");
    assert_eq!(entry.listeners, Some(vec!["lotus".to_string()]));
    let source = entry.claims[0].source.clone().expect("a source");
    assert_eq!(source.kind, SOURCE_DAEMON_FLAG);
    let expected = format!(
        "lotus daemon --api {api} (pid {}), overriding API.ListenAddress /ip4/127.0.0.1/tcp/{in_file}/http of ",
        daemon.pid()
    );
    assert!(source.text.starts_with(&expected), "{}", source.text);
    let text = metrics(report);
    let series = format!(
        "port_claim_info{{port=\"{api}\",protocol=\"tcp\",service=\"lotus\",role=\"api\",address=\"127.0.0.1\",source=\"daemon_flag\"}} 1"
    );
    assert!(text.contains(&series), "{text}");
    drop(daemon);

    // Told by LOTUS_API_LISTENADDRESS in its environment (LOTUS_PATH naming the repo): the
    // environment of a process of this user is read.
    let api = free_port();
    let daemon = PortHolder::start_with_env(
        &python,
        &[],
        &[
            ("HOLD_TCP_PORT", api.to_string()),
            ("LOTUS_PATH", repo.clone()),
            (LISTEN_ENV, format!("/ip4/127.0.0.1/tcp/{api}/http")),
        ],
    );
    let procs = running_as(&daemon, &["/usr/local/bin/lotus", "daemon"]).await;
    let report = plan_with(with_file.clone(), &[], procs.clone()).await;
    assert!(
        tcp_entry(&report, in_file).is_none(),
        "{:?}",
        report.entries
    );
    let entry = tcp_entry(&report, api).expect("the environment's port is claimed");
    assert_eq!(entry.listeners, Some(vec!["lotus".to_string()]));
    let source = entry.claims[0].source.clone().expect("a source");
    assert_eq!(source.kind, SOURCE_DAEMON_ENVIRONMENT);
    let expected = format!(
        "{LISTEN_ENV} of lotus daemon (pid {}), overriding",
        daemon.pid()
    );
    assert!(source.text.starts_with(&expected), "{}", source.text);

    // The same daemon is another repo's for a config.toml elsewhere: that file's port is the
    // claim there, and nothing listens on it.
    let other = tempfile::tempdir().unwrap();
    let report = plan_with(
        config(other.path(), &[("config.toml", file)], vec![]),
        &[],
        procs,
    )
    .await;
    assert!(tcp_entry(&report, api).is_none(), "{:?}", report.entries);
    let entry = tcp_entry(&report, in_file).expect("config.toml's port is claimed");
    assert_eq!(entry.listeners, Some(vec![]));
    let source = entry.claims[0].source.clone().expect("a source");
    assert_eq!(source.kind, SOURCE_CONFIG_FILE);
    assert_eq!(
        entry.reason, None,
        "not this repo's daemon: nothing said of it"
    );
    drop(daemon);

    // Nothing this user can read overrides config.toml (as when the daemon's environment is
    // another user's and it wrote no api file), yet the daemon listens elsewhere: what really
    // listens is said on the claimed port, as a note, not a conflict.
    let api = free_port();
    let daemon = PortHolder::start_with_env(&python, &[], &[("HOLD_TCP_PORT", api.to_string())]);
    let procs = running_as(&daemon, &["lotus", "--repo", &repo, "daemon"]).await;
    let report = plan_with(with_file, &[], procs).await;
    let entry = tcp_entry(&report, in_file).expect("config.toml's port is claimed");
    assert!(!entry.conflict, "{entry:?}");
    let reason = entry.reason.clone().unwrap_or_default();
    let expected = format!(
        "lotus daemon (pid {}) does not listen on this port; it listens on tcp 127.0.0.1:{api}",
        daemon.pid()
    );
    assert!(reason.starts_with(&expected), "{reason}");

    // The same daemon as another user's (neither root, the exporter's nor the repo's owner):
    // anyone may call a process `lotus daemon --repo <repo> --api <port>`, so it is not heard.
    let mut table = (*running_as(&daemon, &argv).await).clone();
    let stranger = table
        .processes
        .iter_mut()
        .find(|p| p.pid == daemon.pid())
        .expect("the helper is in the process table");
    stranger.uid = Some(4_000_000);
    let report = plan_with(config(dir.path(), &[], vec![]), &[], Arc::new(table)).await;
    let entry = tcp_entry(&report, in_file).expect("config.toml's port is claimed");
    let source = entry.claims[0].source.clone().expect("a source");
    assert_eq!(source.kind, SOURCE_CONFIG_FILE);
    assert!(
        source.text.contains("of uid 4000000 is not heard"),
        "{}",
        source.text
    );
    assert!(
        tcp_entry(&report, daemon.tcp).is_none(),
        "{:?}",
        report.entries
    );
}
