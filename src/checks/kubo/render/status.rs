//! The `kubo` key of `/status`: one object per Kubo (an empty list when there is nothing to
//! watch), `null` where a figure could not be measured.

use serde_json::{json, Value};

use crate::checks::kubo::discovery::Source;
use crate::checks::kubo::KuboReport;
use crate::contract::views::rfc3339;

/// Render the `kubo` array.
pub fn render(kubos: &[KuboReport]) -> Value {
    Value::Array(kubos.iter().map(render_one).collect())
}

fn render_one(kubo: &KuboReport) -> Value {
    json!({
        "address": kubo.label,
        "found_by": kubo.sources.iter().map(source).collect::<Vec<_>>(),
        "up": kubo.up,
        "version": kubo.version,
        "agent_version": kubo.agent_version,
        "peer_id": kubo.peer_id,
        "health": kubo.health.as_str(),
        "reasons": kubo.reasons,
        "errors": kubo.check.error_line().into_iter().collect::<Vec<_>>(),
        "last_check": rfc3339(kubo.last_check),
    })
}

/// Where the Kubo was named: `{"source": "flag"}`, `{"source": "kubo_config", "path": ...}`,
/// `{"source": "follower", "cluster_name": ..., "path": ...}`.
fn source(source: &Source) -> Value {
    match source {
        Source::Flag => json!({"source": source.kind()}),
        Source::KuboConfig(path) => json!({"source": source.kind(), "path": path}),
        Source::Follower {
            cluster_name,
            service_json,
        } => json!({
            "source": source.kind(),
            "cluster_name": cluster_name,
            "path": service_json,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::kubo::discovery::Kubo;
    use crate::contract::{CheckStatus, Label, Text};
    use crate::net::http_client::Endpoint;
    use std::time::SystemTime;

    #[test]
    fn a_down_kubo_has_nulls_its_sources_and_its_errors() {
        let endpoint = Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 5001,
        };
        let kubo = Kubo {
            label: Label::new(endpoint.to_string()),
            endpoint,
            aliases: Vec::new(),
            sources: vec![
                Source::KuboConfig(Text::new("/home/u/.ipfs/config")),
                Source::Follower {
                    cluster_name: Label::new("websites"),
                    service_json: Text::new("/f/websites/service.json"),
                },
            ],
        };
        let mut report = KuboReport::unasked(
            &kubo,
            CheckStatus::Failed("connection refused by 127.0.0.1:5001".into()),
            SystemTime::UNIX_EPOCH,
        );
        report.reasons = vec![Text::new("Kubo 127.0.0.1:5001 is down: connection refused")];
        assert_eq!(
            render(&[report]),
            json!([{
                "address": "127.0.0.1:5001",
                "found_by": [
                    {"source": "kubo_config", "path": "/home/u/.ipfs/config"},
                    {"source": "follower", "cluster_name": "websites", "path": "/f/websites/service.json"},
                ],
                "up": false,
                "version": null,
                "agent_version": null,
                "peer_id": null,
                "health": "unhealthy",
                "reasons": ["Kubo 127.0.0.1:5001 is down: connection refused"],
                "errors": ["kubo_api (127.0.0.1:5001): connection refused by 127.0.0.1:5001"],
                "last_check": "1970-01-01T00:00:00Z",
            }])
        );
        assert_eq!(render(&[]), json!([]));
    }
}
