//! Who really listens: listening sockets from the kernel over netlink ([`super::sock_diag`]), or
//! from `/proc/net/{tcp,tcp6,udp,udp6}` where netlink is refused, and their owning processes
//! ([`super::owners`]).
//!
//! The line parsers are pure; [`read_listening_sockets`] is the blocking reader over a
//! `/proc`-shaped root. A socket whose owner cannot be seen (another user's process and no
//! `CAP_SYS_PTRACE`) keeps an empty holder list, shown as `unknown`.
//!
//! # Caveats
//! The kernel prints addresses as the raw 32-bit words of the network-order address in the
//! machine's byte order, so the hex is decoded with native endianness.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

pub use super::owners::{read_socket_owners, socket_inode, OwnerCache, OWNER_CACHE_TTL};
use super::sock_diag::{self, SockDiag};
use super::socket::listening_state;
pub use super::socket::Socket;
use super::{SERVICE_CLUSTER, SERVICE_EXPORTER, SERVICE_FOLLOW, SERVICE_KUBO, SERVICE_LOTUS};
use crate::host::files::ReadError;
use crate::host::process::{follow_cluster_name, ProcessInfo, ProcessTable};
use crate::net::multiaddr::Transport;

/// Where the real process and socket tables live.
pub const PROC_ROOT: &str = "/proc";

/// The largest `/proc/net/*` table read (a busy host with 100k sockets is ~15 MiB for tcp).
pub const MAX_PROC_NET_BYTES: u64 = 16 * 1024 * 1024;

/// A process holding a listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// The program name (`argv[0]`'s file name, or `comm`).
    pub program: String,
    /// The plan's service this program is (`lotus`, `kubo`, ...), `None` for anything else.
    pub service: Option<String>,
}

/// One listening socket and who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub protocol: Transport,
    pub address: IpAddr,
    pub port: u16,
    /// The processes holding it; empty when the owner cannot be seen.
    pub holders: Vec<Holder>,
}

/// Why a `/proc/net` line was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("too few fields")]
    TooFewFields,
    #[error("bad address {0:?}")]
    Address(String),
    #[error("bad state {0:?}")]
    State(String),
    #[error("bad inode {0:?}")]
    Inode(String),
}

/// Why the socket tables could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ListenersError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: ReadError },
}

/// The listening sockets with the pids owning each inode.
#[derive(Debug, Clone, Default)]
pub struct ListeningScan {
    pub sockets: Vec<Socket>,
    /// Socket inode -> pids holding it.
    pub owners: HashMap<u64, Vec<u32>>,
    /// The owners as read during the scan, for pids the shared process table does not know.
    pub processes: HashMap<u32, ProcessInfo>,
    /// Where the socket tables were read.
    pub source: SocketSource,
}

// ---------------------------------------------------------------------------------------------
// Pure parsers

/// Parse one `/proc/net/{tcp,tcp6,udp,udp6}` line; `Ok(None)` for the header and for sockets
/// that do not listen (connected TCP, connected UDP).
pub fn parse_line(line: &str, protocol: Transport) -> Result<Option<Socket>, LineError> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.first() == Some(&"sl") {
        return Ok(None);
    }
    let [_slot, local, remote, state, _queues, _timer, _retransmits, _uid, _timeout, inode, ..] =
        fields.as_slice()
    else {
        return Err(LineError::TooFewFields);
    };
    let state = u8::from_str_radix(state, 16).map_err(|_| LineError::State(state.to_string()))?;
    let (address, port) =
        parse_endpoint(local).ok_or_else(|| LineError::Address(local.to_string()))?;
    let (_, remote_port) =
        parse_endpoint(remote).ok_or_else(|| LineError::Address(remote.to_string()))?;
    let inode: u64 = inode
        .parse()
        .map_err(|_| LineError::Inode(inode.to_string()))?;
    let listening =
        state == listening_state(protocol) && (protocol == Transport::Tcp || remote_port == 0);
    Ok(listening.then_some(Socket {
        protocol,
        address,
        port,
        inode,
    }))
}

/// Every listening socket of one table; malformed lines are skipped and counted.
pub fn parse_table(text: &str, protocol: Transport) -> (Vec<Socket>, usize) {
    let mut sockets = Vec::new();
    let mut malformed = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        // Most lines of a busy host are connections (and TIME_WAIT): skip them on the state
        // field alone, before the full parse.
        let state = line.split_whitespace().nth(3);
        if let Some(state) = state.and_then(|s| u8::from_str_radix(s, 16).ok()) {
            if state != listening_state(protocol) {
                continue;
            }
        }
        match parse_line(line, protocol) {
            Ok(Some(socket)) => sockets.push(socket),
            Ok(None) => {}
            Err(_) => malformed += 1,
        }
    }
    (sockets, malformed)
}

/// `0100007F:0CEA` -> (127.0.0.1, 3306); 32 hex digits for IPv6.
pub fn parse_endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let address = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(hex_word(addr)?)),
        32 => {
            let mut octets = [0u8; 16];
            for (i, chunk) in octets.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&hex_word(addr.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets)).to_canonical()
        }
        _ => return None,
    };
    Some((address, port))
}

/// Eight hex digits, printed by the kernel from a native-endian 32-bit word, as network-order bytes.
fn hex_word(hex: &str) -> Option<[u8; 4]> {
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes)
}

/// The plan's service a process is, by program name; this exporter also by its pid.
pub fn service_of(process: &ProcessInfo, own_pid: u32) -> Option<String> {
    if process.pid == own_pid {
        return Some(SERVICE_EXPORTER.into());
    }
    let service = match process.program() {
        "lotus" => SERVICE_LOTUS.to_string(),
        "ipfs" => SERVICE_KUBO.to_string(),
        "ipfs-cluster-service" => SERVICE_CLUSTER.to_string(),
        "lotus-follow-exporter" => SERVICE_EXPORTER.to_string(),
        "ipfs-cluster-follow" => match follow_cluster_name(&process.argv) {
            Some(name) => format!("{SERVICE_FOLLOW}:{name}"),
            None => SERVICE_FOLLOW.to_string(),
        },
        _ => return None,
    };
    Some(service)
}

/// Attach the owning processes to each socket (pure over the scan and the process table).
pub fn name_holders(scan: &ListeningScan, procs: &ProcessTable, own_pid: u32) -> Vec<Listener> {
    scan.sockets
        .iter()
        .map(|socket| {
            let holders = scan
                .owners
                .get(&socket.inode)
                .into_iter()
                .flatten()
                .map(|pid| holder(*pid, procs.get(*pid).or(scan.processes.get(pid)), own_pid))
                .collect();
            Listener {
                protocol: socket.protocol,
                address: socket.address,
                port: socket.port,
                holders,
            }
        })
        .collect()
}

/// Who listens on TCP `port` where a client on this host connecting to `host` would arrive (a
/// loopback or wildcard socket, or `host`'s own address): program names, sorted, each once;
/// `unknown` for a socket whose owner cannot be seen. Empty when nothing listens there.
pub fn tcp_listeners_for(listeners: &[Listener], host: Option<IpAddr>, port: u16) -> Vec<String> {
    let here: Vec<&Listener> = listeners
        .iter()
        .filter(|l| l.protocol == Transport::Tcp && l.port == port)
        .filter(|l| {
            l.address.is_loopback() || l.address.is_unspecified() || Some(l.address) == host
        })
        .collect();
    super::conflicts::listener_names(&here)
}

fn holder(pid: u32, process: Option<&ProcessInfo>, own_pid: u32) -> Holder {
    match process {
        Some(process) => Holder {
            pid,
            program: process.program().to_string(),
            service: service_of(process, own_pid),
        },
        None => Holder {
            pid,
            program: format!("pid {pid}"),
            service: (pid == own_pid).then(|| SERVICE_EXPORTER.to_string()),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Blocking readers

/// How the socket tables are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SocketReader {
    /// Over netlink (`NETLINK_SOCK_DIAG`), and from `/proc/net` for any table it refuses.
    #[default]
    Netlink,
    /// From `<root>/net/{tcp,tcp6,udp,udp6}` only (a fake `/proc` tree, or to test the fallback).
    ProcNet,
}

/// Which reader answered a scan, table by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketSource {
    /// The tables read over netlink (`tcp`, `tcp6`, `udp`, `udp6`).
    pub netlink: Vec<&'static str>,
    /// The tables read from `/proc/net`.
    pub proc_net: Vec<&'static str>,
    /// Why netlink was not used for the `/proc/net` tables (`None` when the fallback was asked for).
    pub fallback_reason: Option<String>,
}

impl SocketSource {
    /// `netlink`, `/proc/net`, or `netlink and /proc/net` when some tables were refused.
    pub fn name(&self) -> &'static str {
        match (self.netlink.is_empty(), self.proc_net.is_empty()) {
            (false, true) => "netlink",
            (true, _) => "/proc/net",
            (false, false) => "netlink and /proc/net",
        }
    }
}

/// Blocking: every listening socket of the host and its owners, nothing remembered.
pub fn read_listening_sockets(
    root: &Path,
    reader: SocketReader,
) -> Result<ListeningScan, ListenersError> {
    read_listening_sockets_cached(
        root,
        reader,
        &mut OwnerCache::default(),
        &ProcessTable::default(),
    )
}

/// Blocking: every listening socket (from the kernel over netlink, or `<root>/net`) and its
/// owners under `<root>`, searching the fd folders only for sockets `cache` has not seen; the
/// owners' command lines are read for pids `procs` does not know.
pub fn read_listening_sockets_cached(
    root: &Path,
    reader: SocketReader,
    cache: &mut OwnerCache,
    procs: &ProcessTable,
) -> Result<ListeningScan, ListenersError> {
    let (sockets, source) = read_sockets(root, reader)?;
    let inodes: HashSet<u64> = sockets.iter().map(|s| s.inode).collect();
    // The known services' processes first, this user's before others'.
    let own_uid = crate::host::permissions::own_uid();
    let own_pid = std::process::id();
    let mut preferred: Vec<&ProcessInfo> = procs
        .processes
        .iter()
        .filter(|p| service_of(p, own_pid).is_some())
        .collect();
    preferred.sort_by_key(|p| (p.uid != Some(own_uid), p.pid));
    let preferred: Vec<u32> = preferred.iter().map(|p| p.pid).collect();
    let owners = cache.owners_preferring(root, &inodes, &preferred);
    let processes = owners
        .values()
        .flatten()
        .filter(|pid| procs.get(**pid).is_none())
        .filter_map(|pid| read_process(root, *pid).map(|p| (*pid, p)))
        .collect();
    Ok(ListeningScan {
        sockets,
        owners,
        processes,
        source,
    })
}

/// Blocking: the listening sockets of the four tables (no owners), and where each was read.
pub fn read_sockets(
    root: &Path,
    reader: SocketReader,
) -> Result<(Vec<Socket>, SocketSource), ListenersError> {
    let mut source = SocketSource::default();
    let mut refusals = Vec::new();
    let mut diag = match reader {
        SocketReader::ProcNet => None,
        SocketReader::Netlink => match SockDiag::reuse_or_open() {
            Ok(diag) => Some(diag),
            Err(err) => {
                refusals.push(format!("{err}{}", open_refusal_hint(&err)));
                None
            }
        },
    };
    let mut sockets = Vec::new();
    let mut answered = 0;
    for table in sock_diag::TABLES {
        if let Some(diag) = diag.as_mut() {
            match diag.listening(table) {
                Ok(found) => {
                    sockets.extend(found);
                    source.netlink.push(table.name);
                    answered += 1;
                    continue;
                }
                Err(err) => refusals.push(err.to_string()),
            }
        }
        source.proc_net.push(table.name);
        let path = root.join("net").join(table.name);
        // A kernel without IPv6 has no tcp6/udp6: nothing listens there.
        let Some(text) = read_table(&path)? else {
            continue;
        };
        let (found, malformed) = parse_table(&text, table.protocol);
        if malformed > 0 {
            log::debug!("{}: skipped {malformed} unreadable lines", path.display());
        }
        sockets.extend(found);
    }
    if let Some(diag) = diag.filter(|_| answered == sock_diag::TABLES.len()) {
        diag.give_back();
    }
    if !refusals.is_empty() {
        let reason = refusals.join("; ");
        log_fallback(&reason);
        source.fallback_reason = Some(reason);
    }
    Ok((sockets, source))
}

/// What to change when the netlink socket itself is refused: systemd's
/// `RestrictAddressFamilies=` without `AF_NETLINK` makes socket(2) fail with EAFNOSUPPORT (a
/// seccomp filter or an LSM may answer EPERM or EACCES).
fn open_refusal_hint(err: &sock_diag::SockDiagError) -> &'static str {
    let sock_diag::SockDiagError::Open(io) = err else {
        return "";
    };
    match io.raw_os_error() {
        Some(libc::EAFNOSUPPORT | libc::EPERM | libc::EACCES) => {
            "; under systemd, add AF_NETLINK to the unit's RestrictAddressFamilies= (the shipped unit lists it)"
        }
        _ => "",
    }
}

/// Set once the netlink fallback has been logged at `warn`.
static FALLBACK_LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn log_fallback(reason: &str) {
    use std::sync::atomic::Ordering;
    if FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
        log::debug!("listening sockets read from /proc/net: {reason}");
    } else {
        log::warn!(
            "listening sockets read from /proc/net, which costs more on a busy host: {reason} \
             (logged once)"
        );
    }
}

fn read_table(path: &Path) -> Result<Option<String>, ListenersError> {
    crate::host::files::read_capped(path, MAX_PROC_NET_BYTES)
        .map(|raw| raw.map(|raw| String::from_utf8_lossy(&raw).into_owned()))
        .map_err(|source| ListenersError::Read {
            path: path.to_path_buf(),
            source,
        })
}

fn read_process(root: &Path, pid: u32) -> Option<ProcessInfo> {
    crate::host::process::read_process(&root.join(pid.to_string()), pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_who_listens_where_a_local_client_arrives() {
        let listener = |address: &str, port, holders: &[&str]| Listener {
            protocol: Transport::Tcp,
            address: ip(address),
            port,
            holders: holders
                .iter()
                .enumerate()
                .map(|(i, p)| Holder {
                    pid: i as u32 + 10,
                    program: p.to_string(),
                    service: None,
                })
                .collect(),
        };
        let table = [
            listener("0.0.0.0", 1234, &["forest"]),
            listener("::1", 1234, &["forest"]),
            listener("192.0.2.7", 1234, &["nginx"]),
            listener("127.0.0.1", 2345, &[]),
        ];
        let local = Some(ip("127.0.0.1"));
        assert_eq!(tcp_listeners_for(&table, local, 1234), ["forest"]);
        assert_eq!(tcp_listeners_for(&table, local, 2345), ["unknown"]);
        assert!(tcp_listeners_for(&table, local, 1).is_empty());
        assert_eq!(
            tcp_listeners_for(&table, Some(ip("192.0.2.7")), 1234),
            ["forest", "nginx"]
        );
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    // The hex literals below are as an x86-64 or little-endian arm64 kernel prints them.
    #[cfg(target_endian = "little")]
    #[test]
    fn parses_socket_table_lines() {
        type Expected = Result<Option<(&'static str, u16, u64)>, ()>;
        let cases: &[(&str, Transport, Expected)] = &[
            (
                "   0: 0100007F:2396 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41234 1 0000000000000000 100 0 0 10 0",
                Transport::Tcp,
                Ok(Some(("127.0.0.1", 9110, 41234))),
            ),
            (
                "   1: 00000000:2398 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 547 1 0000000076a05e54 100 0 0 10 0",
                Transport::Tcp,
                Ok(Some(("0.0.0.0", 9112, 547))),
            ),
            // An established connection is not a listener.
            (
                "   2: 0100007F:AA3C 0100007F:85F7 01 00000000:00000000 03:00000720 00000000     0        0 8812 3 00000000b5867377",
                Transport::Tcp,
                Ok(None),
            ),
            // TIME_WAIT with inode 0.
            (
                "   3: 0100007F:AA3C 0100007F:85F7 06 00000000:00000000 03:00000720 00000000     0        0 0 3 00000000b5867377",
                Transport::Tcp,
                Ok(None),
            ),
            // [::1]:1234 listening over tcp6.
            (
                "   0: 00000000000000000000000001000000:04D2 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 7001 1 0000000000000000 100 0 0 10 0",
                Transport::Tcp,
                Ok(Some(("::1", 1234, 7001))),
            ),
            // [::]:4001 (tcp6 wildcard).
            (
                "   1: 00000000000000000000000000000000:0FA1 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 7002 1 0000000000000000 100 0 0 10 0",
                Transport::Tcp,
                Ok(Some(("::", 4001, 7002))),
            ),
            // IPv4-mapped ::ffff:127.0.0.1 on tcp6 is reported as IPv4.
            (
                "   2: 0000000000000000FFFF00000100007F:2379 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 7003 1 0000000000000000 100 0 0 10 0",
                Transport::Tcp,
                Ok(Some(("127.0.0.1", 9081, 7003))),
            ),
            // fe80::1 in a udp6 table (kernel words in native order).
            (
                "  10: 000080FE000000000000000001000000:2378 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 7004 2 0000000000000000 0",
                Transport::Udp,
                Ok(Some(("fe80::1", 9080, 7004))),
            ),
            // Unconnected UDP on 0.0.0.0:9096 (QUIC).
            (
                "  385: 00000000:2388 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 20949 2 0000000000000000 0",
                Transport::Udp,
                Ok(Some(("0.0.0.0", 9096, 20949))),
            ),
            // Connected UDP (a DNS client) is not a listener.
            (
                "  386: 0A00000A:D431 08080808:0035 01 00000000:00000000 00:00000000 00000000  1000        0 20950 2 0000000000000000 0",
                Transport::Udp,
                Ok(None),
            ),
            // The header.
            (
                "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
                Transport::Tcp,
                Ok(None),
            ),
            // Malformed lines.
            ("", Transport::Tcp, Err(())),
            ("   0: 0100007F:2396 00000000:0000 0A", Transport::Tcp, Err(())),
            (
                "   0: 0100007G:2396 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 1 1",
                Transport::Tcp,
                Err(()),
            ),
            (
                "   0: 0100007F:23960 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 1 1",
                Transport::Tcp,
                Err(()),
            ),
            (
                "   0: 0100007F00:2396 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 1 1",
                Transport::Tcp,
                Err(()),
            ),
            (
                "   0: 0100007F:2396 00000000:0000 ZZ 00000000:00000000 00:00000000 00000000  1000 0 1 1",
                Transport::Tcp,
                Err(()),
            ),
            (
                "   0: 0100007F:2396 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 -1 1",
                Transport::Tcp,
                Err(()),
            ),
            (
                "   0: +100007F:2396 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 1 1",
                Transport::Tcp,
                Err(()),
            ),
        ];
        for (line, protocol, expected) in cases {
            let got = parse_line(line, *protocol)
                .map(|s| s.map(|s| (s.address, s.port, s.inode)))
                .map_err(|_| ());
            let expected =
                (*expected).map(|s| s.map(|(addr, port, inode)| (ip(addr), port, inode)));
            assert_eq!(got, expected, "{line:?}");
        }
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn a_table_skips_header_and_malformed_lines() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            \x20  0: 0100007F:2396 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41234 1 0000000000000000 100 0 0 10 0\n\
            garbage\n\
            \n";
        let (sockets, malformed) = parse_table(text, Transport::Tcp);
        assert_eq!(sockets.len(), 1);
        assert_eq!(sockets[0].port, 9110);
        assert_eq!(malformed, 1);
    }

    fn process(pid: u32, cmdline: &str) -> ProcessInfo {
        ProcessInfo {
            pid,
            argv: cmdline.split_whitespace().map(String::from).collect(),
            comm: String::new(),
            uid: None,
        }
    }

    #[test]
    fn programs_map_to_services() {
        let cases = [
            ("/usr/local/bin/lotus daemon", Some("lotus")),
            ("ipfs daemon --enable-gc", Some("kubo")),
            ("ipfs-cluster-service daemon", Some("ipfs-cluster-service")),
            (
                "ipfs-cluster-follow mycluster run",
                Some("ipfs-cluster-follow:mycluster"),
            ),
            ("ipfs-cluster-follow", Some("ipfs-cluster-follow")),
            (
                "lotus-follow-exporter --web.listen-address=:10234",
                Some("lotus-follow-exporter"),
            ),
            ("/usr/bin/docker-proxy -proto tcp", None),
            ("my-renamed-lotus daemon", None),
        ];
        for (cmdline, expected) in cases {
            assert_eq!(
                service_of(&process(10, cmdline), 1).as_deref(),
                expected,
                "{cmdline}"
            );
        }
        assert_eq!(
            service_of(&process(77, "target/debug/deps/ports-abc"), 77).as_deref(),
            Some("lotus-follow-exporter")
        );
    }

    #[test]
    fn holders_are_named_from_the_table_then_the_scan_or_unknown() {
        let socket = |inode| Socket {
            protocol: Transport::Tcp,
            address: ip("127.0.0.1"),
            port: 9097,
            inode,
        };
        let scan = ListeningScan {
            sockets: vec![socket(1), socket(2), socket(3)],
            owners: HashMap::from([(1, vec![100]), (2, vec![200, 300])]),
            processes: HashMap::from([(200, process(200, "ipfs-cluster-follow c run"))]),
            source: SocketSource::default(),
        };
        let procs = ProcessTable {
            processes: vec![process(100, "ipfs-cluster-service daemon")],
            ..ProcessTable::default()
        };
        let listeners = name_holders(&scan, &procs, 1);
        let named: Vec<Vec<(String, Option<String>)>> = listeners
            .iter()
            .map(|l| {
                l.holders
                    .iter()
                    .map(|h| (h.program.clone(), h.service.clone()))
                    .collect()
            })
            .collect();
        assert_eq!(
            named,
            vec![
                vec![(
                    "ipfs-cluster-service".to_string(),
                    Some("ipfs-cluster-service".to_string())
                )],
                vec![
                    (
                        "ipfs-cluster-follow".to_string(),
                        Some("ipfs-cluster-follow:c".to_string())
                    ),
                    ("pid 300".to_string(), None),
                ],
                vec![],
            ]
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn reads_a_fake_proc_tree() {
        let root = tempfile::tempdir().unwrap();
        let net = root.path().join("net");
        std::fs::create_dir(&net).unwrap();
        std::fs::write(
            net.join("tcp"),
            "  sl  local_address rem_address   st\n   0: 0100007F:2391 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 555 1 0 100 0 0 10 0\n",
        )
        .unwrap();
        std::fs::write(net.join("udp"), "  sl  local_address\n").unwrap();
        // No tcp6/udp6: a kernel without IPv6.
        let proc_dir = root.path().join("4242");
        std::fs::create_dir_all(proc_dir.join("fd")).unwrap();
        std::fs::write(proc_dir.join("cmdline"), b"ipfs-cluster-service\0daemon\0").unwrap();
        std::os::unix::fs::symlink("socket:[555]", proc_dir.join("fd").join("7")).unwrap();
        std::os::unix::fs::symlink("socket:[999]", proc_dir.join("fd").join("8")).unwrap();
        std::os::unix::fs::symlink("/dev/null", proc_dir.join("fd").join("0")).unwrap();

        let scan = read_listening_sockets(root.path(), SocketReader::ProcNet).unwrap();
        assert_eq!(scan.source.name(), "/proc/net");
        assert_eq!(scan.source.fallback_reason, None);
        assert_eq!(scan.sockets.len(), 1);
        assert_eq!(scan.owners.get(&555), Some(&vec![4242]));
        let listeners = name_holders(&scan, &ProcessTable::default(), 1);
        assert_eq!(listeners[0].port, 9105);
        assert_eq!(
            listeners[0].holders[0].service.as_deref(),
            Some("ipfs-cluster-service")
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn a_closed_listener_and_an_exited_owner_are_gone_from_the_next_scan() {
        let line = |inode: u64, port: u16| {
            format!("   0: 0100007F:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 {inode} 1 0 100 0 0 10 0\n")
        };
        let root = tempfile::tempdir().unwrap();
        let net = root.path().join("net");
        std::fs::create_dir(&net).unwrap();
        let fd = |pid: u32| root.path().join(pid.to_string()).join("fd");
        for pid in [10, 11] {
            std::fs::create_dir_all(fd(pid)).unwrap();
            std::fs::write(
                root.path().join(pid.to_string()).join("cmdline"),
                b"ipfs\0daemon\0",
            )
            .unwrap();
        }
        std::os::unix::fs::symlink("socket:[555]", fd(10).join("3")).unwrap();
        std::os::unix::fs::symlink("socket:[777]", fd(11).join("3")).unwrap();
        let tcp = format!("  sl\n{}{}", line(555, 9094), line(777, 9096));
        std::fs::write(net.join("tcp"), tcp).unwrap();
        let mut cache = OwnerCache::default();
        let procs = ProcessTable::default();
        let scan = |cache: &mut OwnerCache| {
            read_listening_sockets_cached(root.path(), SocketReader::ProcNet, cache, &procs)
                .unwrap()
        };
        let first = scan(&mut cache);
        assert_eq!(first.sockets.len(), 2);
        assert_eq!(
            first.processes.len(),
            2,
            "owners unknown to the table are read"
        );
        assert_eq!(cache.walks(), 1);

        // 9096 closes: gone at once, without a walk.
        std::fs::write(net.join("tcp"), format!("  sl\n{}", line(555, 9094))).unwrap();
        let second = scan(&mut cache);
        assert_eq!(second.sockets.len(), 1);
        assert!(!second.owners.contains_key(&777));
        assert_eq!(cache.walks(), 1);

        // The owner of 9094 exits (its socket is left to nobody visible): no stale owner.
        std::fs::remove_dir_all(root.path().join("10")).unwrap();
        let third = scan(&mut cache);
        assert!(third.owners.is_empty(), "{:?}", third.owners);
        assert!(name_holders(&third, &procs, 1)[0].holders.is_empty());
    }

    #[test]
    fn a_missing_tcp_table_is_fine_but_an_unreadable_one_fails() {
        let root = tempfile::tempdir().unwrap();
        assert!(read_listening_sockets(root.path(), SocketReader::ProcNet)
            .unwrap()
            .sockets
            .is_empty());
        std::fs::create_dir_all(root.path().join("net").join("tcp")).unwrap();
        let err = read_listening_sockets(root.path(), SocketReader::ProcNet)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read"), "{err}");
    }
}
