//! Bounds a Lotus report before it leaves the check: the token scrubbed from every string that
//! came from the node, every string cut, every list capped (see [`crate::contract::limits`]).

use super::LotusReport;
use crate::contract::limits::{bound_results, label};
use crate::secret::Scrubber;

/// Scrub the token from every string of a Lotus report that came from the node (a second
/// line of defence: bodies are scrubbed when read), and bound every check's reason. Every other
/// string is a [`crate::contract::Label`] or [`crate::contract::Text`], bounded when built.
pub fn bound_lotus(report: &mut LotusReport, scrubber: &Scrubber) {
    for reason in &mut report.health_reasons {
        reason.scrub(scrubber);
    }
    if let Some(workers) = &mut report.sync_workers {
        for error in &mut workers.errors {
            error.scrub(scrubber);
        }
    }
    if let Some(version) = &mut report.version {
        for part in [
            &mut version.full,
            &mut version.release,
            &mut version.commit,
            &mut version.node_type,
        ] {
            part.scrub(scrubber);
        }
    }
    if let Some(network) = &mut report.network {
        network.scrub(scrubber);
    }
    if let Some(next) = &mut report.upgrades.next {
        next.name.scrub(scrubber);
    }
    label(&mut report.api_address);
    for wallet in &mut report.wallets {
        label(&mut wallet.address);
        label(&mut wallet.alias);
    }
    bound_results(&mut report.checks, scrubber);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::limits::{CUT_MARK, MAX_LIST, MAX_TEXT_BYTES};
    use std::time::{Duration, SystemTime};

    #[test]
    fn reasons_in_words_from_the_node_are_cut() {
        let huge = "E".repeat(100_000);
        let mut lotus = LotusReport::timed_out("x".into(), SystemTime::now(), Duration::ZERO);
        lotus.health_reasons = vec![format!("a sync worker is in the error stage: {huge}").into()];
        let state = serde_json::json!({"ActiveSyncs": vec![
            serde_json::json!({"Stage": 5, "Message": huge}); 100
        ]});
        lotus.sync_workers = crate::checks::lotus::types::parse_sync_state(&state).ok();
        bound_lotus(&mut lotus, &Scrubber::default());
        let workers = lotus.sync_workers.as_ref().unwrap();
        assert_eq!(workers.errors.len(), MAX_LIST);
        for text in lotus.health_reasons.iter().chain(&workers.errors) {
            assert!(text.len() <= MAX_TEXT_BYTES && text.ends_with(CUT_MARK));
        }
    }
}
