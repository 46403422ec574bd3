//! A full scrape with every section populated: promtool accepts it, and the 9097 trap is caught.

use crate::fakes::cluster::{self, ClusterState};
use crate::fakes::lotus::FakeLotus;
use crate::util;

/// ipfs-cluster-service's generated service.json, with its pinning-service API moved to `port`.
fn service_json(port: u16) -> String {
    let template = include_str!("../data/ipfs-cluster-service.service.json");
    template.replace(
        "/ip4/127.0.0.1/tcp/9097",
        &format!("/ip4/127.0.0.1/tcp/{port}"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn pinning_service_impostor_on_the_follow_port_is_unreachable_and_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| s.add_wallet("f1hot", "2500000000000000000"));
    let socket = dir.path().join("api-socket");
    let _good = cluster::serve_unix(&socket, ClusterState::default()).await;
    let (_impostor, port) = cluster::serve_pinning_service_tcp().await;
    let service = dir.path().join("service.json");
    std::fs::write(&service, service_json(port)).unwrap();
    assert!(std::fs::read_to_string(&service)
        .unwrap()
        .contains(&format!("tcp/{port}")));
    let good_api = format!("good=/unix/{}", socket.display());
    let trap_api = format!("trap=/ip4/127.0.0.1/tcp/{port}");
    let exporter = util::start(&[
        "--lotus.api",
        &lotus.api_info(),
        "--lotus.wallet",
        "f1hot=hot",
        "--follow.api",
        &good_api,
        "--follow.api",
        &trap_api,
        "--ports.cluster-service-config",
        service.to_str().unwrap(),
    ])
    .await;
    let page = exporter.get("/metrics").await;
    util::promtool_check_metrics(&page.body);
    let m = util::Metrics::parse(&page.body);
    assert_eq!(
        m.value("cluster_follow_api_reachable{cluster_name=\"good\"}"),
        1.0
    );
    assert_eq!(
        m.value("cluster_follow_api_reachable{cluster_name=\"trap\"}"),
        0.0,
        "the impostor must not pass for a follower"
    );
    assert_eq!(
        m.value(&format!(
            "port_conflict{{port=\"{port}\",protocol=\"tcp\"}}"
        )),
        1.0
    );
    assert!(m.has("port_claim_info") && m.has("port_listener_info"));
    assert_eq!(
        m.value("lotus_wallet_balance_fil{address=\"f1hot\",alias=\"hot\"}"),
        2.5
    );

    let status = exporter.status().await;
    let trap = status["cluster_follow"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["cluster_name"] == "trap")
        .unwrap();
    assert_eq!(trap["api_reachable"], false);
    assert_eq!(trap["api_port"], port);
    assert!(
        trap["errors"]
            .to_string()
            .contains("not an ipfs-cluster REST API"),
        "{trap}"
    );
    let entry = status["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == port)
        .unwrap();
    assert_eq!(entry["conflict"], true);
    assert!(
        entry["reason"]
            .as_str()
            .unwrap()
            .contains("ipfs-cluster-service"),
        "{entry}"
    );
    let good = status["cluster_follow"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["cluster_name"] == "good")
        .unwrap();
    assert_eq!(good["api_port"], serde_json::Value::Null);
    assert_eq!(good["connection_status"], "connected");
}
