//! Bounds a Lotus report before it leaves the check: the token scrubbed from every string that
//! came from the node, every string cut, every list capped (see [`crate::contract::limits`]).

use super::LotusReport;
use crate::contract::limits::{bound_results, label, labels, scrubbed_label, texts};
use crate::secret::Scrubber;

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
    if let Some(listeners) = &mut report.api_listener {
        labels(listeners);
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
    }
}
