//! Bounds on what backends say: every string a report keeps is cut to a documented length
//! (marked) with control characters replaced, and every list is capped.
//!
//! [`Label`] (a value that becomes a Prometheus label) and [`Text`] (a reason in words) can only
//! be built through the cut, so a report whose strings have these types is bounded where they
//! enter it, and no central list of fields has to know them.

use std::borrow::Cow;
use std::fmt;

use super::result::{CheckResult, CheckStatus};
use crate::secret::Scrubber;

/// Longest value (version, commit, peer id or name, follower name, address) kept, in bytes.
pub const MAX_LABEL_BYTES: usize = 128;
/// Longest reason in words (an error, a failure), in bytes.
pub const MAX_TEXT_BYTES: usize = 512;
/// What a cut string ends with.
pub const CUT_MARK: &str = "…[cut]";
/// Most entries of a backend-provided list kept (swarm addresses, token permissions, pin states).
pub const MAX_LIST: usize = 32;

/// `text` with control characters replaced by U+FFFD and cut to `max` bytes on a character
/// boundary, ending in [`CUT_MARK`] when cut.
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    let clean = !text.chars().any(char::is_control);
    if clean && text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(max));
    let budget = max.saturating_sub(CUT_MARK.len());
    let mut cut_here = None;
    for c in text.chars() {
        let c = if c.is_control() { '\u{fffd}' } else { c };
        if cut_here.is_none() && out.len() + c.len_utf8() > budget {
            cut_here = Some(out.len());
        }
        if out.len() + c.len_utf8() > max {
            let keep = cut_here.unwrap_or(out.len());
            out.truncate(keep);
            out.push_str(CUT_MARK);
            return Cow::Owned(out);
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// Cut `text` in place (see [`cut`]).
pub fn cut_in_place(text: &mut String, max: usize) {
    if let Cow::Owned(cut) = cut(text, max) {
        *text = cut;
    }
}

// In-place bounds for reports whose strings are still plain `String`s.

pub fn label(text: &mut String) {
    cut_in_place(text, MAX_LABEL_BYTES);
}

/// Scrub and cut a value that becomes a label to [`MAX_LABEL_BYTES`].
pub fn scrubbed_label(text: &mut String, scrubber: &Scrubber) {
    if let Cow::Owned(clean) = scrubber.text(text) {
        *text = clean;
    }
    label(text);
}

/// Bound a list of values that become labels: at most [`MAX_LIST`], each cut to
/// [`MAX_LABEL_BYTES`].
pub fn labels(values: &mut Vec<String>) {
    values.truncate(MAX_LIST);
    values.iter_mut().for_each(label);
}

/// Bound a follower's name (the `cluster_name` label, its identity): like [`label`], but a
/// name that had to change (cut, or control characters replaced) ends in a hash of the whole
/// name, so two long names sharing their first bytes never become one label (two followers
/// under one label are duplicate series, and mix each other's verdicts).
pub fn identity(name: &mut String) {
    use std::hash::{Hash, Hasher};
    if let Cow::Borrowed(_) = cut(name, MAX_LABEL_BYTES) {
        return;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut hasher);
    let tag = format!("~{:016x}", hasher.finish());
    let mut bounded = cut(name, MAX_LABEL_BYTES - tag.len()).into_owned();
    bounded.push_str(&tag);
    *name = bounded;
}

pub fn label_opt(text: &mut Option<String>) {
    if let Some(text) = text {
        label(text);
    }
}

/// Bound every check's reason and cluster name.
pub fn bound_results(checks: &mut [CheckResult], scrubber: &Scrubber) {
    for check in checks {
        if let Some(name) = &mut check.cluster_name {
            identity(name);
        }
        if let CheckStatus::Failed(reason) | CheckStatus::Skipped(reason) = &mut check.status {
            text(reason, scrubber);
        }
    }
}

/// Scrub and cut a reason in words to [`MAX_TEXT_BYTES`].
pub fn text(reason: &mut String, scrubber: &Scrubber) {
    if let Cow::Owned(clean) = scrubber.text(reason) {
        *reason = clean;
    }
    cut_in_place(reason, MAX_TEXT_BYTES);
}

/// Bound a list of reasons in words: at most [`MAX_LIST`], each scrubbed and cut.
pub fn texts(reasons: &mut Vec<String>, scrubber: &Scrubber) {
    reasons.truncate(MAX_LIST);
    for reason in reasons.iter_mut() {
        text(reason, scrubber);
    }
}

/// A string that becomes a label value: at most [`MAX_LABEL_BYTES`], no control character.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(String);

impl Label {
    /// Cut `text` to a label (see [`cut`]).
    pub fn new(text: impl AsRef<str>) -> Label {
        Label(cut(text.as_ref(), MAX_LABEL_BYTES).into_owned())
    }

    /// Scrub `text` of the secrets `scrubber` knows, then cut it.
    pub fn scrubbed(text: &str, scrubber: &Scrubber) -> Label {
        Label::new(scrubber.text(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Remove the secrets `scrubber` knows (and cut again).
    pub fn scrub(&mut self, scrubber: &Scrubber) {
        if let Cow::Owned(clean) = scrubber.text(&self.0) {
            *self = Label::new(clean);
        }
    }
}

/// A reason in words: at most [`MAX_TEXT_BYTES`], no control character.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(String);

impl Text {
    /// Cut `text` to a reason (see [`cut`]).
    pub fn new(text: impl AsRef<str>) -> Text {
        Text(cut(text.as_ref(), MAX_TEXT_BYTES).into_owned())
    }

    /// Scrub `text` of the secrets `scrubber` knows, then cut it.
    pub fn scrubbed(text: &str, scrubber: &Scrubber) -> Text {
        Text::new(scrubber.text(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Remove the secrets `scrubber` knows (and cut again).
    pub fn scrub(&mut self, scrubber: &Scrubber) {
        if let Cow::Owned(clean) = scrubber.text(&self.0) {
            *self = Text::new(clean);
        }
    }
}

macro_rules! string_like {
    ($t:ty) => {
        impl std::ops::Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl From<&str> for $t {
            fn from(text: &str) -> Self {
                <$t>::new(text)
            }
        }
        impl From<String> for $t {
            fn from(text: String) -> Self {
                <$t>::new(text)
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}
string_like!(Label);
string_like!(Text);

/// Keep at most [`MAX_LIST`] items of a backend-provided list.
pub fn capped<T>(mut items: Vec<T>) -> Vec<T> {
    items.truncate(MAX_LIST);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_character_boundaries_and_marks_the_cut() {
        assert!(matches!(cut("short", 10), Cow::Borrowed(_)));
        let long = "é".repeat(100);
        let out = cut(&long, 21);
        assert!(out.len() <= 21 && out.ends_with(CUT_MARK), "{out}");
        assert_eq!(cut("a\nb\u{1b}c", 100), "a\u{fffd}b\u{fffd}c");
        let huge = "v".repeat(7 << 20);
        let out = cut(&huge, MAX_LABEL_BYTES);
        assert!(out.len() <= MAX_LABEL_BYTES && out.ends_with(CUT_MARK));
        assert_eq!(cut(&"x".repeat(128), 128).len(), 128);
    }

    #[test]
    fn long_follower_names_sharing_a_prefix_stay_apart() {
        let long = "L".repeat(200);
        let mut names = [
            format!("nobody/{long}1"),
            format!("nobody/{long}2"),
            "a\nb".to_string(),
            "a\tb".to_string(),
        ];
        names.iter_mut().for_each(identity);
        for name in &names {
            assert!(name.len() <= MAX_LABEL_BYTES, "{name}");
            assert!(!name.chars().any(char::is_control), "{name:?}");
        }
        assert_ne!(names[0], names[1]);
        assert_ne!(names[2], names[3]);
        assert!(names[0].contains(CUT_MARK));
        let mut short = "websites".to_string();
        identity(&mut short);
        assert_eq!(short, "websites");
    }

    #[test]
    fn labels_and_texts_are_bounded_when_built() {
        let label = Label::new("v".repeat(10_000));
        assert!(label.len() <= MAX_LABEL_BYTES && label.ends_with(CUT_MARK));
        let text = Text::new(format!("a\n{}", "e".repeat(10_000)));
        assert!(text.len() <= MAX_TEXT_BYTES && text.starts_with("a\u{fffd}"));
        assert_eq!(Label::new("websites"), "websites");
    }
}
