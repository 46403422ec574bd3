//! Binding `--web.listen-address` (`:PORT` means every address, IPv6 and IPv4), and naming the
//! process that already holds a busy port.

use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Bind a `--web.listen-address` value: `:10234` (every address, IPv6 and IPv4),
/// `127.0.0.1:10234`, `[::1]:10234` or `localhost:10234`.
pub async fn bind(address: &str) -> Result<TcpListener, String> {
    let candidates: Vec<SocketAddr> = match address.strip_prefix(':') {
        Some(port) => {
            let port: u16 = port
                .parse()
                .map_err(|_| format!("--web.listen-address {address:?}: {port:?} is not a port"))?;
            vec![SocketAddr::from(([0u16; 8], port)), SocketAddr::from(([0u8; 4], port))]
        }
        None => match address.parse::<SocketAddr>() {
            Ok(addr) => vec![addr],
            Err(_) => tokio::net::lookup_host(address)
                .await
                .map_err(|e| {
                    format!("--web.listen-address {address:?} is not HOST:PORT, [IPv6]:PORT or :PORT ({e})")
                })?
                .collect(),
        },
    };
    let mut last_error = format!("--web.listen-address {address:?} names no address");
    for candidate in candidates {
        match TcpListener::bind(candidate).await {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                let holder = crate::checks::port_holder(candidate).await;
                last_error = format!("cannot listen on {candidate} (--web.listen-address): the port is in use by {holder}; stop it or choose another port");
            }
            Err(e) => last_error = format!("cannot listen on {candidate}: {e}"),
        }
    }
    Err(last_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_all_addresses_for_a_bare_port() {
        let listener = bind(":0").await.unwrap();
        assert!(listener.local_addr().unwrap().ip().is_unspecified());
        assert!(bind("nonsense").await.is_err());
        assert!(bind(":notaport").await.is_err());
        let named = bind("localhost:0").await.unwrap();
        assert!(named.local_addr().unwrap().ip().is_loopback());
    }
}
