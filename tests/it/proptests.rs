//! Property tests: no parser of outside input panics, whatever it is fed.

use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::Value;

use lotus_follow_exporter::checks::follow::api::{parse_id, parse_trusted_peers};
use lotus_follow_exporter::checks::follow::parse_api_spec;
use lotus_follow_exporter::checks::follow::pins::PinCounter;
use lotus_follow_exporter::checks::lotus::rpc::interpret;
use lotus_follow_exporter::checks::lotus::types;
use lotus_follow_exporter::checks::lotus::{parse_wallet, rpc_target, ApiInfo};
use lotus_follow_exporter::checks::ports::claims::{
    cluster_service_claims, exporter_claim, kubo_claims, lotus_listen_address,
};
use lotus_follow_exporter::checks::ports::listeners::{parse_endpoint, parse_line, parse_table};
use lotus_follow_exporter::exporter::collector::scrape_budget;
use lotus_follow_exporter::host::process::{parse_environ, split_cmdline, user_name_in};
use lotus_follow_exporter::net::multiaddr::{Multiaddr, Transport};
use lotus_follow_exporter::server::web::WebConfig;

/// Any JSON value, a few levels deep, with the keys our parsers look for.
fn json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("Height".to_string()),
        Just("Blocks".to_string()),
        Just("Timestamp".to_string()),
        Just("ActiveSyncs".to_string()),
        Just("Stage".to_string()),
        Just("ID".to_string()),
        Just("Version".to_string()),
        Just("BlockDelay".to_string()),
        Just("id".to_string()),
        Just("cluster_peers".to_string()),
        Just("ipfs".to_string()),
        Just("error".to_string()),
        Just("cluster_trust_links".to_string()),
        Just("peer_map".to_string()),
        Just("status".to_string()),
        "[a-z_]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        ".{0,12}".prop_map(Value::String),
        "[0-9]{1,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn api_info_and_rpc_targets_never_panic(text in ".{0,80}") {
        let info = ApiInfo::parse(&text);
        let _ = rpc_target(&info.address);
        let _ = parse_wallet(&text);
    }

    #[test]
    fn api_info_with_lotus_shapes(token in "[A-Za-z0-9._-]{0,20}", addr in "(/ip4/[0-9.]{0,15}/tcp/[0-9]{0,6}(/http)?|https?://[a-z0-9.:]{0,20}(/rpc/v[01])?)") {
        let info = ApiInfo::parse(&format!("{token}:{addr}"));
        let _ = rpc_target(&info.address);
    }

    #[test]
    fn multiaddrs_never_panic(text in "(/(ip4|ip6|dns|tcp|udp|unix|p2p|quic-v1|http|certhash)?(/[0-9a-zA-Z.:]{0,10})?){0,6}") {
        if let Ok(addr) = Multiaddr::parse(&text) {
            let _ = addr.port();
            let _ = addr.wants_tls();
        }
    }

    #[test]
    fn lotus_shapes_never_panic(v in json()) {
        let _ = types::parse_version(&v);
        let _ = types::parse_tipset("Filecoin.ChainHead", &v);
        let _ = types::parse_sync_state(&v);
        let _ = types::parse_unique_peers(&v);
        let _ = types::parse_address_list(&v);
        let _ = types::parse_permissions(&v);
        if let Ok(amount) = types::parse_attofil(&v) {
            prop_assert!(!amount.to_fil().is_nan());
        }
        let _ = types::flex_u64(&v);
    }

    #[test]
    fn json_rpc_answers_never_panic(v in json(), raw in prop::collection::vec(any::<u8>(), 0..200), status in 100u16..600) {
        let status = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
        let _ = interpret("http://127.0.0.1:1/rpc/v1", "Filecoin.Version", status, v.to_string().as_bytes());
        let _ = interpret("http://127.0.0.1:1/rpc/v1", "Filecoin.Version", status, &raw);
        let envelope = serde_json::json!({"jsonrpc": "2.0", "id": 1, "error": v});
        let _ = interpret("http://127.0.0.1:1/rpc/v1", "Filecoin.Version", status, envelope.to_string().as_bytes());
    }

    #[test]
    fn attofil_round_trips(digits in "-?[0-9]{1,38}") {
        let amount = types::AttoFil::parse(&digits).expect("decimal integers parse");
        let canonical = digits.trim_start_matches('-').trim_start_matches('0');
        let expected = if canonical.is_empty() { "0" } else { canonical };
        prop_assert!(amount.to_attofil_string().ends_with(expected));
        prop_assert!(amount.to_fil().is_finite());
    }

    #[test]
    fn cluster_json_never_panics(v in json(), own in proptest::option::of("[a-zA-Z0-9]{0,10}")) {
        let bytes = v.to_string();
        let _ = parse_id(bytes.as_bytes());
        let _ = parse_trusted_peers(bytes.as_bytes(), own.as_deref());
        let _ = cluster_service_claims(&bytes);
        let _ = kubo_claims(&bytes);
    }

    #[test]
    fn pin_streams_never_panic(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..8), cap in 1usize..512) {
        let mut counter = PinCounter::new(Some("12D3KooWFollowerPeer".into()), cap);
        for chunk in &chunks {
            if counter.push(chunk).is_err() {
                return Ok(());
            }
        }
        let _ = counter.finish();
    }

    #[test]
    fn pin_lines_split_anywhere_count_the_same(split in 0usize..400) {
        let line = "{\"cid\":\"bafy\",\"peer_map\":{\"12D3KooWFollowerPeer\":{\"status\":\"pinned\"}}}\n";
        let stream = line.repeat(4);
        let split = split.min(stream.len());
        let mut counter = PinCounter::new(Some("12D3KooWFollowerPeer".into()), 4096);
        counter.push(&stream.as_bytes()[..split]).unwrap();
        counter.push(&stream.as_bytes()[split..]).unwrap();
        let counts = counter.finish().unwrap();
        prop_assert_eq!(counts.pins, 4);
    }

    #[test]
    fn proc_net_lines_never_panic(line in "[ 0-9A-Fa-f:x]{0,160}", text in "(.{0,60}\n){0,5}") {
        let _ = parse_line(&line, Transport::Tcp);
        let _ = parse_line(&line, Transport::Udp);
        let _ = parse_table(&text, Transport::Tcp);
        let _ = parse_endpoint(&line);
    }

    #[test]
    fn config_texts_never_panic(text in ".{0,200}") {
        let _ = cluster_service_claims(&text);
        let _ = kubo_claims(&text);
        let _ = lotus_listen_address(&text);
        let _ = exporter_claim(&text);
        let _ = parse_api_spec(&text);
        let _ = WebConfig::parse(&text, Path::new("/nonexistent"));
        let _ = user_name_in(&text, 0);
    }

    #[test]
    fn toml_shaped_lotus_configs_never_panic(key in "(ListenAddress|Timeout|[a-z]{0,6})", value in ".{0,30}", quoted in any::<bool>()) {
        let value = if quoted { format!("{value:?}") } else { value };
        let _ = lotus_listen_address(&format!("[API]\n{key} = {value}\n"));
    }

    #[test]
    fn proc_buffers_never_panic(raw in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = split_cmdline(&raw);
        let _ = parse_environ(&raw);
    }

    #[test]
    fn scrape_budget_never_exceeds_the_collector_timeout(header in ".{0,12}", secs in 0.0f64..100.0) {
        let timeout = Duration::from_secs(5);
        if let Ok(budget) = scrape_budget(timeout, Some(&header)) {
            prop_assert!(budget <= timeout);
        }
        if let Ok(budget) = scrape_budget(timeout, Some(&secs.to_string())) {
            prop_assert!(budget <= timeout);
            prop_assert!(budget <= Duration::from_secs_f64(secs.max(0.0)) + Duration::from_micros(1));
        }
    }
}
