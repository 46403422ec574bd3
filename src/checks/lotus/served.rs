//! What the node said of this round's calls, and the methods it does not serve remembered for
//! its session (`Filecoin.Session`, a UUID that changes when Lotus restarts), so that a node
//! without F3 is not asked its three F3 methods again on every scrape.
//!
//! Every call of a round goes through one [`Asker`]: a method remembered as not served is
//! answered from memory (the same words the node used, so the check's reason does not change);
//! what the node says it does not serve is noted, and so is a front (a proxy, a gateway) that
//! refuses a call with HTTP 429 or 503.
//!
//! # Caveats
//! - Only a node that answered `Filecoin.Version` in the same round is believed: a proxy that
//!   answers 404 to everything while its upstream restarts says nothing of Lotus's methods.
//! - `Filecoin.Version` is never remembered as not served (where it is missing this is no
//!   Lotus API, a failure said on every scrape).
//! - A node without `Filecoin.Session` (lotus-gateway) has no sessions to tell apart: what it
//!   does not serve is asked again every [`ASK_AGAIN_WITHOUT_SESSION`] rounds.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use serde_json::Value;
use tokio::time::Instant;

use super::rpc::{RpcClient, RpcError, RpcPath};

/// The method every Lotus API serves.
const VERSION: &str = "Filecoin.Version";
/// The method whose answer names the session.
const SESSION: &str = "Filecoin.Session";

/// Rounds after which a node without `Filecoin.Session` is asked again what it did not serve
/// (10 minutes at a 15 s scrape interval).
pub const ASK_AGAIN_WITHOUT_SESSION: u32 = 40;

/// The methods a node said it does not serve, and the session it said so in.
#[derive(Debug, Clone, Default)]
pub struct Unserved {
    /// The session they were learned in (`None`: not known yet, or the node serves no
    /// `Session`).
    session: Option<String>,
    /// Each method with the node's own answer.
    methods: BTreeMap<&'static str, RpcError>,
    /// Rounds since the methods were learned while the node serves no `Session`.
    rounds_without_session: u32,
}

impl Unserved {
    /// True when `session` (this round's `Session` answer) is another Lotus session than the one
    /// these were learned in: everything learned per session is to be asked again.
    pub fn other_session(&self, session: Option<&str>) -> bool {
        matches!((self.session.as_deref(), session), (Some(known), Some(now)) if known != now)
    }

    /// The methods remembered as not served, for tests and the status of a round.
    pub fn methods(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.methods.keys().copied()
    }

    /// What to remember after a round: `version_answered` (only then is the node believed),
    /// `session` (this round's `Session` answer) and what the node said it does not serve.
    pub fn after_round(
        &self,
        version_answered: bool,
        session: Option<&str>,
        noted: Vec<(&'static str, RpcError)>,
    ) -> Unserved {
        let mut next = self.clone();
        if !version_answered {
            return next;
        }
        if session.is_some() && next.session.as_deref() != session {
            next = Unserved {
                session: session.map(String::from),
                ..Unserved::default()
            };
        }
        next.methods.extend(noted);
        if next.methods.contains_key(SESSION) {
            next.rounds_without_session += 1;
            if next.rounds_without_session > ASK_AGAIN_WITHOUT_SESSION {
                next = Unserved::default();
            }
        }
        next
    }
}

/// What one round's calls said besides their answers.
#[derive(Debug, Default)]
pub struct Notes {
    /// Methods the node said it does not serve this round (asked, not remembered).
    pub unserved: Vec<(&'static str, RpcError)>,
    /// Calls refused by Lotus's front with HTTP 429 or 503.
    pub refused: Vec<RpcError>,
    /// Calls made this round (not answered from memory).
    pub calls: usize,
}

/// One round's calls: through the memory of what is not served, noting what the node says.
pub struct Asker<'a> {
    client: &'a RpcClient,
    remembered: &'a BTreeMap<&'static str, RpcError>,
    notes: Mutex<Notes>,
}

impl<'a> Asker<'a> {
    pub fn new(client: &'a RpcClient, unserved: &'a Unserved) -> Asker<'a> {
        Asker {
            client,
            remembered: &unserved.methods,
            notes: Mutex::new(Notes::default()),
        }
    }

    pub fn client(&self) -> &RpcClient {
        self.client
    }

    /// Call `method` on the configured endpoint, or answer from memory when it is not served.
    pub async fn call(
        &self,
        method: &'static str,
        params: Value,
        deadline: Instant,
    ) -> Result<Value, RpcError> {
        if let Some(said) = self.remembered.get(method) {
            return Err(said.clone());
        }
        let answer = self.client.call(method, params, deadline);
        self.noting(method, answer).await
    }

    /// Call `method` on another endpoint of the listener (`/rpc/v2`): never remembered here
    /// (the finality route is learned per session by the finality section), but noted.
    pub async fn call_at(
        &self,
        at: &RpcPath,
        method: &'static str,
        params: Value,
        deadline: Instant,
    ) -> Result<Value, RpcError> {
        let answer = self.client.call_at(at, method, params, deadline).await;
        self.note(None, &answer);
        answer
    }

    /// `Filecoin.AuthVerify` on the configured token (`None` without one), noted.
    pub async fn verify_token(&self, deadline: Instant) -> Option<Result<Value, RpcError>> {
        let call = self.client.verify_token(deadline)?;
        let answer = call.await;
        self.note(None, &answer);
        Some(answer)
    }

    async fn noting(
        &self,
        method: &'static str,
        answer: impl Future<Output = Result<Value, RpcError>>,
    ) -> Result<Value, RpcError> {
        let answer = answer.await;
        self.note(Some(method), &answer);
        answer
    }

    fn note(&self, method: Option<&'static str>, answer: &Result<Value, RpcError>) {
        let mut notes = crate::host::lock(&self.notes);
        notes.calls += 1;
        match answer {
            Err(e) if e.is_front_refusal() => notes.refused.push(e.clone()),
            Err(e) if e.is_not_served() => {
                if let Some(method) = method.filter(|m| *m != VERSION) {
                    notes.unserved.push((method, e.clone()));
                }
            }
            _ => {}
        }
    }

    /// What the round's calls said.
    pub fn into_notes(self) -> Notes {
        self.notes.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_served(method: &'static str) -> (&'static str, RpcError) {
        let error = RpcError::MethodNotFound {
            method,
            evidence: "JSON-RPC -32601".into(),
        };
        (method, error)
    }

    #[test]
    fn methods_not_served_are_remembered_for_their_session() {
        let start = Unserved::default();
        let learned = start.after_round(true, Some("s1"), vec![not_served("Filecoin.F3IsRunning")]);
        assert_eq!(
            learned.methods().collect::<Vec<_>>(),
            ["Filecoin.F3IsRunning"]
        );
        let kept = learned.after_round(true, Some("s1"), Vec::new());
        assert_eq!(kept.methods().count(), 1, "same session: remembered");
        assert!(kept.other_session(Some("s2")));
        assert!(!kept.other_session(Some("s1")));
        assert!(
            !kept.other_session(None),
            "Session unanswered is no new session"
        );
        let forgotten = kept.after_round(true, Some("s2"), Vec::new());
        assert_eq!(
            forgotten.methods().count(),
            0,
            "a new session is asked again"
        );
    }

    #[test]
    fn a_node_that_did_not_answer_version_teaches_nothing() {
        let learned = Unserved::default().after_round(
            false,
            Some("s1"),
            vec![not_served("Filecoin.SyncState")],
        );
        assert_eq!(learned.methods().count(), 0);
    }

    #[test]
    fn without_a_session_what_is_not_served_is_asked_again_now_and_then() {
        let mut memory = Unserved::default().after_round(
            true,
            None,
            vec![not_served(SESSION), not_served("Filecoin.SyncState")],
        );
        let mut rounds = 1;
        while memory.methods().count() > 0 {
            memory = memory.after_round(true, None, Vec::new());
            rounds += 1;
            assert!(rounds <= ASK_AGAIN_WITHOUT_SESSION + 1, "never asked again");
        }
        assert_eq!(rounds, ASK_AGAIN_WITHOUT_SESSION + 1);
    }
}
