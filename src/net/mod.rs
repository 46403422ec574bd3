//! Network primitives: the HTTP/1.1 client (TCP and unix sockets), TLS, and multiaddrs.

pub mod http_client;
pub mod multiaddr;
pub mod tls_client;
