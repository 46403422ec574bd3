//! The Lotus check's own settings: where the API is, which token, which wallets, what counts as
//! lagging. Built by `config` from flags and Lotus's own environment variables.

use crate::checks::lotus::rpc::RpcTarget;
use crate::checks::lotus::source::Sources;
use crate::secret::Secret;

/// Settings of the Lotus check.
#[derive(Debug, Clone)]
pub struct LotusConfig {
    /// Where the API is, or why it cannot be used (reported by the check on every scrape).
    pub target: Result<RpcTarget, String>,
    pub token: Option<Secret>,
    /// Where the address came from (`--lotus.api`, `FULLNODE_API_INFO`, a repo `api` file, the default).
    pub api_source: String,
    /// The files the address and token came from, followed as they change (the repo's `api`
    /// file, `--lotus.token-file`); `None` when nothing is read from a file (`/probe` targets,
    /// `--lotus.api` without a token file).
    pub sources: Option<Sources>,
    pub wallets: Vec<WalletSpec>,
    pub max_wallets: usize,
    pub sync_lag_threshold: u64,
    pub max_body_bytes: usize,
}

/// A wallet to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletSpec {
    pub address: String,
    /// A human name for dashboards; empty when none was given.
    pub alias: String,
}
