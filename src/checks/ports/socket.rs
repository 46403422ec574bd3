//! One listening socket as the kernel reports it, whichever way it was read (netlink in
//! [`super::sock_diag`], `/proc/net` in [`super::listeners`]).

use std::net::IpAddr;

use crate::net::multiaddr::Transport;

/// One listening (TCP) or bound, unconnected (UDP) socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub protocol: Transport,
    /// Local address; IPv4-mapped IPv6 addresses are given as IPv4.
    pub address: IpAddr,
    pub port: u16,
    pub inode: u64,
}

/// The kernel's state (`include/net/tcp_states.h`) of a socket of `protocol` that listens:
/// `LISTEN` (0x0A) for TCP, `CLOSE` (0x07, what a bound UDP socket reports) for UDP, as netlink
/// and `/proc/net` both give it.
pub(super) fn listening_state(protocol: Transport) -> u8 {
    match protocol {
        Transport::Tcp => 0x0A,
        Transport::Udp => 0x07,
    }
}
