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
//! The modules are in layers, and each imports only the layers below it (`tests/architecture.rs`
//! prints the graph and fails on an arrow that points up). From the top:
//!
//! 1. **Top.** [`config`] turns flags and environment into each check's own settings: where
//!    Lotus is (the way Lotus's own tools find it), which token (if any), which followers and
//!    config files. [`server`] serves and routes HTTP: `/metrics`, `/status`, `/healthz`, `/` (the
//!    status page of [`render::html`] for browsers), `/probe` ([`probe`]: one Lotus target of a
//!    fleet), with the TLS and basic auth of [`web`] (re-read when its files change).
//! 2. **Renderers.** [`render`] turns a snapshot into Prometheus text, the `/status` JSON, the
//!    `check` report, the `ports` table or the HTML page, without doing any I/O.
//! 3. **Assembly.** [`collector`] runs the three checks concurrently under one deadline per
//!    scrape, lets scrapes that arrive during a collection share it, and hands facts from one
//!    check to another: each follower's TCP API, swarm addresses and pid to the port plan, and
//!    who listens on the Lotus API port to the Lotus report. Before a round's reports are
//!    shared, [`bound`] cuts every backend string and caps every list. [`snapshot`] is what one
//!    collection found.
//! 4. **Checks.** Each takes its own settings type and returns a plain report, with no
//!    Prometheus types inside; none imports another:
//!    - [`lotus`]: JSON-RPC calls ([`lotus::rpc`]) read liberally ([`lotus::types`]), judged only
//!      on what the node answered; finality (F3, the v2 finality status) in [`lotus::finality`];
//!    - [`follow`]: followers found on disk, in the process table and on the command line
//!      ([`follow::discovery`]), asked over their unix socket or TCP REST API ([`follow::api`]),
//!      pins counted line by line ([`follow::pins`]);
//!    - [`ports`]: who is configured to listen where ([`ports::claims`]), who really listens
//!      ([`ports::listeners`]), and conflicts ([`ports::conflicts`]).
//! 5. **Primitives.** [`check`] (the vocabulary every check answers in: [`check::CheckStatus`],
//!    [`check::CheckResult`], health), [`http_client`] (one small HTTP/1.1 client for TCP and unix
//!    sockets, with deadlines and body caps; https for Lotus through [`tls_client`]),
//!    [`multiaddr`] (the address syntax every daemon here uses), [`process`] (the process table),
//!    [`files`] (bounded reads of small files), [`permissions`] (who may open a socket or a
//!    folder, and the fix when the exporter may not), [`secret`] (the token, and the scrubbers
//!    that remove secrets from every body before it is read) and [`counters`] (the exporter's own
//!    counters).
//!
//! # Principles
//!
//! - A figure that could not be measured is `None` and becomes an absent series, never a zero.
//! - Every network call, file read and process spawn has a deadline; every body has a cap.
//! - The Lotus token is sent as `Authorization: Bearer` and appears nowhere else; answers that
//!   echo it (or the follow credentials) are scrubbed before they are read.

pub mod checks;
pub mod cli;
pub mod contract;
pub mod counters;
pub mod exporter;
pub mod host;
pub mod net;
pub mod render;
pub mod secret;
pub mod server;
