//! The exporter's own process-wide counters, bumped where the event happens (the HTTP client, the
//! connection slots, `/probe`, the socket-owner search) and read by the renderer: bytes read
//! from backends, connections refused and evicted, probes refused, owner searches cut short.

use std::sync::atomic::AtomicU64;

/// Total bytes of response bodies read from all backends since start (exported as a counter).
pub static BODY_BYTES_READ: AtomicU64 = AtomicU64::new(0);
/// Connections refused at once because every slot was busy within its bounds
/// (`..._connections_refused_total`).
pub static CONNECTIONS_REFUSED: AtomicU64 = AtomicU64::new(0);
/// Connections closed to admit a new one: idle, or busy beyond their bounds
/// (`..._connections_evicted_total`).
pub static CONNECTIONS_EVICTED: AtomicU64 = AtomicU64::new(0);
/// Scans whose search for listening sockets' owners stopped at its budget
/// (`..._socket_owner_lookups_cut_total`).
pub static OWNER_LOOKUPS_CUT: AtomicU64 = AtomicU64::new(0);
/// `/probe` requests answered 503 because `--probe.max-concurrent` were being answered
/// (`..._probes_refused_total`).
pub static PROBES_REFUSED: AtomicU64 = AtomicU64::new(0);
