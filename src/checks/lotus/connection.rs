//! The connection the Lotus check talks through (the client, the address shown, the token's
//! scrubbers), and its renewal when the files it came from change ([`super::source`]): at most
//! once per round, a `stat` of each followed file, read again when one moved; both off the async
//! runtime, one look at a time, before the round's deadline. When the address or token it gives
//! differs, the client is rebuilt, what was learned per session is forgotten, and the change is
//! logged once at INFO.

use std::sync::Arc;

use tokio::time::{timeout_at, Instant};

use super::rpc::{scrubbers, RpcClient, RpcTarget};
use super::source::Located;
use super::LotusCheck;
use crate::net::http_client::Endpoint;
use crate::secret::{Scrubber, Secret};

/// The longest a round waits for its look at the followed files: a `stat` answers in
/// microseconds and a re-read in milliseconds; past this (a hung mount) the round goes on with
/// the connection in use, keeping the rest of its deadline for the Lotus calls.
const LOOK_WITHIN: std::time::Duration = std::time::Duration::from_millis(500);

/// What a connection was built from: two connections with the same identity are the same.
/// Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
struct Identity {
    /// Endpoint, path and query, or why there is none.
    target: Result<(String, String, String), String>,
    token: Option<String>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The path and query may carry a key, the token is one: neither is shown.
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

impl Identity {
    fn of(target: &Result<RpcTarget, String>, token: Option<&Secret>) -> Identity {
        Identity {
            target: target
                .as_ref()
                .map(|t| (t.endpoint.to_string(), t.path.clone(), t.query.clone()))
                .map_err(Clone::clone),
            token: token.map(|t| t.expose().to_string()),
        }
    }
}

/// The client the check talks through and what is shown of it.
#[derive(Debug)]
pub struct Connection {
    pub client: Result<RpcClient, String>,
    /// The address as shown (never a secret), or `unusable`.
    pub api_address: String,
    /// Where the address came from, in words.
    pub api_source: String,
    pub token_given: bool,
    /// The API is on this host (a unix socket or a loopback address).
    pub local: bool,
    /// Remove the token and the address's secrets from what leaves the check.
    pub scrubbers: Vec<Scrubber>,
    identity: Identity,
}

impl Connection {
    pub fn new(
        target: Result<RpcTarget, String>,
        token: Option<Secret>,
        api_source: String,
        body_cap: usize,
    ) -> Connection {
        let identity = Identity::of(&target, token.as_ref());
        let api_address = match &target {
            Ok(target) => target.display.clone(),
            // The reason names its source (`--lotus.api: ...`, `--lotus.token-file ...`).
            Err(_) => "unusable".to_string(),
        };
        let local = target.as_ref().is_ok_and(|t| t.endpoint.is_local());
        let scrubbers = match &target {
            Ok(target) => scrubbers(token.as_ref(), target),
            Err(_) => token
                .iter()
                .map(|t| Scrubber::for_token(t.expose()))
                .collect(),
        };
        let token_given = token.is_some();
        let client = target.map(|target| RpcClient::new(target, token, body_cap));
        Connection {
            client,
            api_address,
            api_source,
            token_given,
            local,
            scrubbers,
            identity,
        }
    }

    /// The API's TCP host and port when it is on this host and `host_checks` are on.
    pub fn local_tcp_api(&self, host_checks: bool) -> Option<(String, u16)> {
        let client = self.client.as_ref().ok()?;
        match &client.target().endpoint {
            Endpoint::Tcp { host, port } if host_checks && self.local => {
                Some((host.clone(), *port))
            }
            _ => None,
        }
    }
}

impl LotusCheck {
    /// The connection to use this round: the current one, or a new one when a followed file
    /// moved and names another address or token. The files are looked at (`stat`, then read
    /// when one moved) off the async runtime, one look at a time, for at most [`LOOK_WITHIN`]
    /// and before `deadline`: a `stat` stuck in a hung mount (NFS, FUSE) keeps the current
    /// connection for this round and the next ones, and never blocks the runtime thread that
    /// serves every endpoint. (A look that ends late is not used: the next round looks again.)
    pub(super) async fn connection_now(&self, deadline: Instant) -> Arc<Connection> {
        let current = crate::host::lock(&self.connection).clone();
        let Some(sources) = crate::host::lock(&self.sources).clone() else {
            return current;
        };
        let Some(held) = self.sources_slot.try_take() else {
            return current;
        };
        let read = tokio::task::spawn_blocking(move || {
            let _held = held;
            if !sources.moved() {
                return None;
            }
            let mut sources = sources;
            let mut warnings = Vec::new();
            let located = sources.locate(&mut |w| warnings.push(w));
            Some((sources, located, warnings))
        });
        let within = deadline.min(Instant::now() + LOOK_WITHIN);
        let Ok(Ok(Some((sources, located, warnings)))) = timeout_at(within, read).await else {
            return current;
        };
        *crate::host::lock(&self.sources) = Some(sources);
        for warning in warnings {
            self.log_once(log::Level::Warn, &warning);
        }
        self.renew(current, located)
    }

    /// Keep `current` when `located` is the same address and token; otherwise a new
    /// connection, with everything learned per session forgotten.
    fn renew(&self, current: Arc<Connection>, located: Located) -> Arc<Connection> {
        let identity = Identity::of(&located.target, located.token.as_ref());
        if identity == current.identity && located.api_source == current.api_source {
            return current;
        }
        let token_changed = identity.token != current.identity.token;
        let fresh = Arc::new(Connection::new(
            located.target,
            located.token,
            located.api_source,
            self.body_cap,
        ));
        if identity.target != current.identity.target || fresh.api_source != current.api_source {
            log::info!(
                "Lotus address now {} ({}), was {} ({})",
                fresh.api_address,
                fresh.api_source,
                current.api_address,
                current.api_source
            );
        } else if token_changed {
            log::info!("the Lotus token was read again (its file changed)");
        }
        self.forget_sessions();
        *crate::host::lock(&self.connection) = fresh.clone();
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_never_prints_its_token_or_the_address_key() {
        let key = "0123456789abcdef0123456789abcdef";
        let address = format!("http://127.0.0.1:1234/v1/{key}/rpc?apikey={key}");
        let target = crate::checks::lotus::rpc_target(&address).map(|r| r.target);
        let token = Some(Secret::new("SECRET-TOKEN-VALUE".to_string()));
        let connection = Connection::new(target, token, "--lotus.api".into(), 1024);
        let shown = format!("{connection:?}");
        assert!(!shown.contains("SECRET-TOKEN-VALUE"), "{shown}");
        assert!(!shown.contains(key), "{shown}");
        assert!(connection.token_given);
    }

    #[tokio::test]
    async fn a_look_at_the_files_still_stuck_keeps_the_connection_and_is_not_started_again() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(repo.path().join("api"), "/ip4/127.0.0.1/tcp/4321/http\n").unwrap();
        let repo_path = repo.path().to_str().unwrap();
        let settings = crate::checks::test_settings(&["--lotus.path", repo_path], &[]);
        let check = LotusCheck::new(settings.lotus);
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        assert_eq!(
            check.connection_now(deadline).await.api_address,
            "http://127.0.0.1:4321/rpc/v1"
        );
        // Lotus restarted on another port (another size: the stamp moves whatever the clock
        // tick) while an earlier look (a `stat` in a hung mount)
        // still holds the files: this round keeps the connection, and starts no second look.
        std::fs::write(repo.path().join("api"), "/ip4/127.0.0.1/tcp/54321/http\n").unwrap();
        let stuck = check.sources_slot.try_take().expect("free between rounds");
        assert_eq!(
            check.connection_now(deadline).await.api_address,
            "http://127.0.0.1:4321/rpc/v1"
        );
        // Once it ends, the next round follows the file.
        drop(stuck);
        assert_eq!(
            check.connection_now(deadline).await.api_address,
            "http://127.0.0.1:54321/rpc/v1"
        );
        assert!(
            check.sources_slot.try_take().is_some(),
            "released when the look ended"
        );
    }
}
