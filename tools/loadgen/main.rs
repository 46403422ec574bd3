//! A small HTTP/1.1 load generator: sequential scrapes over one keep-alive
//! connection, or waves of N simultaneous scrapes over N pre-opened connections.
//!
//! ```sh
//! cargo run --release --example loadgen -- seq --url http://127.0.0.1:10234/metrics --count 50
//! cargo run --release --example loadgen -- burst --url http://127.0.0.1:10234/metrics --concurrency 100 --waves 5
//! ```
//!
//! Prints one JSON object: request count, errors (non-200 or transport failures), latency
//! percentiles in milliseconds, and for `burst` the wall time of each wave. Connections are opened
//! before the clock starts, so a wave's requests reach the server within a few milliseconds of
//! each other. `tools/bench` drives the same code (`drive.rs`) in its own process.

mod drive;

use std::time::Duration;

use clap::{Parser, Subcommand};
use hyper::Uri;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// One request after another over one connection.
    Seq {
        #[arg(long)]
        url: Uri,
        /// Stop after this many requests...
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// ...or after this long, whichever comes first (at least `min-count` requests).
        #[arg(long = "max-seconds", default_value_t = 10.0)]
        max_seconds: f64,
        #[arg(long = "min-count", default_value_t = 5)]
        min_count: usize,
    },
    /// `waves` times: send `concurrency` requests at once, wait for every answer.
    Burst {
        #[arg(long)]
        url: Uri,
        #[arg(long)]
        concurrency: usize,
        #[arg(long, default_value_t = 3)]
        waves: usize,
        /// Pause between waves, so a wave never joins the previous one's collection.
        #[arg(long = "pause-ms", default_value_t = 50)]
        pause_ms: u64,
    },
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let out = match args.mode {
        Mode::Seq {
            url,
            count,
            max_seconds,
            min_count,
        } => drive::sequential(url, count, max_seconds, min_count).await,
        Mode::Burst {
            url,
            concurrency,
            waves,
            pause_ms,
        } => drive::burst(url, concurrency, waves, Duration::from_millis(pause_ms)).await,
    };
    match serde_json::to_string(&out) {
        Ok(text) => println!("{text}"),
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(1);
        }
    }
}
