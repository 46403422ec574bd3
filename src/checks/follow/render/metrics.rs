//! `cluster_follow_*` metrics from the follow reports (one series set per `cluster_name`).
//!
//! A figure that could not be measured is an absent series, never 0.

use crate::checks::follow::times::seconds;
use crate::checks::follow::{FollowHost, FollowReport};
use crate::contract::{bool_value, Families};
use crate::contract::{DaemonStatus, Health};

/// A per-follower gauge: name, HELP and how to read its value from a report.
type Figure<T> = (&'static str, &'static str, fn(&FollowReport) -> Option<T>);

/// Render every follower's metrics, plus the host-level `cluster_follow_binary_available`.
pub fn render(reports: &[FollowReport], host: &FollowHost, out: &mut Families) {
    let bools: [Figure<bool>; 4] = [
        (
            "cluster_follow_api_reachable",
            "1 when the follower's REST API answered GET /id with an ipfs-cluster ID object in this scrape, 0 when something else answered (an impostor such as the pinning-service API on 9097), nothing answered, the answer did not come in time, or its API address is unusable.",
            |r| r.api_reachable,
        ),
        (
            "cluster_follow_connected",
            "1 when the follower sees at least one cluster peer besides itself (GET /id cluster_peers), 0 when it sees none.",
            |r| r.connected,
        ),
        (
            "cluster_follow_ipfs_connected",
            "1 when the follower reports no IPFS error (GET /id ipfs.error empty), 0 when it cannot reach its IPFS daemon.",
            |r| r.ipfs_connected,
        ),
        (
            "cluster_follow_running",
            "1 when the follower runs: its REST API answered GET /id as an ipfs-cluster API in this scrape (whatever process runs it: a renamed binary, a wrapper, a container), or its `ipfs-cluster-follow <cluster_name> run` process is alive on this host; 0 when neither (nothing answers and the process table holds no such process); absent when that cannot be told (processes hidden or of another user, API on another host).",
            |r| r.running,
        ),
    ];
    for (name, help, value) in bools {
        let mut family = out.gauge(name, help);
        for report in reports {
            family.maybe(&labels(report), value(report).map(bool_value));
        }
    }
    let counts: [Figure<u64>; 2] = [
        (
            "cluster_follow_peers",
            "Cluster peers the follower sees besides itself (GET /id cluster_peers), every scrape.",
            |r| r.peers,
        ),
        (
            "cluster_follow_trusted_peers",
            "Trusted cluster peers besides the follower itself (GET /health/graph cluster_trust_links). CACHED: refreshed at most every --follow.refresh-interval.",
            |r| r.trusted_peers,
        ),
    ];
    for (name, help, value) in counts {
        let mut family = out.gauge(name, help);
        for report in reports {
            family.maybe(&labels(report), value(report).map(|v| v as f64));
        }
    }
    let mut trusted_at = out.gauge(
        "cluster_follow_trusted_peers_timestamp_seconds",
        "Unix time of the last successful trust graph fetch (GET /health/graph) of this follower, \
         which cluster_follow_trusted_peers is CACHED from (present even when the latest attempt failed).",
    );
    for report in reports {
        trusted_at.maybe(&labels(report), report.trusted_peers_at.map(unix_seconds));
    }
    render_pins(reports, out);
    render_info(reports, out);
    render_verdicts(reports, out);
    out.gauge(
        "cluster_follow_binary_available",
        "1 when the ipfs-cluster-follow binary is on the exporter's PATH and answers --version, 0 when it is not on PATH.",
    )
    .maybe(&[], host.binary_available.map(bool_value));
    let mut configured = out.gauge(
        "cluster_follow_configured",
        "Followers found by each way (source: flag = --follow.api, config_dir = a <name>/ folder with service.json or api-socket under --follow.config-dir, process = a running ipfs-cluster-follow <name> run); a follower found several ways counts in each. Every source consulted is present, 0 where it found none (process is absent with --follow.process-discovery=false); absent when discovery did not finish.",
    );
    for (source, n) in host.found_by.iter().flatten() {
        configured.sample(&[("source", source.label())], *n as f64);
    }
    out.gauge(
        "cluster_follow_over_cap",
        "Followers found but not watched because --follow.max-followers was reached (process-found ones are left out first); absent when discovery did not finish.",
    )
    .maybe(&[], host.over_cap.map(|n| n as f64));
}

fn labels(report: &FollowReport) -> [(&str, &str); 1] {
    [("cluster_name", report.cluster_name.as_str())]
}

fn render_pins(reports: &[FollowReport], out: &mut Families) {
    let mut live = out.gauge(
        "cluster_follow_pins",
        "Pins of this follower in each operation state (pin_queued, pinning, pin_error, unpin_queued, unpinning, unpin_error, cluster_error), counted live every scrape; 0 where none.",
    );
    for report in reports {
        for (status, n) in report.pins.iter().flatten() {
            let labels = [
                ("cluster_name", report.cluster_name.as_str()),
                ("status", status),
            ];
            live.sample(&labels, *n as f64);
        }
    }
    let mut listed = out.gauge(
        "cluster_follow_pins_listed",
        "Pins of this follower by TrackerStatus from the last full listing (GET /pins?local=true). CACHED: refreshed at most every --follow.refresh-interval; see cluster_follow_pins_listed_timestamp_seconds.",
    );
    for report in reports {
        for (status, n) in report.pins_listed.iter().flatten() {
            let labels = [
                ("cluster_name", report.cluster_name.as_str()),
                ("status", status),
            ];
            listed.sample(&labels, *n as f64);
        }
    }
    render_freshness(reports, out);
    let mut at = out.gauge(
        "cluster_follow_pins_listed_timestamp_seconds",
        "Unix time of the last successful full pin listing of this follower (present even when the latest attempt failed).",
    );
    for report in reports {
        at.maybe(&labels(report), report.pins_listed_at.map(unix_seconds));
    }
}

/// Pin freshness: the newest pin of the state, how long pins have waited, the most attempts.
fn render_freshness(reports: &[FollowReport], out: &mut Families) {
    let mut newest = out.gauge(
        "cluster_follow_pin_newest_created_timestamp_seconds",
        "Unix time the newest pin in the follower's state was created (entered the cluster pinset): the largest `created` of the last full listing (GET /pins?local=true). CACHED with cluster_follow_pins_listed. Absent when not measured or no pin has a known creation time (none, or Go's zero time).",
    );
    for report in reports {
        newest.maybe(&labels(report), report.pin_newest_created.map(seconds));
    }
    let mut oldest = out.gauge(
        "cluster_follow_pins_oldest_timestamp_seconds",
        "Unix time the oldest pin in each of pin_queued, pinning and pin_error entered that state (the smallest own peer_map timestamp of the live count, not the creation time; for pin_error its last failed attempt). Absent for a state no pin is in, and when the live count failed.",
    );
    for report in reports {
        for (status, at) in &report.pins_oldest {
            let labels = [
                ("cluster_name", report.cluster_name.as_str()),
                ("status", *status),
            ];
            oldest.sample(&labels, seconds(*at));
        }
    }
    let mut attempts = out.gauge(
        "cluster_follow_pin_attempts_max",
        "The most attempts (own peer_map attempt_count) of any pin of the live count (the operation states), every scrape. Absent when no pin is in an operation state or the live count failed.",
    );
    for report in reports {
        attempts.maybe(&labels(report), report.pin_attempts_max.map(|n| n as f64));
    }
    let mut wait_max = out.gauge(
        "cluster_follow_pin_wait_max_seconds",
        "--follow.max-pin-wait: a pin queued or pinning for longer is stuck (the follower degraded, reason pins_stuck); ClusterFollowPinsStuck compares with this.",
    );
    for report in reports {
        wait_max.sample(&labels(report), report.max_pin_wait.as_secs_f64());
    }
}

fn render_info(reports: &[FollowReport], out: &mut Families) {
    let mut info = out.gauge(
        "cluster_follow_info",
        "Identity of the follower as GET /id reports it; always 1. Absent when /id did not answer.",
    );
    for report in reports {
        let Some(peer_id) = &report.peer_id else {
            continue;
        };
        let labels = [
            ("cluster_name", report.cluster_name.as_str()),
            ("peer_id", peer_id.as_str()),
            ("peername", report.peername.as_deref().unwrap_or("")),
            ("version", report.version.as_deref().unwrap_or("")),
            ("api", report.api.as_str()),
        ];
        info.sample(&labels, 1.0);
    }
}

fn render_verdicts(reports: &[FollowReport], out: &mut Families) {
    let statuses: Vec<&str> = DaemonStatus::ALL.iter().map(|s| s.as_str()).collect();
    let mut status = out.gauge(
        "cluster_follow_status",
        "1 for the follower's current state: running (API answers as an ipfs-cluster REST API), stopped (nothing answers and the process table holds no follower process), error (the API fails or is not a cluster API, while a process or listener is there or none could be ruled out); 0 for the others.",
    );
    for report in reports {
        status.states(&labels(report), "state", &statuses, report.status.as_str());
    }
    let healths: Vec<&str> = Health::ALL.iter().map(|h| h.as_str()).collect();
    let mut health = out.gauge(
        "cluster_follow_health",
        "1 for the follower's current health: healthy, degraded (reachable but no cluster peer, no trusted peer, IPFS down, pins in an error state, pins stuck, pins lost or the live pin count failed), unhealthy (API not reachable); 0 for the others.",
    );
    for report in reports {
        health.states(&labels(report), "state", &healths, report.health.as_str());
    }
    let mut reasons = out.gauge(
        "cluster_follow_health_reason",
        "1 for each cause of a follower's degraded or unhealthy health (reason: stopped, api_unreachable, no_cluster_peers, no_trusted_peers, ipfs_unreachable, pins_unknown, pin_errors, pins_stuck, pins_lost); no series while it is healthy. The cause in words is in /status and `check`.",
    );
    for report in reports {
        for reason in &report.reasons {
            reasons.sample(
                &[
                    ("cluster_name", report.cluster_name.as_str()),
                    ("reason", reason.code),
                ],
                1.0,
            );
        }
    }
}

fn unix_seconds(time: std::time::SystemTime) -> f64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    pub(crate) fn report(name: &str) -> FollowReport {
        FollowReport {
            cluster_name: name.to_string(),
            api: "unix:/f/api-socket".to_string(),
            api_port: None,
            api_tcp: None,
            api_reachable: Some(true),
            peer_id: Some("12D3KooWP".to_string()),
            peername: Some("host".to_string()),
            version: Some("1.1.6".to_string()),
            peers: Some(2),
            connected: Some(true),
            trusted_peers: Some(1),
            trusted_peers_at: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_100)),
            ipfs_connected: Some(true),
            ipfs_error: None,
            pins: Some(BTreeMap::from([("pin_error".to_string(), 0)])),
            pins_listed: Some(BTreeMap::from([("pinned".to_string(), 7)])),
            pins_listed_at: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            pin_newest_created: Some(1_699_999_000_500_000_000),
            pins_oldest: vec![("pin_queued", 1_699_999_900_000_000_000)],
            pin_attempts_max: Some(2),
            max_pin_wait: Duration::from_secs(3600),
            running: Some(true),
            pid: None,
            swarm_addresses: Vec::new(),
            stale_socket: None,
            ipfs_only_stalls: false,
            pins_catching_up: false,
            untrusted_user: None,
            status: DaemonStatus::Running,
            health: Health::Healthy,
            reasons: Vec::new(),
            last_check: SystemTime::now(),
            checks: Vec::new(),
        }
    }

    #[test]
    fn renders_every_family_for_a_healthy_follower() {
        let mut families = Families::default();
        let host = FollowHost {
            binary_available: Some(true),
            found_by: Some(vec![
                (crate::checks::follow::Source::Flag, 0),
                (crate::checks::follow::Source::ConfigDir, 2),
                (crate::checks::follow::Source::Process, 1),
            ]),
            over_cap: Some(0),
            checks: Vec::new(),
        };
        render(&[report("c")], &host, &mut families);
        let text = families.encode();
        for line in [
            "cluster_follow_api_reachable{cluster_name=\"c\"} 1",
            "cluster_follow_connected{cluster_name=\"c\"} 1",
            "cluster_follow_peers{cluster_name=\"c\"} 2",
            "cluster_follow_trusted_peers{cluster_name=\"c\"} 1",
            "cluster_follow_trusted_peers_timestamp_seconds{cluster_name=\"c\"} 1700000100",
            "cluster_follow_ipfs_connected{cluster_name=\"c\"} 1",
            "cluster_follow_pins{cluster_name=\"c\",status=\"pin_error\"} 0",
            "cluster_follow_pins_listed{cluster_name=\"c\",status=\"pinned\"} 7",
            "cluster_follow_pins_listed_timestamp_seconds{cluster_name=\"c\"} 1700000000",
            "cluster_follow_pin_newest_created_timestamp_seconds{cluster_name=\"c\"} 1699999000.5",
            "cluster_follow_pins_oldest_timestamp_seconds{cluster_name=\"c\",status=\"pin_queued\"} 1699999900",
            "cluster_follow_pin_attempts_max{cluster_name=\"c\"} 2",
            "cluster_follow_pin_wait_max_seconds{cluster_name=\"c\"} 3600",
            "cluster_follow_info{cluster_name=\"c\",peer_id=\"12D3KooWP\",peername=\"host\",version=\"1.1.6\",api=\"unix:/f/api-socket\"} 1",
            "cluster_follow_running{cluster_name=\"c\"} 1",
            "cluster_follow_binary_available 1",
            "cluster_follow_configured{source=\"flag\"} 0",
            "cluster_follow_configured{source=\"config_dir\"} 2",
            "cluster_follow_configured{source=\"process\"} 1",
            "cluster_follow_over_cap 0",
            "cluster_follow_status{cluster_name=\"c\",state=\"running\"} 1",
            "cluster_follow_health{cluster_name=\"c\",state=\"unhealthy\"} 0",
        ] {
            assert!(text.contains(&format!("{line}\n")), "missing {line}:\n{text}");
        }
    }

    #[test]
    fn each_cause_of_a_bad_verdict_is_a_reason_series() {
        let mut degraded = report("c");
        degraded.health = Health::Degraded;
        degraded.reasons = vec![
            crate::checks::follow::HealthReason {
                code: "ipfs_unreachable",
                text: "cannot reach its IPFS daemon: refused".into(),
            },
            crate::checks::follow::HealthReason {
                code: "pin_errors",
                text: "1 pin in pin_error".into(),
            },
        ];
        let mut families = Families::default();
        render(
            &[degraded, report("ok")],
            &FollowHost::default(),
            &mut families,
        );
        let text = families.encode();
        for line in [
            "cluster_follow_health_reason{cluster_name=\"c\",reason=\"ipfs_unreachable\"} 1",
            "cluster_follow_health_reason{cluster_name=\"c\",reason=\"pin_errors\"} 1",
        ] {
            assert!(
                text.contains(&format!("{line}\n")),
                "missing {line}:\n{text}"
            );
        }
        assert!(!text.contains("cluster_name=\"ok\",reason"), "{text}");
    }

    #[test]
    fn unmeasured_figures_are_absent_not_zero() {
        let mut unreachable = report("down");
        unreachable.api_reachable = None;
        unreachable.peer_id = None;
        unreachable.peers = None;
        unreachable.connected = None;
        unreachable.pins = None;
        unreachable.pins_listed = None;
        unreachable.pins_listed_at = None;
        unreachable.pin_newest_created = None;
        unreachable.pins_oldest = Vec::new();
        unreachable.pin_attempts_max = None;
        let mut families = Families::default();
        render(&[unreachable], &FollowHost::default(), &mut families);
        let text = families.encode();
        for absent in [
            "cluster_follow_api_reachable",
            "cluster_follow_peers",
            "cluster_follow_connected",
            "cluster_follow_pins{",
            "cluster_follow_pins_listed",
            "cluster_follow_pin_newest_created",
            "cluster_follow_pins_oldest",
            "cluster_follow_pin_attempts_max",
            "cluster_follow_info",
            "cluster_follow_binary_available",
        ] {
            assert!(!text.contains(absent), "{absent} should be absent:\n{text}");
        }
        assert!(text.contains("cluster_follow_status{cluster_name=\"down\",state=\"running\"} 1"));
    }
}
