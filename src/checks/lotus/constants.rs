//! The chain constants (genesis timestamp, network name, what the token may do), asked once per
//! Lotus session and again only when `Filecoin.Session` changes.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::answers::Assembly;
use super::rpc::{timed, Timed};
use super::served::Asker;
use super::types;
use crate::contract::{CheckResult, CheckStatus};

/// Chain constants cached per Lotus session.
#[derive(Debug, Clone)]
pub(super) struct ChainConstants {
    /// The session they were read in; `None` if `Session` failed at the time.
    session: Option<String>,
    genesis_timestamp: Option<u64>,
    network_name: Option<String>,
    block_delay_seconds: Option<u64>,
    /// What `Filecoin.AuthVerify` says the configured token may do (`None`: no token, or unknown).
    token_permissions: Option<Vec<crate::contract::Label>>,
    /// `Filecoin.AuthVerify` was answered, or is not served by this node (a gateway): either way
    /// there is nothing more to ask this session.
    token_settled: bool,
}

impl ChainConstants {
    /// Nothing known.
    fn unknown() -> ChainConstants {
        ChainConstants {
            session: None,
            genesis_timestamp: None,
            network_name: None,
            block_delay_seconds: None,
            token_permissions: None,
            token_settled: false,
        }
    }
}

/// Calls made once per Lotus session.
pub(super) struct FreshConstants {
    network_name: Timed<Value>,
    genesis: Timed<Value>,
    /// `Filecoin.AuthVerify`, only when a token is configured.
    token: Option<Timed<Value>>,
}

/// True when the cached constants belong to another session, or miss something they should hold.
pub(super) fn needs_refresh(
    cached: Option<&ChainConstants>,
    session: Option<&str>,
    token_given: bool,
) -> bool {
    let Some(c) = cached else {
        return true;
    };
    let incomplete = c.genesis_timestamp.is_none()
        || c.network_name.is_none()
        || (token_given && !c.token_settled);
    let other_session = session.is_some() && c.session.as_deref() != session;
    incomplete || other_session
}

/// `StateNetworkName`, `ChainGetGenesis` and (with a token) `AuthVerify`, concurrently.
pub(super) async fn fetch_constants(asker: &Asker<'_>, deadline: Instant) -> FreshConstants {
    let (network_name, genesis, token) = tokio::join!(
        timed(asker.call("Filecoin.StateNetworkName", json!([]), deadline)),
        timed(asker.call("Filecoin.ChainGetGenesis", json!([]), deadline)),
        async {
            let begun = std::time::Instant::now();
            asker
                .verify_token(deadline)
                .await
                .map(|answer| (answer, begun.elapsed()))
        },
    );
    FreshConstants {
        network_name,
        genesis,
        token,
    }
}

/// Say (once per session) when the token can do more than an exporter needs.
fn warn_about_powerful_token(permissions: Option<&[String]>) {
    let Some(permissions) = permissions else {
        return;
    };
    let powerful: Vec<&str> = permissions
        .iter()
        .map(String::as_str)
        .filter(|p| matches!(*p, "sign" | "admin"))
        .collect();
    if !powerful.is_empty() {
        log::warn!(
            "the Lotus token carries {} permission: an exporter needs only read (lotus auth create-token --perm read)",
            powerful.join(" and ")
        );
    }
}

impl Assembly {
    /// Use cached chain constants, or freshly fetched ones (and cache those).
    pub(super) fn constants(
        &mut self,
        cached: Option<ChainConstants>,
        fresh: Option<FreshConstants>,
        session: Option<String>,
        cache: &Mutex<Option<ChainConstants>>,
    ) {
        let constants = match fresh {
            Some(fresh) => {
                let network_name = self.record("lotus_network_name", fresh.network_name, |v| {
                    types::parse_string("Filecoin.StateNetworkName", v)
                });
                let genesis_timestamp = self
                    .record("lotus_genesis", fresh.genesis, |v| {
                        types::parse_tipset("Filecoin.ChainGetGenesis", v)
                    })
                    .and_then(|g| g.min_timestamp);
                let token_permissions = match fresh.token {
                    Some(call) => {
                        let permissions =
                            self.record("lotus_token", call, types::parse_permissions);
                        warn_about_powerful_token(permissions.as_deref());
                        permissions.map(|list| {
                            crate::contract::limits::capped(list)
                                .into_iter()
                                .map(crate::contract::Label::new)
                                .collect()
                        })
                    }
                    None => {
                        self.skip_token_check();
                        None
                    }
                };
                let token_settled = token_permissions.is_some()
                    || matches!(self.status_of("lotus_token"), CheckStatus::Skipped(_));
                let fetched = ChainConstants {
                    session,
                    genesis_timestamp,
                    network_name,
                    block_delay_seconds: self.report.block_delay_seconds,
                    token_permissions,
                    token_settled,
                };
                *crate::host::lock(cache) = Some(fetched.clone());
                fetched
            }
            None => {
                let cached = cached.unwrap_or_else(ChainConstants::unknown);
                // Cached constants hold for the session they were read in. With Session
                // unanswered this round they are unconfirmed: not used, and their checks share
                // Session's failure. A node that does not serve Session at all (lotus-gateway)
                // has no sessions to tell apart: its constants stand.
                let session_not_served =
                    matches!(self.status_of("lotus_session"), CheckStatus::Skipped(_));
                let confirmed = session.is_some() || session_not_served;
                let status = if confirmed {
                    CheckStatus::Ok
                } else {
                    self.status_of("lotus_session")
                };
                if cached.token_permissions.is_some() {
                    self.checks.push(CheckResult::new(
                        "lotus_token",
                        status.clone(),
                        Duration::ZERO,
                    ));
                } else if cached.token_settled {
                    let reason = "Filecoin.AuthVerify is not served by this node".to_string();
                    self.checks.push(CheckResult::new(
                        "lotus_token",
                        CheckStatus::Skipped(reason),
                        Duration::ZERO,
                    ));
                } else {
                    self.skip_token_check();
                }
                for check in ["lotus_network_name", "lotus_genesis"] {
                    self.checks
                        .push(CheckResult::new(check, status.clone(), Duration::ZERO));
                }
                if confirmed {
                    cached
                } else {
                    ChainConstants::unknown()
                }
            }
        };
        self.genesis_timestamp = constants.genesis_timestamp;
        self.report.token_permissions = constants.token_permissions.clone();
        self.network_name = constants.network_name.clone();
        if self.report.block_delay_seconds.is_none() {
            self.report.block_delay_seconds = constants.block_delay_seconds;
        }
    }

    fn skip_token_check(&mut self) {
        self.checks.push(CheckResult::new(
            "lotus_token",
            CheckStatus::Skipped("no token configured".into()),
            Duration::ZERO,
        ));
    }
}
