//! HTTP basic auth against bcrypt hashes, as exporter-toolkit does it.
//!
//! An unknown user is checked against a fallback hash of the highest configured cost, and a
//! failed check of a known user whose hash is cheaper is padded to as long as that fallback check
//! takes, so user names cannot be probed by timing. Only one bcrypt verification runs at a time
//! (it is deliberately expensive); at most [`MAX_PENDING`] attempts wait for it, at most
//! [`MAX_PENDING_PER_CLIENT`] from one client address, each for at most [`VERIFY_WAIT`]: an attempt
//! beyond that is refused at once ([`Verdict::Busy`], HTTP 429), so a flood of wrong passwords
//! cannot queue a correct login behind it. Successes are remembered in a small cache compared in
//! constant time, so a Prometheus scraping every few seconds pays the bcrypt cost once.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use http::HeaderValue;

/// Highest bcrypt cost accepted (cost 16 already takes seconds per check).
pub const MAX_COST: u32 = 16;

/// Most remembered successful (user, password) pairs.
const CACHE_SIZE: usize = 64;

/// Most attempts waiting for (or in) a bcrypt verification at once.
pub const MAX_PENDING: usize = 8;
/// Most of those from one client address.
pub const MAX_PENDING_PER_CLIENT: usize = 2;
/// Longest an attempt waits for its turn before it is refused.
pub const VERIFY_WAIT: Duration = Duration::from_secs(5);

/// What became of one request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A configured user with the right password.
    Allowed,
    /// No credentials, an unknown user or a wrong password (HTTP 401).
    Denied,
    /// Too many attempts are being checked: not checked, try again (HTTP 429).
    Busy,
}

/// Basic-auth users and their bcrypt hashes.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    fallback_hash: String,
    verifying: tokio::sync::Mutex<()>,
    successes: Mutex<Vec<(String, String)>>,
    /// Attempts waiting or being verified, per client address.
    pending: Mutex<HashMap<IpAddr, usize>>,
    /// How long the last check against the fallback (highest-cost) hash took, in nanoseconds:
    /// every failed check lasts at least this long.
    failure_time: AtomicU64,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.len())
            .finish()
    }
}

impl BasicAuth {
    /// Validate every hash (a plain-text password is refused, naming its user).
    pub fn new(users: BTreeMap<String, String>) -> Result<BasicAuth, String> {
        let mut cost = 4;
        for (user, hash) in &users {
            let parts: bcrypt::HashParts = hash.parse().map_err(|_| {
                format!("basic_auth_users.{user}: not a bcrypt hash (make one with `lotus-follow-exporter hash-password`)")
            })?;
            if parts.get_cost() > MAX_COST {
                return Err(format!(
                    "basic_auth_users.{user}: bcrypt cost {} is above {MAX_COST}: each check would take minutes (10 is usual)",
                    parts.get_cost()
                ));
            }
            cost = cost.max(parts.get_cost());
        }
        let filler = std::collections::hash_map::RandomState::new().hash_one("fallback");
        let fallback_hash = bcrypt::hash(format!("{filler:x}"), cost)
            .map_err(|e| format!("basic_auth_users: {e}"))?;
        // One check at the highest cost, timed: the floor of every failed check until the next.
        let begun = Instant::now();
        let _ = bcrypt::verify("", &fallback_hash);
        let failure_time = AtomicU64::new(nanos(begun.elapsed()));
        Ok(BasicAuth {
            users,
            fallback_hash,
            verifying: tokio::sync::Mutex::new(()),
            successes: Mutex::new(Vec::new()),
            pending: Mutex::new(HashMap::new()),
            failure_time,
        })
    }

    /// Check the `Authorization` header of a request from `client`.
    pub async fn authorize(&self, header: Option<&HeaderValue>, client: IpAddr) -> Verdict {
        let Some((user, password)) = header.and_then(parse_basic) else {
            return Verdict::Denied;
        };
        if self.remembered(&user, &password) {
            return Verdict::Allowed;
        }
        let Some(_pending) = self.enter(client) else {
            return Verdict::Busy;
        };
        let known = self.users.get(&user);
        let hash = known.unwrap_or(&self.fallback_hash).clone();
        let Ok(_one_at_a_time) = tokio::time::timeout(VERIFY_WAIT, self.verifying.lock()).await
        else {
            return Verdict::Busy;
        };
        let begun = Instant::now();
        let candidate = password.clone();
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(candidate, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        let took = begun.elapsed();
        drop(_one_at_a_time);
        drop(_pending);
        if known.is_none() {
            self.failure_time.store(nanos(took), Ordering::Relaxed);
        }
        if ok && known.is_some() {
            self.remember(user, password);
            return Verdict::Allowed;
        }
        // A known user's cheaper hash fails faster than the fallback: wait out the difference.
        let floor = Duration::from_nanos(self.failure_time.load(Ordering::Relaxed));
        if let Some(left) = floor.checked_sub(took) {
            tokio::time::sleep(left).await;
        }
        Verdict::Denied
    }

    /// Take a place among the pending attempts, or `None` when there is none for `client`.
    fn enter(&self, client: IpAddr) -> Option<Pending<'_>> {
        let mut pending = crate::host::lock(&self.pending);
        let total: usize = pending.values().sum();
        let mine = pending.get(&client).copied().unwrap_or(0);
        if total >= MAX_PENDING || mine >= MAX_PENDING_PER_CLIENT {
            return None;
        }
        *pending.entry(client).or_insert(0) += 1;
        Some(Pending { auth: self, client })
    }

    fn remembered(&self, user: &str, password: &str) -> bool {
        let cache = crate::host::lock(&self.successes);
        cache.iter().fold(false, |found, (u, p)| {
            found | (constant_time_eq(u, user) & constant_time_eq(p, password))
        })
    }

    fn remember(&self, user: String, password: String) {
        let mut cache = crate::host::lock(&self.successes);
        if cache.len() >= CACHE_SIZE {
            cache.remove(0);
        }
        cache.push((user, password));
    }
}

/// A place among the pending attempts, given back on drop.
struct Pending<'a> {
    auth: &'a BasicAuth,
    client: IpAddr,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let mut pending = crate::host::lock(&self.auth.pending);
        if let Some(count) = pending.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                pending.remove(&self.client);
            }
        }
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Decode `Basic base64(user:password)`.
pub fn parse_basic(header: &HeaderValue) -> Option<(String, String)> {
    let text = header.to_str().ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Compare two strings in time that depends only on their lengths.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    fn auth() -> BasicAuth {
        let mut users = BTreeMap::new();
        users.insert("alice".to_string(), bcrypt::hash("secret", 4).unwrap());
        BasicAuth::new(users).unwrap()
    }

    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn accepts_only_the_right_password() {
        let auth = auth();
        let check = |h: Option<HeaderValue>| {
            let auth = &auth;
            async move { auth.authorize(h.as_ref(), HERE).await }
        };
        assert_eq!(
            check(Some(header("alice", "secret"))).await,
            Verdict::Allowed
        );
        assert_eq!(
            check(Some(header("alice", "secret"))).await,
            Verdict::Allowed,
            "cached success"
        );
        assert_eq!(check(Some(header("alice", "wrong"))).await, Verdict::Denied);
        assert_eq!(
            check(Some(header("mallory", "secret"))).await,
            Verdict::Denied
        );
        assert_eq!(check(None).await, Verdict::Denied);
        assert_eq!(
            check(Some(HeaderValue::from_static("Bearer x"))).await,
            Verdict::Denied
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_wrong_passwords_is_refused_and_does_not_queue_a_correct_login() {
        let mut users = BTreeMap::new();
        users.insert("alice".to_string(), bcrypt::hash("secret", 6).unwrap());
        let auth = std::sync::Arc::new(BasicAuth::new(users).unwrap());
        let flooder: IpAddr = "192.0.2.1".parse().unwrap();
        let flood: Vec<_> = (0..50)
            .map(|i| {
                let auth = auth.clone();
                tokio::spawn(async move {
                    auth.authorize(Some(&header("alice", &format!("wrong{i}"))), flooder)
                        .await
                })
            })
            .collect();
        tokio::task::yield_now().await;
        let begun = Instant::now();
        let login = auth
            .authorize(
                Some(&header("alice", "secret")),
                "192.0.2.2".parse().unwrap(),
            )
            .await;
        let took = begun.elapsed();
        assert_eq!(login, Verdict::Allowed);
        let mut busy = 0;
        for attempt in flood {
            match attempt.await.unwrap() {
                Verdict::Busy => busy += 1,
                verdict => assert_eq!(verdict, Verdict::Denied),
            }
        }
        assert!(busy > 0, "attempts beyond the bound are refused at once");
        // Generous: the login waits for at most two of the flood's checks, not fifty.
        assert!(
            took < Duration::from_secs(10),
            "a correct login took {took:?}"
        );
    }

    #[tokio::test]
    async fn failures_of_cheap_hashes_last_as_long_as_the_costliest_check() {
        let mut users = BTreeMap::new();
        users.insert("cheap".to_string(), bcrypt::hash("x", 4).unwrap());
        users.insert("dear".to_string(), bcrypt::hash("y", 8).unwrap());
        let auth = BasicAuth::new(users).unwrap();
        let floor = Duration::from_nanos(auth.failure_time.load(Ordering::Relaxed));
        let begun = Instant::now();
        assert_eq!(
            auth.authorize(Some(&header("cheap", "wrong")), HERE).await,
            Verdict::Denied
        );
        // Not a timing bound on the machine: the padding is at least the floor measured at start.
        assert!(
            begun.elapsed() >= floor,
            "{:?} < {floor:?}",
            begun.elapsed()
        );
    }

    #[test]
    fn parses_basic_headers() {
        assert_eq!(
            parse_basic(&header("a", "b:c")),
            Some(("a".into(), "b:c".into()))
        );
        assert_eq!(parse_basic(&HeaderValue::from_static("Basic !!!")), None);
        assert_eq!(parse_basic(&HeaderValue::from_static("Basic")), None);
    }

    #[test]
    fn refuses_plain_text_passwords() {
        let mut users = BTreeMap::new();
        users.insert("bob".to_string(), "hunter2".to_string());
        let err = BasicAuth::new(users).unwrap_err();
        assert!(
            err.contains("basic_auth_users.bob") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn refuses_hashes_too_costly_to_check() {
        let mut users = BTreeMap::new();
        let slow = bcrypt::hash("x", 4).unwrap().replacen("$04$", "$31$", 1);
        users.insert("carol".to_string(), slow);
        let err = BasicAuth::new(users).unwrap_err();
        assert!(
            err.contains("basic_auth_users.carol") && err.contains("cost 31"),
            "{err}"
        );
    }

    #[test]
    fn constant_time_eq_compares_contents() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
