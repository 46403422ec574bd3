//! The wallets to watch and their balances (`lotus_wallets`): the configured ones, or with a
//! token the node's own (`WalletDefaultAddress`, `WalletList`), read a few at a time, beside
//! their nonces (`lotus_wallet_nonces`, see `nonces`).

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde_json::json;
use tokio::time::Instant;

use super::answers::status_of;
use super::nonces;
use super::report::WalletBalance;
use super::rpc::RpcError;
use super::served::Asker;
use super::types;
use super::{LotusCheck, WalletSpec};
use crate::contract::{CheckResult, CheckStatus};

/// `WalletBalance` calls in flight at once.
const WALLET_CALLS_AT_ONCE: usize = 8;

/// The watched wallets of one round: the balances' status, each wallet (balance and nonces),
/// how long it took, and the nonces' own check.
pub(super) struct WalletRound {
    pub(super) status: CheckStatus,
    pub(super) balances: Vec<WalletBalance>,
    pub(super) duration: Duration,
    pub(super) nonces: CheckResult,
}

impl WalletRound {
    /// No wallet was read: both checks say why.
    fn none(status: CheckStatus, begun: std::time::Instant) -> WalletRound {
        let why = match &status {
            CheckStatus::Skipped(why) | CheckStatus::Failed(why) => why.clone(),
            CheckStatus::TimedOut => "timed out".to_string(),
            CheckStatus::Ok => String::new(),
        };
        let nonces = match &status {
            CheckStatus::Skipped(_) => nonces::skipped(&why),
            other => CheckResult::new(nonces::NONCES_CHECK, other.clone(), begun.elapsed()),
        };
        WalletRound {
            status,
            balances: Vec::new(),
            duration: begun.elapsed(),
            nonces,
        }
    }
}

impl LotusCheck {
    /// Balances and nonces of the wallets to watch: the configured ones, or (with a token) the
    /// node's own.
    pub(super) async fn wallet_balances(
        &self,
        asker: &Asker<'_>,
        token_given: bool,
        deadline: Instant,
    ) -> WalletRound {
        let begun = std::time::Instant::now();
        let wallets = if !self.wallets.is_empty() {
            self.wallets.clone()
        } else if token_given {
            match self.discover_wallets(asker, deadline).await {
                Ok(wallets) => wallets,
                Err(status) => return WalletRound::none(status, begun),
            }
        } else {
            self.log_once(log::Level::Info, "no wallets to watch: name them with --lotus.wallet ADDRESS[=ALIAS] (WalletBalance needs only read access)");
            return WalletRound::none(
                CheckStatus::Skipped("no wallets to watch (--lotus.wallet)".into()),
                begun,
            );
        };
        if wallets.is_empty() {
            return WalletRound::none(
                CheckStatus::Skipped("the node's wallet is empty".into()),
                begun,
            );
        }
        // A few at a time over pooled connections, rather than one connection per wallet.
        let calls: Vec<_> = wallets
            .iter()
            .map(|w| asker.call("Filecoin.WalletBalance", json!([w.address]), deadline))
            .collect();
        let balances = stream::iter(calls)
            .buffered(WALLET_CALLS_AT_ONCE)
            .collect::<Vec<_>>();
        let (results, (nonce_check, read_nonces)) =
            tokio::join!(balances, nonces::read_nonces(asker, &wallets, deadline));
        let mut failures = Vec::new();
        let mut balances = Vec::new();
        for ((wallet, result), read) in wallets.into_iter().zip(results).zip(read_nonces) {
            let balance = match result.map(|v| types::parse_attofil(&v).map_err(|e| e.to_string()))
            {
                Ok(Ok(balance)) => Some(balance),
                Ok(Err(shape)) => {
                    failures.push(format!("{}: {shape}", wallet.address));
                    None
                }
                Err(e) => {
                    failures.push(format!("{}: {e}", wallet.address));
                    None
                }
            };
            balances.push(WalletBalance {
                min_fil: self.thresholds.wallet_min(&wallet.address, &wallet.alias),
                address: wallet.address,
                alias: wallet.alias,
                balance,
                nonce: read.chain,
                nonce_gap: read.gap,
            });
        }
        let status = if failures.is_empty() {
            CheckStatus::Ok
        } else {
            CheckStatus::Failed(failures.join("; "))
        };
        WalletRound {
            status,
            balances,
            duration: begun.elapsed(),
            nonces: nonce_check,
        }
    }

    /// `WalletDefaultAddress` and `WalletList` (both need `write`).
    async fn discover_wallets(
        &self,
        asker: &Asker<'_>,
        deadline: Instant,
    ) -> Result<Vec<WalletSpec>, CheckStatus> {
        let (default, list) = tokio::join!(
            asker.call("Filecoin.WalletDefaultAddress", json!([]), deadline),
            asker.call("Filecoin.WalletList", json!([]), deadline),
        );
        let list = match list {
            Ok(list) => {
                types::parse_address_list(&list).map_err(|e| CheckStatus::Failed(e.to_string()))?
            }
            Err(RpcError::PermissionDenied { .. }) => {
                self.log_once(log::Level::Info, "the Lotus token cannot list wallets (WalletList needs write): name wallets with --lotus.wallet ADDRESS[=ALIAS]");
                return Err(CheckStatus::Skipped(
                    "the token may not list wallets: name them with --lotus.wallet".into(),
                ));
            }
            Err(e) => return Err(status_of(&e)),
        };
        let default = default
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .filter(|d| !d.is_empty());
        let mut addresses: Vec<String> = default.into_iter().collect();
        for address in list {
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        if addresses.len() > self.max_wallets {
            self.log_once(
                log::Level::Warn,
                &format!(
                    "the node has {} wallets; watching the first {} (--lotus.max-wallets)",
                    addresses.len(),
                    self.max_wallets
                ),
            );
            addresses.truncate(self.max_wallets);
        }
        Ok(addresses
            .into_iter()
            .map(|address| WalletSpec {
                address,
                alias: String::new(),
            })
            .collect())
    }
}
