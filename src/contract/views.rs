//! The neutral builders a section writes itself into besides the metrics: the `/status`
//! document, the `check` report, the status page and the `ports` command's plan. The renderers
//! own the frames (headers, order, encoding); a section only fills its part.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::result::Health;

/// The `/status` JSON document under construction: each section inserts its own keys.
#[derive(Debug, Default)]
pub struct StatusDoc {
    pub(crate) fields: Map<String, Value>,
}

impl StatusDoc {
    /// Set a top-level key (`lotus`, `cluster_follow`, `ports`, ...).
    pub fn insert(&mut self, key: &str, value: Value) {
        self.fields.insert(key.to_string(), value);
    }

    /// The document.
    pub fn into_value(self) -> Value {
        Value::Object(self.fields)
    }
}

/// The `check` report under construction: plain lines, one fact per line.
#[derive(Debug, Default)]
pub struct TextReport {
    pub(crate) out: String,
}

impl TextReport {
    /// Append one line (a newline is added).
    pub fn line(&mut self, line: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{line}");
    }

    /// The report's text, to write lines into with `writeln!`.
    pub fn buffer(&mut self) -> &mut String {
        &mut self.out
    }

    /// The report so far.
    pub fn as_str(&self) -> &str {
        &self.out
    }
}

/// The status page under construction: one badge per section in the summary line, then each
/// section's body (escaped HTML, built with [`html`]).
#[derive(Debug, Default)]
pub struct HtmlPage {
    pub(crate) summary: Vec<String>,
    pub(crate) body: String,
}

impl HtmlPage {
    /// A summary badge: a link to `#anchor` named `title`, and `text` coloured by `health`.
    pub fn summary(&mut self, anchor: &str, title: &str, health: Health, text: &str) {
        self.summary.push(format!(
            "<a href=\"#{}\">{}</a> <span class=\"badge {}\">{}</span>",
            html::esc(anchor),
            html::esc(title),
            health.as_str(),
            html::esc(text)
        ));
    }

    /// The body to write escaped HTML into.
    pub fn body(&mut self) -> &mut String {
        &mut self.body
    }
}

/// The `ports` command's output under construction: the plan as a table, notes, and whether
/// something in it is a conflict (the command's exit status).
#[derive(Debug, Default)]
pub struct PlanView {
    pub text: String,
    pub conflict: bool,
}

/// Format a wall-clock time as RFC 3339 (seconds precision, UTC).
pub fn rfc3339(time: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Small HTML helpers for section bodies: escaping, figures, verdict badges, rows, reasons.
pub mod html {
    use std::fmt::Write as _;

    /// Escape text for HTML element content and quoted attribute values.
    pub fn esc(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
        }
        out
    }

    /// A figure as plain digits, or `unknown` when it was not measured.
    pub fn num(value: Option<u64>) -> String {
        value.map_or_else(|| "unknown".to_string(), |v| v.to_string())
    }

    /// A verdict word with its colour class (the word itself is one of a fixed set).
    pub fn verdict(word: &str) -> String {
        format!("<span class=\"badge {0}\">{0}</span>", esc(word))
    }

    /// A list of reasons (escaped), or nothing.
    pub fn reasons<S: AsRef<str>>(out: &mut String, list: &[S]) {
        if list.is_empty() {
            return;
        }
        out.push_str("<ul class=\"reasons\">");
        for reason in list {
            let _ = write!(out, "<li>{}</li>", esc(reason.as_ref()));
        }
        out.push_str("</ul>");
    }

    /// A table row `name | value` (`value` is HTML already).
    pub fn row(out: &mut String, name: &str, value: &str) {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{name}</th><td>{value}</td></tr>"
        );
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn escapes_every_special_character() {
            assert_eq!(
                esc("<script>alert('x\"&')</script>"),
                "&lt;script&gt;alert(&#39;x&quot;&amp;&#39;)&lt;/script&gt;"
            );
        }

        #[test]
        fn unknown_figures_read_unknown_not_zero() {
            assert_eq!(num(None), "unknown");
            assert_eq!(num(Some(1234567)), "1234567");
        }
    }
}
