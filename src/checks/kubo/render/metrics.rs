//! `kubo_*` metrics, one series set per Kubo (label `kubo`: its API address, known whether or
//! not it answers, and the same for every source that names it). Nothing is written for a
//! section with no Kubo; what was not measured is absent, never 0.

use crate::checks::kubo::KuboReport;
use crate::contract::{bool_value, Families};

/// Render every Kubo's `kubo_up`, `kubo_info` and `kubo_follower_info`.
pub fn render(kubos: &[KuboReport], out: &mut Families) {
    let mut up = out.gauge(
        "kubo_up",
        "1 when this Kubo's RPC API answered POST /api/v0/id as a Kubo (an ID and a kubo/ AgentVersion) in this scrape, 0 when it refused, failed, did not answer in time, or something else answered.",
    );
    for kubo in kubos {
        up.sample(&[("kubo", kubo.label.as_str())], bool_value(kubo.up));
    }
    let mut info = out.gauge(
        "kubo_info",
        "1 for the version (AgentVersion's release) and peer id an answering Kubo gave; absent while it does not answer.",
    );
    for kubo in kubos {
        if let (Some(version), Some(peer_id)) = (&kubo.version, &kubo.peer_id) {
            let labels = [
                ("kubo", kubo.label.as_str()),
                ("version", version.as_str()),
                ("peer_id", peer_id.as_str()),
            ];
            info.sample(&labels, 1.0);
        }
    }
    let mut followers = out.gauge(
        "kubo_follower_info",
        "1 for each follower whose service.json names this Kubo as its IPFS daemon (ipfs_connector.ipfshttp.node_multiaddress): the alert rules leave that follower's IPFS alert to KuboDown while this Kubo is down.",
    );
    for kubo in kubos {
        for follower in kubo.followers() {
            let labels = [
                ("kubo", kubo.label.as_str()),
                ("cluster_name", follower.as_str()),
            ];
            followers.sample(&labels, 1.0);
        }
    }
}
