//! The wallets to watch and their balances (`lotus_wallets`): the configured ones, or with a
//! token the node's own (`WalletDefaultAddress`, `WalletList`), read a few at a time.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde_json::json;
use tokio::time::Instant;

use super::answers::status_of;
use super::report::WalletBalance;
use super::rpc::RpcError;
use super::served::Asker;
use super::types;
use super::{LotusCheck, WalletSpec};
use crate::contract::CheckStatus;

/// `WalletBalance` calls in flight at once.
const WALLET_CALLS_AT_ONCE: usize = 8;

impl LotusCheck {
    /// Balances of the wallets to watch: the configured ones, or (with a token) the node's own.
    pub(super) async fn wallet_balances(
        &self,
        asker: &Asker<'_>,
        token_given: bool,
        deadline: Instant,
    ) -> (CheckStatus, Vec<WalletBalance>, Duration) {
        let begun = std::time::Instant::now();
        let wallets = if !self.wallets.is_empty() {
            self.wallets.clone()
        } else if token_given {
            match self.discover_wallets(asker, deadline).await {
                Ok(wallets) => wallets,
                Err(status) => return (status, Vec::new(), begun.elapsed()),
            }
        } else {
            self.log_once(log::Level::Info, "no wallets to watch: name them with --lotus.wallet ADDRESS[=ALIAS] (WalletBalance needs only read access)");
            return (
                CheckStatus::Skipped("no wallets to watch (--lotus.wallet)".into()),
                Vec::new(),
                begun.elapsed(),
            );
        };
        if wallets.is_empty() {
            return (
                CheckStatus::Skipped("the node's wallet is empty".into()),
                Vec::new(),
                begun.elapsed(),
            );
        }
        // A few at a time over pooled connections, rather than one connection per wallet.
        let calls: Vec<_> = wallets
            .iter()
            .map(|w| asker.call("Filecoin.WalletBalance", json!([w.address]), deadline))
            .collect();
        let results: Vec<_> = stream::iter(calls)
            .buffered(WALLET_CALLS_AT_ONCE)
            .collect()
            .await;
        let mut failures = Vec::new();
        let mut balances = Vec::new();
        for (wallet, result) in wallets.into_iter().zip(results) {
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
            });
        }
        let status = if failures.is_empty() {
            CheckStatus::Ok
        } else {
            CheckStatus::Failed(failures.join("; "))
        };
        (status, balances, begun.elapsed())
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
