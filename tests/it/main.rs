//! The integration tests, as one test binary (as ripgrep and cargo do): the fakes and helpers
//! compile once, and cargo links one executable instead of one per file.
//!
//! ```sh
//! cargo test --test it                  # every integration test
//! cargo test --test it golden           # the tests whose path contains `golden`
//! cargo test --test it lotus::          # one module
//! ```
//!
//! `tests/architecture.rs`, a lint of `src/`, stays its own binary (`scripts/test` runs it as
//! its own step).
//!
//! Every test here shares one process with every other and runs beside them on cargo's test
//! threads: a test that needs something of the process to itself (a counter of the library,
//! the process's file descriptors) runs the exporter binary as a child (`util::spawn`) instead
//! of in-process, and ports come from `util::free_tcp_port`, never handed out twice.

// Helpers, shared by the test modules below.
mod agreement;
mod dashboard;
mod e2e;
mod fakes;
mod real;
mod util;

// The tests, one module per former `tests/<name>.rs`.
mod alert_rules;
mod check_cli;
mod cli;
mod docs;
mod e2e_prometheus;
mod exposition;
mod fake_lotus_selftest;
mod faults;
mod finality;
mod follow;
mod follow_freshness;
mod golden;
mod grafana;
mod gzip;
mod hardening;
mod hardening3;
mod https;
mod kubo;
mod load;
mod logs;
mod lotus;
mod lotus_truth;
mod lotus_upgrades;
mod netlink;
mod package;
mod ports;
mod probe;
mod proptests;
mod real_cluster;
mod real_lotus;
mod real_lotus_fake;
mod runbook;
mod status_page;
mod systemd_unit;
mod verdict_agreement;
mod web;
mod web_reload;
