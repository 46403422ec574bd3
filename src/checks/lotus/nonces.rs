//! Outgoing messages of the watched wallets (`lotus_wallet_nonces`): the next nonce the node's
//! message pool would give (`Filecoin.MpoolGetNonce`) against the actor's nonce on chain
//! (`Filecoin.StateGetActor(addr, head)`, its `Nonce`); both `read`.
//!
//! The gap is how many messages the pool holds beyond what the chain has taken. Lotus
//! (`chain/messagepool`) counts from the state after the head's own messages while
//! `StateGetActor` reads the head's parent state, so a message taken in by the head shows as a
//! gap of 1 for that epoch: `LotusWalletMessagesStuck` waits for an hour without the chain nonce
//! moving. A read whose two calls straddle a new head (the chain nonce ahead) is a gap of 0.
//!
//! An account that does not exist on chain yet (never received funds) has no nonce: Lotus
//! answers `actor not found`, and the gap is absent, not 0, and no failure.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::answers::status_of;
use super::rpc::RpcError;
use super::served::Asker;
use super::types::{flex_u64, object, shape, ShapeError};
use super::WalletSpec;
use crate::contract::{CheckResult, CheckStatus};

/// The `check` label of this section.
pub const NONCES_CHECK: &str = "lotus_wallet_nonces";

/// Wallets whose two nonce calls are in flight at once.
const WALLETS_AT_ONCE: usize = 4;

/// The nonces of one wallet; `None` when unknown or the account does not exist yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Nonces {
    /// The actor's nonce on chain at the head (`StateGetActor`'s `Nonce`).
    pub chain: Option<u64>,
    /// `MpoolGetNonce` minus [`Self::chain`] (0 when the pool's is behind).
    pub gap: Option<u64>,
}

/// True when Lotus says the account has no actor yet: `actor not found` in the message
/// (`chain/state/statetree.go`: `resolution lookup failed (ADDR): resolve address ADDR: actor
/// not found`, code 1), or the code of `api.ErrActorNotFound` (`EActorNotFound` = 11).
pub fn actor_not_found(error: &RpcError) -> bool {
    match error {
        RpcError::Remote { code, message, .. } => {
            *code == Some(11) || message.to_ascii_lowercase().contains("actor not found")
        }
        _ => false,
    }
}

/// `Filecoin.StateGetActor`'s `Nonce`.
pub fn parse_actor_nonce(v: &Value) -> Result<u64, ShapeError> {
    const M: &str = "Filecoin.StateGetActor";
    let actor = object(M, v)?;
    actor
        .get("Nonce")
        .and_then(flex_u64)
        .ok_or_else(|| shape(M, "no Nonce number"))
}

/// `Filecoin.MpoolGetNonce`: a number (or a string).
pub fn parse_pool_nonce(v: &Value) -> Result<u64, ShapeError> {
    flex_u64(v).ok_or_else(|| shape("Filecoin.MpoolGetNonce", "not a nonce number"))
}

/// One wallet's two answers, judged: the nonces, or why they are unknown (`Err(None)`: not
/// served; `Err(Some(reason))`: a failure).
fn judge_wallet(
    pool: Result<Value, RpcError>,
    actor: Result<Value, RpcError>,
) -> Result<Nonces, Option<CheckStatus>> {
    if matches!(&pool, Err(e) if actor_not_found(e))
        || matches!(&actor, Err(e) if actor_not_found(e))
    {
        return Ok(Nonces::default());
    }
    let read = |answer: Result<Value, RpcError>, parse: fn(&Value) -> Result<u64, ShapeError>| {
        match answer {
            Ok(v) => parse(&v).map_err(|e| Some(CheckStatus::Failed(e.to_string()))),
            Err(e) => match status_of(&e) {
                CheckStatus::Skipped(why) => Err(Some(CheckStatus::Skipped(why))),
                other => Err(Some(other)),
            },
        }
    };
    let pool = read(pool, parse_pool_nonce)?;
    let chain = read(actor, parse_actor_nonce)?;
    Ok(Nonces {
        chain: Some(chain),
        gap: Some(pool.saturating_sub(chain)),
    })
}

/// Both nonces of each wallet, a few wallets at a time; one entry per wallet, in order.
pub async fn read_nonces(
    asker: &Asker<'_>,
    wallets: &[WalletSpec],
    deadline: Instant,
) -> (CheckResult, Vec<Nonces>) {
    let begun = std::time::Instant::now();
    let calls: Vec<_> = wallets
        .iter()
        .map(|w| async move {
            tokio::join!(
                asker.call("Filecoin.MpoolGetNonce", json!([w.address]), deadline),
                asker.call("Filecoin.StateGetActor", json!([w.address, null]), deadline),
            )
        })
        .collect();
    let answers: Vec<_> = stream::iter(calls)
        .buffered(WALLETS_AT_ONCE)
        .collect()
        .await;
    let mut nonces = Vec::with_capacity(wallets.len());
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    let mut timed_out = false;
    for (wallet, (pool, actor)) in wallets.iter().zip(answers) {
        match judge_wallet(pool, actor) {
            Ok(read) => nonces.push(read),
            Err(why) => {
                nonces.push(Nonces::default());
                match why {
                    Some(CheckStatus::Skipped(why)) => skipped.push(why),
                    Some(CheckStatus::TimedOut) => {
                        timed_out = true;
                        failures.push(format!("{}: timed out", wallet.address));
                    }
                    Some(CheckStatus::Failed(why)) => {
                        failures.push(format!("{}: {why}", wallet.address))
                    }
                    Some(CheckStatus::Ok) | None => {}
                }
            }
        }
    }
    let status = if timed_out && failures.len() == wallets.len() {
        CheckStatus::TimedOut
    } else if !failures.is_empty() {
        CheckStatus::Failed(failures.join("; "))
    } else if !skipped.is_empty() && skipped.len() == wallets.len() {
        skipped.dedup();
        CheckStatus::Skipped(skipped.join("; "))
    } else {
        CheckStatus::Ok
    };
    (
        CheckResult::new(NONCES_CHECK, status, begun.elapsed()),
        nonces,
    )
}

/// The nonce check when there is no wallet to read (`why`, as the balances say it).
pub fn skipped(why: &str) -> CheckResult {
    CheckResult::new(
        NONCES_CHECK,
        CheckStatus::Skipped(why.to_string()),
        Duration::ZERO,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(code: Option<i64>, message: &str) -> RpcError {
        RpcError::Remote {
            method: "Filecoin.StateGetActor",
            code,
            message: message.into(),
        }
    }

    /// `types.ActorV5` as Lotus marshals it (`chain/types/actor.go`).
    fn actor(nonce: Value) -> Value {
        json!({
            "Code": {"/": "bafk2bzacecjkjqwpkfsn6mxnphhmmf5ysqp3vt2tsyw4ymnwlgtb7ymrysbq"},
            "Head": {"/": "bafy2bzaceavvqbzrsmbnfbodr6fmggbxdbsxrz6wkgk2bxc5xjhpd3s5gyjyk"},
            "Nonce": nonce,
            "Balance": "1500000000000000000",
            "DelegatedAddress": null
        })
    }

    #[test]
    fn the_gap_is_the_pool_nonce_minus_the_chain_nonce() {
        assert_eq!(
            judge_wallet(Ok(json!(45)), Ok(actor(json!(42)))),
            Ok(Nonces {
                chain: Some(42),
                gap: Some(3)
            })
        );
        assert_eq!(
            judge_wallet(Ok(json!("42")), Ok(actor(json!("42")))),
            Ok(Nonces {
                chain: Some(42),
                gap: Some(0)
            })
        );
        // The two reads straddle a new head: the chain is ahead, nothing is pending.
        assert_eq!(
            judge_wallet(Ok(json!(41)), Ok(actor(json!(42))))
                .unwrap()
                .gap,
            Some(0)
        );
    }

    #[test]
    fn an_account_without_an_actor_has_no_gap_and_no_failure() {
        let lookup = "resolution lookup failed (f1abc): resolve address f1abc: actor not found";
        assert_eq!(
            judge_wallet(Err(remote(Some(1), lookup)), Err(remote(Some(1), lookup))),
            Ok(Nonces::default())
        );
        assert_eq!(
            judge_wallet(Ok(json!(0)), Err(remote(Some(11), "actor not found"))),
            Ok(Nonces::default())
        );
    }

    #[test]
    fn failures_and_methods_not_served_are_told_apart() {
        let not_served = RpcError::MethodNotFound {
            method: "Filecoin.MpoolGetNonce",
            evidence: "JSON-RPC -32601".into(),
        };
        assert!(matches!(
            judge_wallet(Err(not_served), Ok(actor(json!(1)))),
            Err(Some(CheckStatus::Skipped(_)))
        ));
        assert!(matches!(
            judge_wallet(Ok(json!(1)), Err(remote(Some(1), "loading tipset: boom"))),
            Err(Some(CheckStatus::Failed(_)))
        ));
        assert!(matches!(
            judge_wallet(Ok(json!(1)), Ok(json!({"Balance": "1"}))),
            Err(Some(CheckStatus::Failed(why))) if why.contains("no Nonce")
        ));
    }
}
