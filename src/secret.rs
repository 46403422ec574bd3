//! Secrets: the Lotus token as a type that never prints, and the scrubbers that remove it (and
//! the follow credentials) from every body a backend sends, before anything is parsed or cut.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;

/// A secret (the Lotus token). It has no `Display`, and `Debug` prints `Secret(<redacted>)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";
/// Parts of the Lotus token shorter than this are left alone (they would match everywhere).
const MIN_SECRET_PART: usize = 8;

/// Removes every occurrence of a set of secrets from text.
#[derive(Clone, Default)]
pub struct Scrubber {
    /// Longest first, so a whole token is replaced before its parts.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrubber")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Scrubber {
    /// A scrubber for the Lotus token: the whole token and each dot-separated part of 8
    /// characters or more (a JWT's header, payload and signature).
    pub fn for_token(token: &str) -> Scrubber {
        let mut scrubber = Scrubber::default();
        scrubber.add(token);
        for part in token.split('.') {
            if part.len() >= MIN_SECRET_PART {
                scrubber.add(part);
            }
        }
        scrubber
    }

    /// A scrubber for basic-auth credentials `user:password`: the pair, its base64 form (as sent
    /// in `Authorization: Basic`) and the password alone when it has 8 characters or more.
    pub fn for_basic_auth(credentials: &str) -> Scrubber {
        let mut scrubber = Scrubber::default();
        scrubber.add(credentials);
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        scrubber.add(&encoded);
        // A cut base64 string ends in a different character: its unpadded stem is scrubbed too.
        scrubber.add(encoded.trim_end_matches('='));
        if let Some((_, password)) = credentials.split_once(':') {
            if password.len() >= MIN_SECRET_PART {
                scrubber.add(password);
            }
        }
        scrubber
    }

    fn add(&mut self, secret: &str) {
        if secret.is_empty() || self.secrets.iter().any(|s| s == secret) {
            return;
        }
        self.secrets.push(secret.to_string());
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// True when there is nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The text with every secret replaced by [`REDACTED`].
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.secrets.iter().any(|s| text.contains(s.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        Cow::Owned(out)
    }

    /// The bytes with every secret replaced by [`REDACTED`] (a body, before it is parsed).
    pub fn bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let mut current: Cow<'a, [u8]> = Cow::Borrowed(bytes);
        for secret in &self.secrets {
            if let Some(replaced) = replace_bytes(&current, secret.as_bytes()) {
                current = Cow::Owned(replaced);
            }
        }
        current
    }

    /// Longest secret, in bytes (what a stream must hold back between chunks).
    pub fn longest(&self) -> usize {
        self.secrets.first().map_or(0, String::len)
    }
}

/// `haystack` with every `needle` replaced by [`REDACTED`]; `None` when there is none.
fn replace_bytes(haystack: &[u8], needle: &[u8]) -> Option<Vec<u8>> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        if haystack[i] == first && &haystack[i..i + needle.len()] == needle {
            let buffer = out.get_or_insert_with(|| Vec::with_capacity(haystack.len()));
            buffer.extend_from_slice(&haystack[copied..i]);
            buffer.extend_from_slice(REDACTED.as_bytes());
            i += needle.len();
            copied = i;
        } else {
            i += 1;
        }
    }
    let mut out = out?;
    out.extend_from_slice(&haystack[copied..]);
    Some(out)
}

/// Scrubs a body that arrives in chunks: a secret split across two chunks is still found.
#[derive(Debug)]
pub struct StreamScrubber {
    scrubber: Scrubber,
    held: Vec<u8>,
}

impl StreamScrubber {
    pub fn new(scrubber: Scrubber) -> StreamScrubber {
        StreamScrubber {
            scrubber,
            held: Vec::new(),
        }
    }

    /// The scrubbed bytes that can be passed on; the last few are held back for the next chunk.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.scrubber.is_empty() {
            return chunk.to_vec();
        }
        self.held.extend_from_slice(chunk);
        let scrubbed = self.scrubber.bytes(&self.held).into_owned();
        let keep = self
            .scrubber
            .longest()
            .saturating_sub(1)
            .min(scrubbed.len());
        let split = scrubbed.len() - keep;
        self.held = scrubbed[split..].to_vec();
        scrubbed[..split].to_vec()
    }

    /// What was held back, scrubbed, at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        let held = std::mem::take(&mut self.held);
        self.scrubber.bytes(&held).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJBbGxvdyI6WyJyZWFkIl19.c2lnbmF0dXJlLXBhcnQ";

    #[test]
    fn scrubs_the_token_and_each_long_part() {
        let s = Scrubber::for_token(TOKEN);
        let (header, rest) = TOKEN.split_once('.').unwrap();
        let (payload, signature) = rest.split_once('.').unwrap();
        for text in [
            format!("Authorization: Bearer {TOKEN}"),
            format!("x {header} y"),
            payload.to_string(),
            format!("sig={signature}!"),
        ] {
            let out = s.text(&text);
            assert!(!out.contains(header) && !out.contains(payload) && !out.contains(signature));
            assert!(out.contains(REDACTED), "{out}");
            let bytes = s.bytes(text.as_bytes());
            assert_eq!(bytes.as_ref(), out.as_bytes());
        }
        assert!(matches!(s.text("nothing here"), Cow::Borrowed(_)));
        // Short parts are not secrets on their own.
        let short = Scrubber::for_token("abc.defghijkl");
        assert_eq!(short.text("abc defghijkl"), format!("abc {REDACTED}"));
    }

    #[test]
    fn scrubs_basic_auth_in_every_form() {
        let s = Scrubber::for_basic_auth("prom:correct-horse");
        let b64 = base64::engine::general_purpose::STANDARD.encode("prom:correct-horse");
        for text in [
            "prom:correct-horse".to_string(),
            format!("Basic {b64}"),
            "password correct-horse".to_string(),
        ] {
            let out = s.text(&text);
            assert!(
                !out.contains("correct-horse") && !out.contains(&b64),
                "{out}"
            );
        }
    }

    #[test]
    fn stream_scrubber_finds_secrets_across_chunks() {
        let body = format!("aaaa Bearer {TOKEN} bbbb {TOKEN}").into_bytes();
        for chunk in 1..body.len() {
            let mut stream = StreamScrubber::new(Scrubber::for_token(TOKEN));
            let mut out = Vec::new();
            for piece in body.chunks(chunk) {
                out.extend(stream.push(piece));
            }
            out.extend(stream.finish());
            // A part may be replaced before the whole token has arrived: either way nothing leaks.
            let out = String::from_utf8(out)
                .unwrap()
                .replace(&format!("{REDACTED}.{REDACTED}.{REDACTED}"), REDACTED);
            assert_eq!(
                out,
                format!("aaaa Bearer {REDACTED} bbbb {REDACTED}"),
                "chunk {chunk}"
            );
        }
    }
}
