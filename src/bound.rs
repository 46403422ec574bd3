//! Bounds what backends say before it reaches a report: secrets scrubbed, control characters
//! replaced, every string cut to a documented length (marked), every list capped.
//!
//! Two steps, in this order, so a secret cut at the edge of a snippet leaks nothing:
//! 1. [`crate::secret::Scrubber`] removes every occurrence of a secret (the Lotus token and each of its
//!    dot-separated parts of 8 characters or more; the follow `user:password`, its password and
//!    its base64 form) from a body as soon as it is read, before anything is parsed or cut;
//! 2. [`bound_lotus`], [`bound_follow`] and [`bound_ports`] cut every string of a report to
//!    [`MAX_LABEL_BYTES`] (a value that becomes a label) or [`MAX_TEXT_BYTES`] (a reason in
//!    words), and the collector applies them once per round, before a report is shared.

use std::borrow::Cow;

use crate::checks::follow::{FollowHost, FollowReport};
use crate::checks::lotus::LotusReport;
use crate::checks::ports::{PortEntry, PortsObservation};
use crate::contract::{CheckResult, CheckStatus};
use crate::secret::Scrubber;

/// Longest value (version, commit, peer id or name, follower name, address) kept, in bytes.
pub const MAX_LABEL_BYTES: usize = 128;
/// Longest reason in words (an error, a failure), in bytes.
pub const MAX_TEXT_BYTES: usize = 512;
/// What a cut string ends with.
pub const CUT_MARK: &str = "…[cut]";
/// Most entries of a backend-provided list kept (swarm addresses, token permissions, pin states).
pub const MAX_LIST: usize = 32;
/// Most (port, protocol) entries in the port plan, conflicts kept first.
pub const MAX_PORT_ENTRIES: usize = 512;

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
fn cut_in_place(text: &mut String, max: usize) {
    if let Cow::Owned(cut) = cut(text, max) {
        *text = cut;
    }
}

fn label(text: &mut String) {
    cut_in_place(text, MAX_LABEL_BYTES);
}

/// Scrub and cut a value that becomes a label to [`MAX_LABEL_BYTES`].
fn scrubbed_label(text: &mut String, scrubber: &Scrubber) {
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
fn identity(name: &mut String) {
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

fn label_opt(text: &mut Option<String>) {
    if let Some(text) = text {
        label(text);
    }
}

/// Bound every check's reason and cluster name.
fn checks(checks: &mut [CheckResult], scrubber: &Scrubber) {
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
fn text(reason: &mut String, scrubber: &Scrubber) {
    if let Cow::Owned(clean) = scrubber.text(reason) {
        *reason = clean;
    }
    cut_in_place(reason, MAX_TEXT_BYTES);
}

/// Bound a list of reasons in words: at most [`MAX_LIST`], each scrubbed and cut.
fn texts(reasons: &mut Vec<String>, scrubber: &Scrubber) {
    reasons.truncate(MAX_LIST);
    for reason in reasons.iter_mut() {
        text(reason, scrubber);
    }
}

/// Bound a Lotus report: version strings, network, wallets' names, reasons, lists.
pub fn bound_lotus(report: &mut LotusReport, scrubber: &Scrubber) {
    texts(&mut report.health_reasons, scrubber);
    if let Some(workers) = &mut report.sync_workers {
        texts(&mut workers.errors, scrubber);
    }
    if let Some(version) = &mut report.version {
        for part in [
            &mut version.full,
            &mut version.release,
            &mut version.commit,
            &mut version.node_type,
        ] {
            scrubbed_label(part, scrubber);
        }
    }
    if let Some(network) = &mut report.network {
        scrubbed_label(network, scrubber);
    }
    label(&mut report.api_address);
    for wallet in &mut report.wallets {
        label(&mut wallet.address);
        label(&mut wallet.alias);
    }
    if let Some(permissions) = &mut report.token_permissions {
        labels(permissions);
    }
    checks(&mut report.checks, scrubber);
}

/// Bound the follow section: names, ids, versions, addresses, pin states, reasons.
pub fn bound_follow(reports: &mut [FollowReport], host: &mut FollowHost) {
    let none = Scrubber::default();
    for report in reports.iter_mut() {
        if let Some(error) = &mut report.ipfs_error {
            text(error, &none);
        }
        report.reasons.truncate(MAX_LIST);
        for reason in &mut report.reasons {
            text(&mut reason.text, &none);
        }
        identity(&mut report.cluster_name);
        label(&mut report.api);
        label_opt(&mut report.peer_id);
        label_opt(&mut report.peername);
        label_opt(&mut report.version);
        labels(&mut report.swarm_addresses);
        for pins in [&mut report.pins, &mut report.pins_listed]
            .into_iter()
            .flatten()
        {
            if pins.len() > MAX_LIST || pins.keys().any(|k| cut(k, MAX_LABEL_BYTES) != **k) {
                *pins = std::mem::take(pins)
                    .into_iter()
                    .take(MAX_LIST)
                    .map(|(k, v)| (cut(&k, MAX_LABEL_BYTES).into_owned(), v))
                    .collect();
            }
        }
        checks(&mut report.checks, &none);
    }
    checks(&mut host.checks, &none);
}

/// Bound the ports observation: listener program names, claim names, reasons.
pub fn bound_ports(observation: &mut PortsObservation) {
    for claim in &mut observation.claims {
        label(&mut claim.service);
        label(&mut claim.role);
    }
    for listener in observation.listeners.iter_mut().flatten() {
        for holder in &mut listener.holders {
            label(&mut holder.program);
            label_opt(&mut holder.service);
        }
    }
    checks(&mut observation.checks, &Scrubber::default());
}

/// Cut every entry's reason to [`MAX_TEXT_BYTES`] and keep at most [`MAX_PORT_ENTRIES`] entries,
/// conflicts first; returns how many were dropped.
pub fn cap_port_entries(entries: &mut Vec<PortEntry>) -> usize {
    for entry in entries.iter_mut() {
        if let Some(reason) = &mut entry.reason {
            cut_in_place(reason, MAX_TEXT_BYTES);
        }
    }
    if entries.len() <= MAX_PORT_ENTRIES {
        return 0;
    }
    let dropped = entries.len() - MAX_PORT_ENTRIES;
    entries.sort_by_key(|e| (!e.conflict, e.port, e.protocol));
    entries.truncate(MAX_PORT_ENTRIES);
    entries.sort_by_key(|e| (e.port, e.protocol));
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_reasons_are_cut_however_few_the_entries() {
        let mut entries = vec![PortEntry {
            port: 9096,
            protocol: crate::net::multiaddr::Transport::Tcp,
            claims: Vec::new(),
            listeners: None,
            conflict: true,
            reason: Some("R".repeat(10_000)),
        }];
        assert_eq!(cap_port_entries(&mut entries), 0);
        let reason = entries[0].reason.as_deref().unwrap_or_default();
        assert!(
            reason.len() <= MAX_TEXT_BYTES && reason.ends_with(CUT_MARK),
            "{reason}"
        );
    }

    #[test]
    fn reasons_in_words_from_backends_are_cut() {
        use crate::checks::follow::HealthReason;
        use crate::contract::{DaemonStatus, Health};
        use std::time::{Duration, SystemTime};
        let huge = "E".repeat(100_000);

        let mut lotus = LotusReport::timed_out("x".into(), SystemTime::now(), Duration::ZERO);
        lotus.health_reasons = vec![format!("a sync worker is in the error stage: {huge}")];
        lotus.sync_workers = Some(crate::checks::lotus::types::SyncWorkers {
            errors: vec![huge.clone(); 100],
            ..Default::default()
        });
        bound_lotus(&mut lotus, &Scrubber::default());
        let workers = lotus.sync_workers.as_ref().unwrap();
        assert_eq!(workers.errors.len(), MAX_LIST);
        for text in lotus.health_reasons.iter().chain(&workers.errors) {
            assert!(text.len() <= MAX_TEXT_BYTES && text.ends_with(CUT_MARK));
        }

        let mut follow = FollowReport {
            api_reachable: Some(true),
            ipfs_connected: Some(false),
            ipfs_error: Some(huge.clone()),
            status: DaemonStatus::Running,
            health: Health::Degraded,
            reasons: vec![HealthReason {
                code: "ipfs_unreachable",
                text: format!("cannot reach its IPFS daemon: {huge}"),
            }],
            last_check: SystemTime::now(),
            ..FollowReport::for_tests(
                "c",
                crate::net::http_client::Endpoint::Unix("/f/api-socket".into()),
            )
        };
        let mut host = FollowHost::default();
        bound_follow(std::slice::from_mut(&mut follow), &mut host);
        let error = follow.ipfs_error.as_deref().unwrap();
        assert!(error.len() <= MAX_TEXT_BYTES && error.ends_with(CUT_MARK));
        let reason = &follow.reasons[0].text;
        assert!(reason.len() <= MAX_TEXT_BYTES && reason.ends_with(CUT_MARK));
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
}
