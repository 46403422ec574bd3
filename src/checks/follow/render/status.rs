//! The `cluster_follow` section of `/status`: one object per follower, `null` where a figure
//! could not be measured.

use serde_json::{json, Value};

use crate::checks::follow::times::rfc3339_nanos;
use crate::checks::follow::FollowReport;
use crate::contract::views::rfc3339;

/// Render the `cluster_follow` array.
pub fn render(reports: &[FollowReport]) -> Value {
    Value::Array(reports.iter().map(render_one).collect())
}

fn render_one(report: &FollowReport) -> Value {
    let errors: Vec<String> = report
        .checks
        .iter()
        .filter_map(|c| c.error_line())
        .collect();
    json!({
        "cluster_name": report.cluster_name,
        "status": report.status.as_str(),
        "health": report.health.as_str(),
        "api": report.api,
        "api_port": report.api_port,
        "api_reachable": report.api_reachable,
        "connection_status": report.connection_status(),
        "peers": report.peers,
        "trusted_peers": report.trusted_peers,
        "ipfs_connected": report.ipfs_connected,
        "ipfs_error": report.ipfs_error,
        "pins": report.pins,
        "pin_newest_created_timestamp": report.pin_newest_created.map(rfc3339_nanos),
        "pins_oldest_timestamp": report.pins.as_ref().map(|_| {
            report
                .pins_oldest
                .iter()
                .map(|(state, at)| (state.to_string(), Value::String(rfc3339_nanos(*at))))
                .collect::<serde_json::Map<_, _>>()
        }),
        "pin_attempts_max": report.pin_attempts_max,
        "version": report.version,
        "last_check": rfc3339(report.last_check),
        "reasons": report.reasons.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
        "errors": errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::follow::FollowReport;
    use crate::contract::{CheckResult, CheckStatus};
    use std::time::Duration;

    fn unreachable() -> FollowReport {
        let api = crate::net::http_client::Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 9097,
        };
        FollowReport {
            api_reachable: Some(false),
            running: Some(false),
            reasons: vec![crate::checks::follow::HealthReason {
                code: "api_unreachable",
                text: "API not reachable: not a cluster API".into(),
            }],
            checks: vec![CheckResult {
                check: "follow_api",
                cluster_name: Some("c".into()),
                status: CheckStatus::Failed("not a cluster API".into()),
                duration: Duration::ZERO,
            }],
            ..FollowReport::for_tests("c", api)
        }
    }

    #[test]
    fn an_unreachable_follower_has_nulls_and_its_errors() {
        let value = render(&[unreachable()]);
        assert_eq!(
            value,
            json!([{
                "cluster_name": "c",
                "status": "error",
                "health": "unhealthy",
                "api": "127.0.0.1:9097",
                "api_port": 9097,
                "api_reachable": false,
                "connection_status": "unknown",
                "peers": null,
                "trusted_peers": null,
                "ipfs_connected": null,
                "ipfs_error": null,
                "pins": null,
                "pin_newest_created_timestamp": null,
                "pins_oldest_timestamp": null,
                "pin_attempts_max": null,
                "version": null,
                "last_check": "2023-11-14T22:13:20Z",
                "reasons": ["API not reachable: not a cluster API"],
                "errors": ["follow_api (c): not a cluster API"],
            }])
        );
    }
}
