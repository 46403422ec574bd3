//! The follower part of the `check` report: one block per follower, or why there is none.

use std::fmt::Write;

use crate::checks::follow::times::{age, rfc3339_nanos};
use crate::checks::follow::{FollowHost, FollowReport};

pub fn render(reports: &[FollowReport], host: &FollowHost, out: &mut String) {
    if reports.is_empty() {
        let found_by = match &host.found_by {
            Some(found_by) => found_by
                .iter()
                .map(|(source, n)| format!("{n} by {}", source.label()))
                .collect::<Vec<_>>()
                .join(", "),
            None => "discovery did not finish".to_string(),
        };
        let _ = writeln!(out, "Cluster follow: no follower found ({found_by})");
    }
    for follower in reports {
        render_follower(follower, out);
    }
    if let Some(n) = host.over_cap.filter(|n| *n > 0) {
        let _ = writeln!(
            out,
            "Cluster follow: {n} more not watched (--follow.max-followers)"
        );
    }
}

fn render_follower(follower: &FollowReport, out: &mut String) {
    let _ = writeln!(out, "Cluster follow {}", follower.cluster_name);
    let _ = writeln!(out, "  api:      {}", follower.api);
    let _ = writeln!(out, "  status:   {}", follower.status.as_str());
    let _ = writeln!(out, "  health:   {}", follower.health.as_str());
    for reason in &follower.reasons {
        let _ = writeln!(out, "  why:      {}", reason.text);
    }
    if follower.api_reachable != Some(true) {
        return;
    }
    let num = |v: Option<u64>| v.map_or_else(|| "unknown".to_string(), |v| v.to_string());
    let _ = writeln!(
        out,
        "  peers:    {} (trusted {})",
        num(follower.peers),
        num(follower.trusted_peers)
    );
    let ipfs = match follower.ipfs_connected {
        Some(true) => "connected",
        Some(false) => "not connected",
        None => "unknown",
    };
    let _ = writeln!(out, "  ipfs:     {ipfs}");
    if let Some(pins) = &follower.pins_listed {
        let listed: Vec<String> = pins
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(status, n)| format!("{status} {n}"))
            .collect();
        let listed = if listed.is_empty() {
            "none".to_string()
        } else {
            listed.join(", ")
        };
        let marker = if follower.pins_catching_up {
            " (last full count: catching up after a restart, its listing is empty for now)"
        } else {
            ""
        };
        let _ = writeln!(out, "  pins:     {listed}{marker}");
    }
    if follower.pins_listed.is_some() {
        let newest = follower.pin_newest_created.map_or_else(
            || "no pin with a creation time".to_string(),
            |at| format!("created {} (last full listing)", rfc3339_nanos(at)),
        );
        let _ = writeln!(out, "  newest:   {newest}");
    }
    if follower.pins.is_some() {
        let mut waits: Vec<String> = follower
            .pins_oldest
            .iter()
            .map(|(state, at)| {
                let ago = age(*at, follower.last_check).unwrap_or_else(|| "in the future".into());
                format!("{state} since {} ({ago})", rfc3339_nanos(*at))
            })
            .collect();
        if let Some(n) = follower.pin_attempts_max {
            waits.push(format!("most attempts {n}"));
        }
        let waits = if waits.is_empty() {
            "no pin queued, pinning or in error".to_string()
        } else {
            waits.join("; ")
        };
        let _ = writeln!(out, "  oldest:   {waits}");
    }
}
