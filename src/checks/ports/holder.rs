//! Who holds a TCP port, in words, for the exporter's own start-up error ("the port is in use
//! by node_exporter (pid 812)"), from the same socket tables the ports check reads.

use std::net::SocketAddr;
use std::time::Duration;

use super::listeners;

/// How long naming the holder of a busy port may take at start.
const PORT_HOLDER_DEADLINE: Duration = Duration::from_secs(3);

/// Who holds TCP `address`'s port, in words: `node_exporter (pid 812)`, or why it cannot be said.
pub async fn port_holder(address: SocketAddr) -> String {
    let port = address.port();
    let unseen =
        format!("a process this user cannot see (`ss -ltnp 'sport = :{port}'` as root names it)");
    let scan = tokio::task::spawn_blocking(|| {
        listeners::read_listening_sockets(std::path::Path::new("/proc"), Default::default())
    });
    let scan = match tokio::time::timeout(PORT_HOLDER_DEADLINE, scan).await {
        Ok(Ok(Ok(scan))) => scan,
        _ => return unseen,
    };
    let named = listeners::name_holders(&scan, &Default::default(), std::process::id());
    let mut holders: Vec<String> = named
        .iter()
        .filter(|l| l.protocol == crate::net::multiaddr::Transport::Tcp && l.port == port)
        .filter(|l| {
            let ip = address.ip();
            l.address == ip || l.address.is_unspecified() || ip.is_unspecified()
        })
        .flat_map(|l| l.holders.iter())
        .map(|h| format!("{} (pid {})", h.program, h.pid))
        .collect();
    holders.sort();
    holders.dedup();
    if holders.is_empty() {
        unseen
    } else {
        holders.join(", ")
    }
}
