//! lotus-follow-exporter: Prometheus metrics about a Filecoin Lotus daemon, ipfs-cluster-follow
//! peers and the host's port plan.
//!
//! # A tour
//!
//! Data flows one way, and each step lives in its own module:
//!
//! ```text
//! HTTP request ─▶ server ─▶ collector ─┬─▶ lotus check   ─┐
//!  (/metrics, /status)      (deadline)  ├─▶ follow check  ─┼─▶ Snapshot ─▶ render::prometheus (text)
//!                                       └─▶ ports check   ─┘            └▶ render::status (JSON)
//! ```
//!
//! 1. [`config`] turns flags and environment into a [`config::Config`]: where Lotus is (the way
//!    Lotus's own tools find it), which token (if any), which followers and config files.
//! 2. [`server`] only routes HTTP: `/metrics`, `/status`, `/healthz`, `/` (the status page of
//!    [`render::html`] for browsers), `/probe` ([`probe`]: one Lotus target of a fleet), with the
//!    TLS and basic auth of [`web`] (re-read when its files change).
//! 3. [`collector`] runs the three checks concurrently under one deadline per scrape, and lets
//!    scrapes that arrive during a collection share it.
//! 4. The checks return plain reports, with no Prometheus types inside:
//!    - [`lotus`]: JSON-RPC calls ([`lotus::rpc`]) read liberally ([`lotus::types`]) and judged
//!      only on what the node answered, finality (F3, the v2 finality status) in
//!      [`lotus::finality`];
//!    - [`follow`]: followers found on disk, in the process table and on the command line, asked
//!      over their unix socket or TCP REST API, pins counted line by line;
//!    - [`ports`]: who is configured to listen where ([`ports::claims`]), who really listens
//!      ([`ports::listeners`]), and conflicts ([`ports::conflicts`]).
//!      Before a round's reports are shared, [`bound`] cuts every backend string and caps every
//!      list; the secrets were already scrubbed from the bodies they came in.
//! 5. [`snapshot`] is what one collection found; [`render`] turns it into Prometheus text, the
//!    `/status` JSON, the `check` report or the `ports` table, without doing any I/O.
//!
//! Below them: [`http_client`] (one small HTTP/1.1 client for TCP and unix sockets, with deadlines
//! and body caps; https for Lotus through [`tls_client`]), [`multiaddr`] (the address syntax
//! every daemon here uses), [`process`] (the process table), [`files`] (bounded reads of small files) and [`permissions`] (who may open
//! a socket or a folder, and the fix when the exporter may not).
//!
//! # Principles
//!
//! - A figure that could not be measured is `None` and becomes an absent series, never a zero.
//! - Every network call, file read and process spawn has a deadline; every body has a cap.
//! - The Lotus token is sent as `Authorization: Bearer` and appears nowhere else; answers that
//!   echo it (or the follow credentials) are scrubbed before they are read.

pub mod bound;
pub mod check;
pub mod collector;
pub mod config;
pub mod counters;
pub mod files;
pub mod follow;
pub mod http_client;
pub mod lotus;
pub mod multiaddr;
pub mod permissions;
pub mod ports;
pub mod probe;
pub mod process;
pub mod render;
pub mod secret;
pub mod server;
pub mod snapshot;
pub mod tls_client;
pub mod web;
