//! A busy host in a box for `scripts/bench`: holds N established loopback TCP connections (2N
//! sockets, both ends in this process) until stdin closes or `--max-seconds` pass.
//!
//! ```sh
//! cargo run --release --example hold_connections -- --connections 4000
//! ```
//!
//! Prints one JSON line (`{"connections":N,"port":P}`) once every connection is established.
//! Bounded: at most 30,000 connections (the caller raises `RLIMIT_NOFILE` to fit them), and it
//! exits by itself after `--max-seconds` (default 600) so a crashed benchmark leaves nothing behind.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use clap::Parser;

/// The most connections held (60,000 sockets).
const MAX_CONNECTIONS: usize = 30_000;

#[derive(Parser)]
struct Args {
    /// Established connections to hold.
    #[arg(long, default_value_t = 4000)]
    connections: usize,
    /// Exit after this long even if stdin stays open.
    #[arg(long = "max-seconds", default_value_t = 600)]
    max_seconds: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let wanted = args.connections.min(MAX_CONNECTIONS);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let mut held = Vec::with_capacity(wanted * 2);
    // Connect and accept in step, so the listen backlog never overflows.
    for _ in 0..wanted {
        let client = TcpStream::connect(address)?;
        let (server, _) = listener.accept()?;
        held.push(client);
        held.push(server);
    }
    println!(
        "{{\"connections\":{},\"port\":{}}}",
        held.len() / 2,
        address.port()
    );
    // Until stdin closes (the benchmark is done with us) or the time bound passes.
    let deadline = Duration::from_secs(args.max_seconds);
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        std::process::exit(0);
    });
    let mut sink = [0u8; 64];
    while let Ok(n) = std::io::stdin().read(&mut sink) {
        if n == 0 {
            break;
        }
    }
    drop(held);
    Ok(())
}
