//! Bounds the follow section before it leaves the check: names, ids, versions, addresses, pin
//! states and reasons cut, lists capped (see [`crate::contract::limits`]).

use super::{FollowHost, FollowReport};
use crate::contract::limits::{
    bound_results, cut, identity, label, label_opt, labels, text, MAX_LABEL_BYTES, MAX_LIST,
};
use crate::secret::Scrubber;

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
        bound_results(&mut report.checks, &none);
    }
    bound_results(&mut host.checks, &none);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::follow::HealthReason;
    use crate::contract::limits::{CUT_MARK, MAX_TEXT_BYTES};
    use crate::contract::{DaemonStatus, Health};
    use std::time::SystemTime;

    #[test]
    fn reasons_in_words_from_a_follower_are_cut() {
        let huge = "E".repeat(100_000);
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
}
