//! lotus-follow-exporter: Prometheus metrics about a Filecoin Lotus daemon, ipfs-cluster-follow
//! peers, their Kubo daemons and the host's port plan.
//!
//! # A tour
//!
//! Data flows one way, and each step lives in its own module:
//!
//! ```text
//! HTTP request ─▶ server ─▶ collector ─┬─▶ check: lotus  ─┐
//!  (/metrics, /status,        (deadline, ├─▶ check: follow ┼─▶ Snapshot ─▶ verdict() ─▶ every view
//!   /probe, /, check)          registry) ├─▶ check: ports  ┤   (exit status, page badges,
//!                                        └─▶ check: kubo   ┘    /status health, the healthy gauge)
//! ```
//!
//! The modules are in layers, and each imports only the layers below it (`tests/architecture.rs`
//! prints the graph and fails on an arrow that points up, on a check that imports another, and
//! on a file above the checks that names one). From the top:
//!
//! 1. **Top.** [`cli`] turns flags and environment into the exporter's settings; each check's
//!    flags are its own struct, flattened. [`server`] serves and routes HTTP: `/metrics`,
//!    `/status`, `/healthz`, `/` (the status page), `/probe` ([`server::probe`]: one target of
//!    a fleet, through a collector of its own), with the TLS and basic auth of [`server::web`]
//!    (re-read when its files change).
//! 2. **Renderers.** [`render`] owns the frames (the exposition encoding, the `/status`
//!    document, the `check` report, the HTML page) and fills them by asking each section to
//!    write itself; no I/O.
//! 3. **Assembly.** [`exporter`] runs the registry's checks concurrently under one deadline per
//!    scrape ([`exporter::collector`]), lets scrapes that arrive during a collection share it
//!    ([`exporter::single_flight`]), runs the registry's typed joins, and makes the
//!    [`exporter::snapshot::Snapshot`] with its one verdict: `check`'s exit status, `/status`'s
//!    `health`, the page's badges and `lotus_follow_exporter_healthy` all read
//!    [`exporter::snapshot::Snapshot::verdict`].
//! 4. **Checks.** [`checks`] is the registry (flags, settings, the list, the joins) and one
//!    folder per check, none importing another:
//!    - [`checks::lotus`]: JSON-RPC calls read liberally, judged only on what the node
//!      answered; finality (F3, the v2 finality status); where Lotus is, as Lotus's tools find it;
//!    - [`checks::follow`]: followers found on disk, in the process table and on the command
//!      line, asked over their unix socket or TCP REST API, pins counted line by line;
//!    - [`checks::ports`]: who is configured to listen where, who really listens, conflicts;
//!    - [`checks::kubo`]: the Kubos Kubo's config and the followers' `service.json` name, each
//!      asked `POST /api/v0/id`.
//! 5. **Contract.** [`contract`]: the [`contract::Check`] and [`contract::Section`] traits every
//!    check implements, the vocabulary of results ([`contract::CheckResult`],
//!    [`contract::Health`]), the neutral builders a section renders into, and the bounds on what
//!    backends say ([`contract::limits`]: [`contract::Label`], [`contract::Text`]).
//! 6. **Primitives.** [`net`] (one small HTTP/1.1 client for TCP and unix sockets, with
//!    deadlines and body caps; TLS; multiaddrs), [`host`] (the process table, bounded reads of
//!    small files, permissions and the fix when the exporter may not, the one lock policy),
//!    [`secret`] (the token, and the scrubbers that remove secrets from every body before it is
//!    read) and [`counters`] (the exporter's own counters).
//!
//! # Principles
//!
//! - A figure that could not be measured is `None` and becomes an absent series, never a zero.
//! - Every network call, file read and process spawn has a deadline; every body has a cap.
//! - The Lotus token is sent as `Authorization: Bearer` and appears nowhere else; answers that
//!   echo it (or the follow credentials) are scrubbed before they are read.
//! - A check's `run` never renders; its section never does I/O.

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
