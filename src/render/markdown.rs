//! The runbook as a page: `docs/runbook.md`, compiled into the binary, rendered to HTML once
//! and served on `/runbook`, so that every alert's `runbook_url` reaches it wherever the
//! exporter runs.
//!
//! The renderer knows the Markdown the runbook is written in, nothing more: ATX headings (each
//! gets the anchor GitHub would give it: `### LotusDown` is `#lotusdown`), paragraphs, `-`
//! and `1.` lists with indented continuation lines, fenced code blocks, `---` rules, and inline
//! code, `**bold**`, `*emphasis*` and `[links](...)`. Everything is HTML-escaped; a link to
//! another file of the repository (not `#anchor` nor `http(s)://`) is shown as its text.

use std::fmt::Write;

use super::html::esc;

/// The runbook's Markdown source.
pub const RUNBOOK: &str = include_str!("../../docs/runbook.md");

/// The runbook page, rendered once.
pub fn runbook_page() -> &'static str {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PAGE.get_or_init(|| page("lotus-follow-exporter runbook", &to_html(RUNBOOK)))
}

/// A whole HTML document around `body`.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title>\n<style>body{{font-family:sans-serif;max-width:50em;margin:auto;\
         padding:0 1em;line-height:1.45}}code,pre{{background:#f3f3f3}}pre{{padding:.5em;\
         overflow-x:auto}}h3{{border-top:1px solid #ddd;padding-top:.6em}}</style></head>\n\
         <body>\n{body}</body>\n</html>\n",
        esc(title)
    )
}

/// The anchor GitHub gives a heading: lower case, spaces to `-`, only letters, digits, `-`
/// and `_` kept.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every anchor the rendered page has, in order.
pub fn anchors(markdown: &str) -> Vec<String> {
    blocks(markdown)
        .into_iter()
        .filter_map(|b| match b {
            Block::Heading(_, text) => Some(anchor(&text)),
            _ => None,
        })
        .collect()
}

#[derive(Debug, PartialEq)]
enum Block {
    Heading(usize, String),
    Paragraph(String),
    List { ordered: bool, items: Vec<String> },
    Code(String),
    Rule,
}

/// The Markdown split into blocks.
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = markdown.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with("```") {
            let mut code = String::new();
            for line in lines.by_ref() {
                if line.trim_start().starts_with("```") {
                    break;
                }
                code.push_str(line);
                code.push('\n');
            }
            out.push(Block::Code(code));
        } else if trimmed == "---" {
            out.push(Block::Rule);
        } else if let Some((level, text)) = heading(trimmed) {
            out.push(Block::Heading(level, text.to_string()));
        } else if let Some((ordered, first)) = list_item(trimmed) {
            let mut items = vec![first.to_string()];
            while let Some(next) = lines.peek() {
                let next = next.trim_end();
                if next.is_empty() {
                    break;
                }
                if let Some((o, item)) = list_item(next).filter(|(o, _)| *o == ordered) {
                    debug_assert_eq!(o, ordered);
                    items.push(item.to_string());
                } else if next.starts_with(' ') {
                    let last = items.last_mut().expect("one item at least");
                    last.push(' ');
                    last.push_str(next.trim());
                } else {
                    break;
                }
                lines.next();
            }
            out.push(Block::List { ordered, items });
        } else {
            let mut text = trimmed.to_string();
            while let Some(next) = lines.peek() {
                let next = next.trim_end();
                if next.is_empty()
                    || next.starts_with("```")
                    || heading(next).is_some()
                    || list_item(next).is_some()
                {
                    break;
                }
                text.push(' ');
                text.push_str(next.trim());
                lines.next();
            }
            out.push(Block::Paragraph(text));
        }
    }
    out
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    let rest = line.get(level..)?;
    ((1..=6).contains(&level) && rest.starts_with(' ')).then(|| (level, rest.trim()))
}

/// `- item` or `1. item`: whether it is ordered, and its text.
fn list_item(line: &str) -> Option<(bool, &str)> {
    if let Some(rest) = line.strip_prefix("- ") {
        return Some((false, rest));
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    let rest = line.get(digits..)?.strip_prefix(". ")?;
    (digits > 0).then_some((true, rest))
}

/// The Markdown as HTML.
pub fn to_html(markdown: &str) -> String {
    let mut out = String::new();
    for block in blocks(markdown) {
        match block {
            Block::Heading(level, text) => {
                let _ = writeln!(
                    out,
                    "<h{level} id=\"{}\">{}</h{level}>",
                    esc(&anchor(&text)),
                    inline(&text)
                );
            }
            Block::Paragraph(text) => {
                let _ = writeln!(out, "<p>{}</p>", inline(&text));
            }
            Block::List { ordered, items } => {
                let tag = if ordered { "ol" } else { "ul" };
                let _ = writeln!(out, "<{tag}>");
                for item in items {
                    let _ = writeln!(out, "<li>{}</li>", inline(&item));
                }
                let _ = writeln!(out, "</{tag}>");
            }
            Block::Code(code) => {
                let _ = writeln!(out, "<pre><code>{}</code></pre>", esc(&code));
            }
            Block::Rule => out.push_str("<hr>\n"),
        }
    }
    out
}

/// Inline code, bold, emphasis and links, everything else escaped.
fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            if let Some(end) = rest[1..].find('`') {
                let _ = write!(out, "<code>{}</code>", esc(&rest[1..1 + end]));
                rest = &rest[end + 2..];
                continue;
            }
        } else if let Some(after) = rest.strip_prefix("**") {
            if let Some(end) = after.find("**") {
                let _ = write!(out, "<strong>{}</strong>", inline(&after[..end]));
                rest = &after[end + 2..];
                continue;
            }
        } else if c == '*' && rest.len() > 1 && !rest[1..].starts_with(' ') {
            if let Some(end) = rest[1..].find('*') {
                let _ = write!(out, "<em>{}</em>", inline(&rest[1..1 + end]));
                rest = &rest[end + 2..];
                continue;
            }
        } else if c == '[' {
            if let Some((label, target, len)) = link(rest) {
                if target.starts_with('#')
                    || target.starts_with("http://")
                    || target.starts_with("https://")
                {
                    let _ = write!(out, "<a href=\"{}\">{}</a>", esc(target), inline(label));
                } else {
                    out.push_str(&inline(label));
                }
                rest = &rest[len..];
                continue;
            }
        }
        out.push_str(&esc(&rest[..c.len_utf8()]));
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// `[label](target)` at the start of `text`: the label, the target and the length taken.
fn link(text: &str) -> Option<(&str, &str, usize)> {
    let close = text.find("](")?;
    let label = &text[1..close];
    if label.contains('[') {
        return None;
    }
    let end = text[close + 2..].find(')')?;
    let target = &text[close + 2..close + 2 + end];
    Some((label, target, close + 3 + end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_get_github_anchors() {
        assert_eq!(anchor("LotusDown"), "lotusdown");
        assert_eq!(anchor("Group lotus-finality"), "group-lotus-finality");
        assert_eq!(
            to_html("### LotusDown\n"),
            "<h3 id=\"lotusdown\">LotusDown</h3>\n"
        );
    }

    #[test]
    fn blocks_and_inline_markup() {
        let html = to_html(
            "**Means.** `a < b` for *5m*,\nsee [LotusDown](#lotusdown) and [verdict.md](verdict.md).\n\n\
             - one\n  continued\n- two <script>\n\n1. first\n2. second\n\n```sh\nx && y\n```\n---\n",
        );
        assert_eq!(
            html,
            "<p><strong>Means.</strong> <code>a &lt; b</code> for <em>5m</em>, see \
             <a href=\"#lotusdown\">LotusDown</a> and verdict.md.</p>\n\
             <ul>\n<li>one continued</li>\n<li>two &lt;script&gt;</li>\n</ul>\n\
             <ol>\n<li>first</li>\n<li>second</li>\n</ol>\n\
             <pre><code>x &amp;&amp; y\n</code></pre>\n<hr>\n"
        );
    }

    #[test]
    fn the_runbook_page_has_an_anchor_per_section() {
        let page = runbook_page();
        for anchor in anchors(RUNBOOK) {
            assert!(page.contains(&format!(" id=\"{anchor}\"")), "{anchor}");
        }
        assert!(page.contains("id=\"lotusdown\""));
    }
}
