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
    /// What the verdict calls too few, too low or too far behind.
    pub thresholds: Thresholds,
}

/// The numbers the verdict judges the node by, the same ones the alert rules compare with: each
/// is exported as a gauge (`lotus_peers_min`, `lotus_wallet_balance_min_fil`,
/// `lotus_f3_finality_lag_max_epochs`, `lotus_chain_finality_lag_max_epochs`) and the rules of
/// `alerts/lotus-follow-exporter.rules.yml` compare the figure with that gauge, never with a
/// number of their own. So a threshold lives in one place, the exporter's flag, and `check`,
/// `/status`, `lotus_follow_exporter_healthy` and the alerts cannot disagree about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Fewer unique peers than this is too few (`--lotus.min-peers`; 0 turns it off).
    pub min_peers: u64,
    /// A wallet below this many FIL is low (`--lotus.wallet-min-balance FIL`).
    pub wallet_min_fil: f64,
    /// Per-wallet exceptions to `wallet_min_fil`, by address or alias
    /// (`--lotus.wallet-min-balance WALLET=FIL`); the last one given for a wallet wins.
    pub wallet_min_fil_of: Vec<WalletMinimum>,
    /// F3 running but finalizing further behind the head than this is stalled
    /// (`--lotus.f3-max-finality-lag`).
    pub f3_max_finality_lag: u64,
    /// The node's finalized tipset further behind the head than this is too far, where a short
    /// lag is expected (`--lotus.max-finality-lag`).
    pub max_finality_lag: u64,
}

/// The defaults, as the rules file's comments and the runbook give them.
impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            // A healthy mainnet node holds 150-180 peers (Lotus's ConnMgrLow/High).
            min_peers: 10,
            wallet_min_fil: 1.0,
            wallet_min_fil_of: Vec::new(),
            // F3 finalizes 4-10 epochs behind normally: twice the normal worst.
            f3_max_finality_lag: 20,
            // About twice the healthy EC finality depth (25-35).
            max_finality_lag: 60,
        }
    }
}

impl Thresholds {
    /// The balance below which this wallet is low.
    pub fn wallet_min(&self, address: &str, alias: &str) -> f64 {
        self.wallet_min_fil_of
            .iter()
            .rev()
            .find(|m| {
                m.wallet
                    .as_deref()
                    .is_some_and(|w| w == address || (!alias.is_empty() && w == alias))
            })
            .map_or(self.wallet_min_fil, |m| m.fil)
    }
}

/// `--lotus.wallet-min-balance`: a threshold for every wallet (`wallet` is `None`), or for one,
/// named by its address or its alias.
#[derive(Debug, Clone, PartialEq)]
pub struct WalletMinimum {
    pub wallet: Option<String>,
    pub fil: f64,
}

impl WalletMinimum {
    /// Parse `FIL` or `WALLET=FIL` (a finite number of FIL, not negative).
    pub fn parse(text: &str) -> Result<WalletMinimum, String> {
        let (wallet, amount) = match text.rsplit_once('=') {
            Some((wallet, amount)) if !wallet.trim().is_empty() => {
                (Some(wallet.trim().to_string()), amount.trim())
            }
            Some(_) => {
                return Err(format!(
                    "{text:?}: name the wallet before `=`, or give only FIL"
                ))
            }
            None => (None, text.trim()),
        };
        let fil: f64 = amount
            .parse()
            .map_err(|_| format!("{amount:?} is not an amount of FIL (expected e.g. 1 or 0.5)"))?;
        if !fil.is_finite() || fil < 0.0 {
            return Err(format!(
                "{amount:?}: expected a finite amount of FIL, not negative"
            ));
        }
        Ok(WalletMinimum { wallet, fil })
    }
}

/// A wallet to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletSpec {
    pub address: String,
    /// A human name for dashboards; empty when none was given.
    pub alias: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wallet_minimum_is_an_amount_or_a_wallet_and_an_amount() {
        let every = |fil| WalletMinimum { wallet: None, fil };
        let one = |wallet: &str, fil| WalletMinimum {
            wallet: Some(wallet.to_string()),
            fil,
        };
        assert_eq!(WalletMinimum::parse("1"), Ok(every(1.0)));
        assert_eq!(WalletMinimum::parse(" 0.5 "), Ok(every(0.5)));
        assert_eq!(WalletMinimum::parse("hot=50"), Ok(one("hot", 50.0)));
        assert_eq!(WalletMinimum::parse("f1abc = 0"), Ok(one("f1abc", 0.0)));
        for bad in ["", "=1", "hot=", "hot=lots", "-1", "NaN", "inf", "hot=-2"] {
            assert!(WalletMinimum::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_wallet_is_judged_by_its_own_minimum_by_address_or_alias_else_by_everyones() {
        let thresholds = Thresholds {
            wallet_min_fil: 2.0,
            wallet_min_fil_of: vec![
                WalletMinimum::parse("hot=50").unwrap(),
                WalletMinimum::parse("f1cold=0").unwrap(),
                WalletMinimum::parse("hot=60").unwrap(),
            ],
            ..Thresholds::default()
        };
        assert_eq!(
            thresholds.wallet_min("f1hot", "hot"),
            60.0,
            "the last one wins"
        );
        assert_eq!(thresholds.wallet_min("f1cold", "cold"), 0.0);
        assert_eq!(thresholds.wallet_min("f1other", ""), 2.0);
        assert_eq!(
            thresholds.wallet_min("f1other", "other"),
            2.0,
            "an empty alias matches no named minimum"
        );
    }
}
