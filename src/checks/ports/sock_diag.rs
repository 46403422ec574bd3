//! Listening sockets straight from the kernel's socket-diagnostics netlink interface
//! (`NETLINK_SOCK_DIAG`, `inet_diag_req_v2`), which never walks the established-connection hash.
//!
//! Reading `/proc/net/tcp` makes the kernel print every connection (and every `TIME_WAIT`) to
//! show a handful of listeners; a dump asking for the `LISTEN` state only visits the listening
//! hash. Four dumps are asked, one per (family, protocol): TCP in `LISTEN`, UDP in `CLOSE`
//! (bound, unconnected: what `/proc/net/udp` shows as `07`). Packets are built and read with the
//! rust-netlink crates; a dump the kernel refuses is an error, and the caller falls back to
//! `/proc/net` for that table.
//!
//! The socket is blocking, like a `/proc` read: the kernel answers a dump synchronously, and the
//! caller runs this off the async runtime under the scrape's deadline and a read slot.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket as NetlinkSocket, SocketAddr};

use super::socket::{listening_state, Socket};
use crate::net::multiaddr::Transport;

/// Most messages read from one dump: far more listening sockets than any host has, so a kernel
/// that never says "done" cannot keep the reader looping.
const MAX_MESSAGES: usize = 1 << 20;

/// Why a dump did not answer.
#[derive(Debug, thiserror::Error)]
pub enum SockDiagError {
    #[error("cannot open a NETLINK_SOCK_DIAG socket: {0}")]
    Open(std::io::Error),
    #[error("cannot send the {0} dump request: {1}")]
    Send(&'static str, std::io::Error),
    #[error("cannot read the {0} dump: {1}")]
    Recv(&'static str, std::io::Error),
    #[error("the kernel refused the {0} dump: {1}")]
    Refused(&'static str, std::io::Error),
    #[error("unreadable {0} dump answer: {1}")]
    Decode(&'static str, String),
    #[error("the {0} dump did not end after {MAX_MESSAGES} messages")]
    TooLong(&'static str),
}

/// One of the four dumps: the `/proc/net` table it replaces, its family and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// The `/proc/net` file with the same sockets (`tcp`, `tcp6`, `udp`, `udp6`).
    pub name: &'static str,
    pub protocol: Transport,
    family: u8,
}

/// The four tables, in the order `/proc/net` is read.
pub const TABLES: [Table; 4] = [
    Table {
        name: "tcp",
        protocol: Transport::Tcp,
        family: AF_INET,
    },
    Table {
        name: "tcp6",
        protocol: Transport::Tcp,
        family: AF_INET6,
    },
    Table {
        name: "udp",
        protocol: Transport::Udp,
        family: AF_INET,
    },
    Table {
        name: "udp6",
        protocol: Transport::Udp,
        family: AF_INET6,
    },
];

/// An open `NETLINK_SOCK_DIAG` socket, reused for the four dumps of one scan.
pub struct SockDiag {
    socket: NetlinkSocket,
    buffer: Vec<u8>,
    sequence: u32,
}

/// The socket the last scan handed back, for the next scan to reuse: opening one costs four
/// system calls per scrape (issue 20). A scan that failed or never finished (stuck past its
/// deadline) does not hand its socket back, so a later scan opens a fresh one.
static SPARE: std::sync::Mutex<Option<SockDiag>> = std::sync::Mutex::new(None);

impl SockDiag {
    /// The socket an earlier scan handed back ([`SockDiag::give_back`]), else a new one.
    pub fn reuse_or_open() -> Result<SockDiag, SockDiagError> {
        match crate::host::lock(&SPARE).take() {
            Some(diag) => Ok(diag),
            None => SockDiag::open(),
        }
    }

    /// Keep this socket for the next scan (call only after every dump on it answered).
    pub fn give_back(self) {
        *crate::host::lock(&SPARE) = Some(self);
    }

    /// Open and connect a socket to the kernel.
    pub fn open() -> Result<SockDiag, SockDiagError> {
        let mut socket = NetlinkSocket::new(NETLINK_SOCK_DIAG).map_err(SockDiagError::Open)?;
        socket.bind_auto().map_err(SockDiagError::Open)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(SockDiagError::Open)?;
        Ok(SockDiag {
            socket,
            // The kernel sizes each batch to the reader's buffer, 32 KiB at most; a 64 KiB buffer
            // would also make every free of it consolidate the allocator's heap.
            buffer: vec![0; 32 * 1024],
            sequence: 0,
        })
    }

    /// The listening (TCP) or bound, unconnected (UDP) sockets of one table.
    pub fn listening(&mut self, table: Table) -> Result<Vec<Socket>, SockDiagError> {
        let what = table.name;
        let states = match table.protocol {
            Transport::Tcp => StateFlags::LISTEN,
            Transport::Udp => StateFlags::CLOSE,
        };
        let wanted = listening_state(table.protocol);
        let protocol = match table.protocol {
            Transport::Tcp => IPPROTO_TCP,
            Transport::Udp => IPPROTO_UDP,
        };
        let socket_id = if table.family == AF_INET {
            SocketId::new_v4()
        } else {
            SocketId::new_v6()
        };
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = self.sequence;
        let mut request = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family: table.family,
                protocol,
                extensions: ExtensionFlags::empty(),
                states,
                socket_id,
            })
            .into(),
        );
        request.finalize();
        let mut packet = vec![0; request.buffer_len()];
        request.serialize(&mut packet);
        self.socket
            .send(&packet, 0)
            .map_err(|e| SockDiagError::Send(what, e))?;

        let mut sockets = Vec::new();
        let mut messages = 0usize;
        loop {
            let size = self
                .socket
                .recv(&mut &mut self.buffer[..], 0)
                .map_err(|e| SockDiagError::Recv(what, e))?;
            let mut offset = 0;
            while offset < size {
                messages += 1;
                if messages > MAX_MESSAGES {
                    return Err(SockDiagError::TooLong(what));
                }
                let bytes = &self.buffer[offset..size];
                let message = NetlinkMessage::<SockDiagMessage>::deserialize(bytes)
                    .map_err(|e| SockDiagError::Decode(what, e.to_string()))?;
                let length = message.header.length as usize;
                if message.header.sequence_number != self.sequence {
                    // An answer to an earlier request this socket gave up on: not ours.
                    offset += length.max(1);
                    continue;
                }
                match message.payload {
                    NetlinkPayload::Done(done) if done.code != 0 => {
                        let io = std::io::Error::from_raw_os_error(done.code.saturating_abs());
                        return Err(SockDiagError::Refused(what, io));
                    }
                    NetlinkPayload::Done(_) => return Ok(sockets),
                    NetlinkPayload::Error(error) if error.code.is_some() => {
                        return Err(SockDiagError::Refused(what, error.to_io()));
                    }
                    NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                        let id = &response.header.socket_id;
                        let listening = response.header.state == wanted
                            && (table.protocol == Transport::Tcp || id.destination_port == 0);
                        if listening {
                            sockets.push(Socket {
                                protocol: table.protocol,
                                address: id.source_address.to_canonical(),
                                port: id.source_port,
                                inode: u64::from(response.header.inode),
                            });
                        }
                    }
                    _ => {}
                }
                if length == 0 {
                    return Err(SockDiagError::Decode(what, "a zero-length message".into()));
                }
                offset += length;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn finds_a_tcp_and_a_udp_listener_of_this_process() {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("[::1]:0").ok();
        let connected = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        connected.connect(tcp.local_addr().unwrap()).unwrap();
        let mut diag = match SockDiag::open() {
            Ok(diag) => diag,
            // A sandbox without netlink: the /proc fallback is tested elsewhere.
            Err(err) => return eprintln!("skipped: {err}"),
        };
        let tcp4 = diag.listening(TABLES[0]).unwrap();
        let port = tcp.local_addr().unwrap().port();
        let found = tcp4
            .iter()
            .find(|s| s.port == port)
            .expect("our TCP listener");
        assert_eq!(found.address, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(found.inode > 0);
        let udp4 = diag.listening(TABLES[2]).unwrap();
        let connected_port = connected.local_addr().unwrap().port();
        assert!(
            udp4.iter().all(|s| s.port != connected_port),
            "a connected UDP socket is not a listener"
        );
        if let Some(udp) = udp {
            let udp6 = diag.listening(TABLES[3]).unwrap();
            let port = udp.local_addr().unwrap().port();
            assert!(udp6.iter().any(|s| s.port == port), "{udp6:?}");
        }
        // The socket is reused: a second dump on it answers the same.
        assert_eq!(diag.listening(TABLES[0]).unwrap().len(), tcp4.len());
    }
}
