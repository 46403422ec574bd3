//! The Lotus check's flags (`--lotus.*`) and the parser of `--lotus.wallet`.

use std::path::PathBuf;

use super::{Thresholds, WalletMinimum, WalletSpec};

/// Lotus check's flags (flattened into the command line by `checks::Args`).
#[derive(Debug, Clone, clap::Args)]
pub struct LotusArgs {
    /// Lotus API info, as FULLNODE_API_INFO takes it: `[TOKEN:]MULTIADDR` or an http URL. Default: $FULLNODE_API_INFO, else the `api` file in the Lotus repo, else /ip4/127.0.0.1/tcp/1234/http.
    #[arg(long = "lotus.api", global = true)]
    pub lotus_api: Option<String>,

    /// The Lotus repo, where the `api` file and `config.toml` are read (never the admin `token`).
    #[arg(long = "lotus.path", env = "LOTUS_PATH", global = true)]
    pub lotus_path: Option<PathBuf>,

    /// A PEM file of the CA(s) that signed an https Lotus API's certificate; replaces the system's trusted roots for Lotus.
    #[arg(long = "lotus.ca-file", global = true)]
    pub lotus_ca_file: Option<PathBuf>,

    /// Send the Lotus token even over plain http to a host that is not this one (it travels in clear; a warning is logged).
    #[arg(long = "lotus.allow-token-over-http", global = true)]
    pub lotus_allow_token_over_http: bool,

    /// A file holding a Lotus API token (a read-only one: `lotus auth create-token --perm read`).
    #[arg(long = "lotus.token-file", global = true)]
    pub lotus_token_file: Option<PathBuf>,

    /// A wallet to watch, `ADDRESS[=ALIAS]` (repeatable).
    #[arg(long = "lotus.wallet", value_parser = parse_wallet, global = true)]
    pub lotus_wallet: Vec<WalletSpec>,

    /// At most this many wallet balance series.
    #[arg(long = "lotus.max-wallets", default_value_t = 50, global = true)]
    pub lotus_max_wallets: usize,

    /// The node counts as synced while it is fewer than this many epochs behind the clock (Lotus readyz uses 5).
    #[arg(long = "lotus.sync-lag-threshold", default_value_t = 5, global = true)]
    pub lotus_sync_lag_threshold: u64,

    /// Fewer unique peers than this degrades the node (and LotusPeersLow fires); exported as lotus_peers_min. 0 turns it off.
    #[arg(long = "lotus.min-peers", default_value_t = 10, global = true)]
    pub lotus_min_peers: u64,

    /// A watched wallet below this many FIL degrades the node (and LotusWalletBalanceLow fires): `FIL` for every wallet, `WALLET=FIL` for one named by its address or alias (repeatable). Default 1. Exported as lotus_wallet_balance_min_fil.
    #[arg(long = "lotus.wallet-min-balance", value_parser = WalletMinimum::parse, global = true)]
    pub lotus_wallet_min_balance: Vec<WalletMinimum>,

    /// F3 running but finalizing more than this many epochs behind the head degrades the node (and LotusF3Stalled fires); exported as lotus_f3_finality_lag_max_epochs.
    #[arg(
        long = "lotus.f3-max-finality-lag",
        default_value_t = 20,
        global = true
    )]
    pub lotus_f3_max_finality_lag: u64,

    /// The node's finalized tipset more than this many epochs behind its head, where F3 runs or EC gives a depth, degrades the node (and LotusChainFinalityLagHigh fires); exported as lotus_chain_finality_lag_max_epochs.
    #[arg(long = "lotus.max-finality-lag", default_value_t = 60, global = true)]
    pub lotus_max_finality_lag: u64,

    /// Largest Lotus answer read, in bytes.
    #[arg(long = "lotus.max-body-bytes", default_value_t = 8 << 20, global = true)]
    pub lotus_max_body_bytes: usize,
}

impl LotusArgs {
    /// The warning for a Lotus repo that was named (`--lotus.path` or `LOTUS_PATH`) but does
    /// not exist: a typo would otherwise fall back to the default address without a word.
    /// `env` looks `LOTUS_PATH` up, to say which of the two named it.
    pub fn missing_repo_warning(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        let path = self.lotus_path.as_ref()?;
        if path.exists() {
            return None;
        }
        let named_by = match env("LOTUS_PATH") {
            Some(value) if std::path::Path::new(&value) == path => "LOTUS_PATH",
            _ => "--lotus.path",
        };
        let fallback = if self.lotus_api.is_some() {
            "the API address comes from --lotus.api"
        } else {
            "Lotus is looked for at FULLNODE_API_INFO or the default /ip4/127.0.0.1/tcp/1234/http"
        };
        Some(format!(
            "{named_by} {} does not exist (a typo?): its api file and config.toml are not read, so {fallback} and the port plan has no Lotus claim from config.toml",
            path.display()
        ))
    }

    /// The verdict's thresholds from these flags (the last bare `--lotus.wallet-min-balance FIL`
    /// is every wallet's; `WALLET=FIL` ones are exceptions).
    pub fn thresholds(&self) -> Thresholds {
        let defaults = Thresholds::default();
        let every = self.lotus_wallet_min_balance.iter().rev();
        Thresholds {
            min_peers: self.lotus_min_peers,
            wallet_min_fil: every
                .clone()
                .find(|m| m.wallet.is_none())
                .map_or(defaults.wallet_min_fil, |m| m.fil),
            wallet_min_fil_of: self
                .lotus_wallet_min_balance
                .iter()
                .filter(|m| m.wallet.is_some())
                .cloned()
                .collect(),
            f3_max_finality_lag: self.lotus_f3_max_finality_lag,
            max_finality_lag: self.lotus_max_finality_lag,
        }
    }
}

/// Parse `ADDRESS[=ALIAS]`, checking the address looks like a Filecoin address.
pub fn parse_wallet(text: &str) -> Result<WalletSpec, String> {
    let (address, alias) = match text.split_once('=') {
        Some((address, alias)) => (address.trim(), alias.trim()),
        None => (text.trim(), ""),
    };
    if !is_filecoin_address(address) {
        return Err(format!(
            "{address:?} is not a Filecoin address (expected f0..., f1..., f2..., f3..., f4... or t... on test networks)"
        ));
    }
    Ok(WalletSpec {
        address: address.to_string(),
        alias: alias.to_string(),
    })
}

fn is_filecoin_address(address: &str) -> bool {
    let mut chars = address.chars();
    matches!(chars.next(), Some('f' | 't'))
        && matches!(chars.next(), Some('0'..='4'))
        && address.len() <= 120
        && address.chars().all(|c| c.is_ascii_alphanumeric())
}
