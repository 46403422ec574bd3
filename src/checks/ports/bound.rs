//! Bounds the port plan before it leaves the check: program and claim names cut, reasons cut,
//! and at most [`MAX_PORT_ENTRIES`] entries, conflicts kept first.

use super::{PortEntry, PortsObservation};
use crate::contract::limits::{bound_results, cut_in_place, label, label_opt, MAX_TEXT_BYTES};
use crate::secret::Scrubber;

/// Most (port, protocol) entries in the port plan, conflicts kept first.
pub const MAX_PORT_ENTRIES: usize = 512;

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
    bound_results(&mut observation.checks, &Scrubber::default());
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
    use crate::contract::limits::CUT_MARK;

    #[test]
    fn port_reasons_are_cut_however_few_the_entries() {
        let mut entries = vec![PortEntry {
            port: 9096,
            protocol: crate::net::multiaddr::Transport::Tcp,
            claims: Vec::new(),
            listeners: None,
            conflict: true,
            reason: Some("R".repeat(10_000)),
            untrusted: Default::default(),
            untrusted_collisions: Vec::new(),
        }];
        assert_eq!(cap_port_entries(&mut entries), 0);
        let reason = entries[0].reason.as_deref().unwrap_or_default();
        assert!(
            reason.len() <= MAX_TEXT_BYTES && reason.ends_with(CUT_MARK),
            "{reason}"
        );
    }
}
