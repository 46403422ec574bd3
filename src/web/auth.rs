//! HTTP basic auth against bcrypt hashes, as exporter-toolkit does it.
//!
//! An unknown user is checked against a fallback hash of the same cost, so the answer takes as
//! long as for a known user and user names cannot be probed by timing. Only one bcrypt
//! verification runs at a time (it is deliberately expensive), and successes are remembered in a
//! small cache compared in constant time, so a Prometheus scraping every few seconds pays the
//! bcrypt cost once.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

use base64::Engine;
use http::HeaderValue;

/// Highest bcrypt cost accepted (cost 16 already takes seconds per check).
pub const MAX_COST: u32 = 16;

/// Most remembered successful (user, password) pairs.
const CACHE_SIZE: usize = 64;

/// Basic-auth users and their bcrypt hashes.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    fallback_hash: String,
    verifying: tokio::sync::Mutex<()>,
    successes: Mutex<Vec<(String, String)>>,
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
        Ok(BasicAuth {
            users,
            fallback_hash,
            verifying: tokio::sync::Mutex::new(()),
            successes: Mutex::new(Vec::new()),
        })
    }

    /// True when the `Authorization` header carries a configured user and their password.
    pub async fn authorize(&self, header: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = header.and_then(parse_basic) else {
            return false;
        };
        if self.remembered(&user, &password) {
            return true;
        }
        let known = self.users.get(&user);
        let hash = known.unwrap_or(&self.fallback_hash).clone();
        let ok = {
            let _one_at_a_time = self.verifying.lock().await;
            let candidate = password.clone();
            tokio::task::spawn_blocking(move || bcrypt::verify(candidate, &hash).unwrap_or(false))
                .await
                .unwrap_or(false)
        };
        let ok = ok && known.is_some();
        if ok {
            self.remember(user, password);
        }
        ok
    }

    fn remembered(&self, user: &str, password: &str) -> bool {
        let Ok(cache) = self.successes.lock() else {
            return false;
        };
        cache.iter().fold(false, |found, (u, p)| {
            found | (constant_time_eq(u, user) & constant_time_eq(p, password))
        })
    }

    fn remember(&self, user: String, password: String) {
        if let Ok(mut cache) = self.successes.lock() {
            if cache.len() >= CACHE_SIZE {
                cache.remove(0);
            }
            cache.push((user, password));
        }
    }
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

    #[tokio::test]
    async fn accepts_only_the_right_password() {
        let auth = auth();
        assert!(auth.authorize(Some(&header("alice", "secret"))).await);
        assert!(
            auth.authorize(Some(&header("alice", "secret"))).await,
            "cached success"
        );
        assert!(!auth.authorize(Some(&header("alice", "wrong"))).await);
        assert!(!auth.authorize(Some(&header("mallory", "secret"))).await);
        assert!(!auth.authorize(None).await);
        assert!(
            !auth
                .authorize(Some(&HeaderValue::from_static("Bearer x")))
                .await
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
