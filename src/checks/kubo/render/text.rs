//! The Kubo part of the `check` report: one block per Kubo, like the followers' blocks; nothing
//! when there is nothing to watch.

use std::fmt::Write;

use crate::checks::kubo::{KuboReport, KuboSection};

/// Every Kubo's block (nothing when none is watched; discovery failures are listed with the
/// report's failed checks).
pub fn render(section: &KuboSection, out: &mut String) {
    for kubo in &section.kubos {
        render_kubo(kubo, out);
    }
}

fn render_kubo(kubo: &KuboReport, out: &mut String) {
    let _ = writeln!(out, "Kubo {}", kubo.label);
    let from: Vec<String> = kubo.sources.iter().map(|s| s.describe()).collect();
    let _ = writeln!(out, "  from:     {}", from.join("; "));
    let _ = writeln!(out, "  up:       {}", if kubo.up { "yes" } else { "no" });
    let _ = writeln!(out, "  health:   {}", kubo.health.as_str());
    for reason in &kubo.reasons {
        let _ = writeln!(out, "  why:      {reason}");
    }
    if let (Some(version), Some(peer_id)) = (&kubo.version, &kubo.peer_id) {
        let _ = writeln!(out, "  version:  {version}");
        let _ = writeln!(out, "  peer id:  {peer_id}");
    }
}
