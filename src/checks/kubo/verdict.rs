//! The verdict on one Kubo from its `/api/v0/id` answer: up or not, its health, why (in words
//! that name the Kubo), and the `kubo_api` check's status.
//!
//! A Kubo is healthy exactly when it answered as a Kubo; anything else is unhealthy (the
//! critical `KuboDown` fires on `kubo_up == 0`), so `check`'s exit status and the alert agree.

use super::client::{KuboError, KuboId};
use super::report::KuboReport;
use crate::contract::{CheckStatus, Health, Label, Text};
use crate::net::http_client::HttpError;

/// Fill `report` from the answer: identity when up, else the reason and the failed (or timed
/// out) `kubo_api` check.
pub fn judge(report: &mut KuboReport, answer: Result<KuboId, KuboError>) {
    match answer {
        Ok(id) => {
            report.up = true;
            report.version = Some(Label::new(id.version()));
            report.peer_id = Some(Label::new(&id.peer_id));
            report.agent_version = Some(Label::new(&id.agent_version));
            report.health = Health::Healthy;
            report.reasons.clear();
            report.check.status = CheckStatus::Ok;
        }
        Err(error) => {
            report.up = false;
            report.health = Health::Unhealthy;
            report.reasons = vec![reason(&report.label, &error)];
            report.check.status = if error.is_timeout() {
                CheckStatus::TimedOut
            } else {
                CheckStatus::Failed(Text::new(error.to_string()).to_string())
            };
        }
    }
}

/// Why a Kubo is not up, naming it: down, hung, failing, or not a Kubo at all.
pub fn reason(label: &Label, error: &KuboError) -> Text {
    let what = match error {
        KuboError::Http(HttpError::TimedOut { .. }) => format!(
            "Kubo {label} timed out: {error}; it accepts connections but does not answer (hung, stopped with SIGSTOP, or overloaded)"
        ),
        KuboError::Http(_) => format!("Kubo {label} is down: {error}"),
        KuboError::Status { .. } => format!(
            "Kubo {label} is failing (shutting down, or its repo is unusable): {error}"
        ),
        KuboError::NotKubo { .. } => format!("no Kubo answers on {label}: {error}"),
    };
    Text::new(what)
}

/// Why a Kubo of a round that did not finish is not known to be up.
pub fn unfinished(label: &Label) -> Text {
    Text::new(format!(
        "Kubo {label} timed out: the Kubo check did not finish before the scrape deadline"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::kubo::discovery::{Kubo, Source};
    use crate::net::http_client::Endpoint;
    use std::time::SystemTime;

    fn report() -> KuboReport {
        let endpoint = Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 5001,
        };
        let kubo = Kubo {
            label: Label::new(endpoint.to_string()),
            endpoint,
            aliases: Vec::new(),
            sources: vec![Source::Flag],
        };
        KuboReport::unasked(&kubo, CheckStatus::TimedOut, SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn a_hung_kubo_reads_timed_out_naming_kubo() {
        let mut hung = report();
        let endpoint = Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 5001,
        };
        judge(
            &mut hung,
            Err(KuboError::Http(HttpError::TimedOut {
                endpoint,
                stage: "waiting for response headers",
            })),
        );
        assert!(!hung.up);
        assert_eq!(hung.health, Health::Unhealthy);
        assert_eq!(hung.check.status, CheckStatus::TimedOut);
        assert_eq!(hung.check.cluster_name.as_deref(), Some("127.0.0.1:5001"));
        assert!(
            hung.reasons[0].starts_with("Kubo 127.0.0.1:5001 timed out: timed out waiting for"),
            "{:?}",
            hung.reasons
        );
    }

    #[test]
    fn an_answering_kubo_is_healthy_with_its_identity() {
        let mut up = report();
        judge(
            &mut up,
            Ok(KuboId {
                peer_id: "12D3KooWK".into(),
                agent_version: "kubo/0.43.1/abc".into(),
            }),
        );
        assert!(up.up && up.health == Health::Healthy && up.reasons.is_empty());
        assert_eq!(up.version.as_deref(), Some("0.43.1"));
        assert_eq!(up.check.status, CheckStatus::Ok);
    }
}
