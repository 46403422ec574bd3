//! Self-test of the fake Lotus daemon: protocol shapes, auth, fault injection, stop/restart.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

use crate::fakes::lotus::{
    Behavior, F3Certificate, FakeF3, FakeLotus, LotusState, Peer, SyncWorker, ADMIN_TOKEN,
    READ_TOKEN,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Sends one POST on a fresh connection and returns the response with its body unread.
async fn send(
    fake: &FakeLotus,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> Result<Response<Incoming>, BoxError> {
    let stream = TcpStream::connect(fake.addr()).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = Request::post(path)
        .header("host", fake.addr().to_string())
        .header("content-type", "application/json");
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    let req = req.body(Full::new(Bytes::from(body.to_string())))?;
    Ok(sender.send_request(req).await?)
}

/// Sends one POST and reads the whole body.
async fn post(
    fake: &FakeLotus,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> Result<(u16, Bytes), BoxError> {
    let response = send(fake, path, auth, body).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

fn request(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 7}).to_string()
}

/// Calls a method on `/rpc/v1` and parses the JSON envelope.
async fn rpc(fake: &FakeLotus, method: &str, params: Value, token: Option<&str>) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let (status, body) = post(fake, "/rpc/v1", auth.as_deref(), &request(method, params))
        .await
        .expect("rpc call");
    (status, serde_json::from_slice(&body).expect("json body"))
}

#[tokio::test(flavor = "multi_thread")]
async fn version_and_envelope_shapes() {
    let fake = FakeLotus::start().await;
    let (status, v1) = rpc(&fake, "Filecoin.Version", json!([]), None).await;
    assert_eq!(status, 200);
    assert_eq!(v1["jsonrpc"], "2.0");
    assert_eq!(v1["id"], 7);
    assert_eq!(v1["result"]["Version"], "1.34.1+mainnet+git.8a7c1f9");
    assert_eq!(v1["result"]["APIVersion"], 131840);
    assert_eq!(v1["result"]["BlockDelay"], 30);
    assert_eq!(v1["result"]["Agent"], "lotus");
    assert!(v1.get("error").is_none());

    let (_, v0) = post(
        &fake,
        "/rpc/v0",
        None,
        &request("Filecoin.Version", json!([])),
    )
    .await
    .unwrap();
    let v0: Value = serde_json::from_slice(&v0).unwrap();
    assert_eq!(v0["result"]["APIVersion"], 66816);

    let (_, name) = rpc(&fake, "Filecoin.StateNetworkName", json!([]), None).await;
    assert_eq!(name["result"], "testnetnet");
    let (_, session) = rpc(&fake, "Filecoin.Session", json!([]), None).await;
    assert_eq!(session["result"].as_str().unwrap().len(), 36);
}

#[tokio::test(flavor = "multi_thread")]
async fn chain_head_genesis_and_sync_state() {
    let fake = FakeLotus::start().await;
    let state = fake.state();
    let (_, head) = rpc(&fake, "Filecoin.ChainHead", json!([]), None).await;
    let head = &head["result"];
    assert_eq!(head["Height"], state.head_height);
    assert_eq!(head["Cids"].as_array().unwrap().len(), 3);
    assert!(head["Cids"][0]["/"]
        .as_str()
        .unwrap()
        .starts_with("bafy2bzace"));
    let block = &head["Blocks"][0];
    assert_eq!(block["Height"], state.head_height);
    assert_eq!(block["Timestamp"], state.head_timestamps[0]);
    assert!(block["ParentBaseFee"].is_string());
    assert!(block["Miner"].as_str().unwrap().starts_with("f0"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now - block["Timestamp"].as_u64().unwrap() < 30);

    let (_, genesis) = rpc(&fake, "Filecoin.ChainGetGenesis", json!([]), None).await;
    assert_eq!(genesis["result"]["Blocks"][0]["Timestamp"], 1598306400);
    assert_eq!(genesis["result"]["Height"], 0);

    fake.state_mut(|s| {
        s.sync_workers = vec![SyncWorker::new(3, 5, 100), SyncWorker::new(4, 1, 200)];
        s.sync_workers[0].message = "boom".into();
        s.sync_workers[1].base = None;
    });
    let (_, sync) = rpc(&fake, "Filecoin.SyncState", json!([]), None).await;
    let syncs = sync["result"]["ActiveSyncs"].as_array().unwrap();
    assert_eq!(syncs.len(), 2);
    assert_eq!(syncs[0]["WorkerID"], 3);
    assert_eq!(syncs[0]["Stage"], 5);
    assert_eq!(syncs[0]["Height"], 100);
    assert_eq!(syncs[0]["Message"], "boom");
    assert_eq!(syncs[0]["Base"]["Height"], 100);
    assert_eq!(syncs[0]["End"], "0001-01-01T00:00:00Z");
    assert!(syncs[1]["Base"].is_null());
    assert!(sync["result"]["VMApplied"].is_u64());
}

#[tokio::test(flavor = "multi_thread")]
async fn lagging_state_and_node_status() {
    let fake = FakeLotus::start_with(LotusState::lagging(100)).await;
    let expected = fake.state().expected_height();
    let (_, head) = rpc(&fake, "Filecoin.ChainHead", json!([]), None).await;
    assert_eq!(head["result"]["Height"], expected - 100);
    let (_, status) = rpc(&fake, "Filecoin.NodeStatus", json!([true]), None).await;
    let behind = status["result"]["SyncStatus"]["Behind"].as_u64().unwrap();
    assert!((100..=101).contains(&behind), "behind {behind}");
    let (_, params) = rpc(&fake, "Filecoin.StateGetNetworkParams", json!([]), None).await;
    assert_eq!(params["result"]["GenesisTimestamp"], 1598306400);
    assert_eq!(params["result"]["BlockDelaySecs"], 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn peers_and_wallets() {
    let fake = FakeLotus::start().await;
    fake.state_mut(|s| {
        s.peers = vec![
            Peer::new("12D3KooWA", &["/ip4/1.2.3.4/tcp/1"]),
            Peer::new("12D3KooWA", &["/ip4/1.2.3.4/udp/1/quic-v1"]),
        ];
        s.add_wallet("f1test", "123456789012345678901234567890");
    });
    let (_, peers) = rpc(&fake, "Filecoin.NetPeers", json!([]), None).await;
    assert_eq!(
        peers["result"],
        json!([
            {"ID": "12D3KooWA", "Addrs": ["/ip4/1.2.3.4/tcp/1"]},
            {"ID": "12D3KooWA", "Addrs": ["/ip4/1.2.3.4/udp/1/quic-v1"]}
        ])
    );
    let (_, balance) = rpc(&fake, "Filecoin.WalletBalance", json!(["f1test"]), None).await;
    assert_eq!(balance["result"], "123456789012345678901234567890");
    let (_, zero) = rpc(&fake, "Filecoin.WalletBalance", json!(["f1unknown"]), None).await;
    assert_eq!(zero["result"], "0");
    let (status, bad) = rpc(&fake, "Filecoin.WalletBalance", json!(["nope"]), None).await;
    assert_eq!((status, bad["error"]["code"].clone()), (500, json!(-32700)));

    let (_, list) = rpc(&fake, "Filecoin.WalletList", json!([]), Some(ADMIN_TOKEN)).await;
    assert!(list["result"]
        .as_array()
        .unwrap()
        .contains(&json!("f1test")));
    let (_, default) = rpc(&fake, "WalletDefaultAddress", json!([]), Some(ADMIN_TOKEN)).await;
    assert!(default["error"]["message"]
        .as_str()
        .unwrap()
        .contains("method 'WalletDefaultAddress' not found"));
    let (_, default) = rpc(
        &fake,
        "Filecoin.WalletDefaultAddress",
        json!([]),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert!(default["result"].as_str().unwrap().starts_with("f1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_like_go_jsonrpc() {
    let fake = FakeLotus::start().await;
    let (status, denied) = rpc(&fake, "Filecoin.WalletList", json!([]), None).await;
    assert_eq!(status, 200);
    assert_eq!(denied["error"]["code"], 1);
    assert_eq!(
        denied["error"]["message"],
        "missing permission to invoke 'WalletList' (need 'write')"
    );
    let (_, denied) = rpc(&fake, "Filecoin.WalletList", json!([]), Some(READ_TOKEN)).await;
    assert_eq!(denied["error"]["code"], 1);

    let body = request("Filecoin.ChainHead", json!([]));
    let (status, empty) = post(&fake, "/rpc/v1", Some("Bearer wrong"), &body)
        .await
        .unwrap();
    assert_eq!((status, empty.len()), (401, 0));
    let (status, empty) = post(&fake, "/rpc/v1", Some(ADMIN_TOKEN), &body)
        .await
        .unwrap();
    assert_eq!((status, empty.len()), (401, 0));

    let (_, verify) = rpc(&fake, "Filecoin.AuthVerify", json!([ADMIN_TOKEN]), None).await;
    assert_eq!(verify["result"], json!(["read", "write", "sign", "admin"]));

    let headers = fake.auth_headers();
    assert_eq!(headers[0], None);
    assert_eq!(headers[1], Some(format!("Bearer {READ_TOKEN}")));
    assert_eq!(headers[3], Some(ADMIN_TOKEN.to_string()));
    // 401s never reach JSON-RPC, so they are not counted as calls.
    assert_eq!(fake.calls("Filecoin.ChainHead"), 0);
    assert_eq!(fake.calls("Filecoin.WalletList"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn framework_errors_and_paths() {
    let fake = FakeLotus::start().await;
    let (status, unknown) = rpc(&fake, "Filecoin.Foo", json!([]), None).await;
    assert_eq!(status, 500);
    assert_eq!(unknown["error"]["code"], -32601);
    assert_eq!(
        unknown["error"]["message"],
        "method 'Filecoin.Foo' not found"
    );
    assert!(unknown.get("result").is_none());

    let (status, count) = rpc(&fake, "Filecoin.ChainHead", json!([1]), None).await;
    assert_eq!(status, 500);
    assert_eq!(count["error"]["code"], -32602);

    let (status, parse) = post(&fake, "/rpc/v1", None, "{nope").await.unwrap();
    let parse: Value = serde_json::from_slice(&parse).unwrap();
    assert_eq!(
        (status, parse["error"]["code"].clone()),
        (500, json!(-32700))
    );

    let (status, body) = post(&fake, "/rpc/v2x", None, "{}").await.unwrap();
    assert_eq!((status, &body[..]), (404, &b"404 page not found\n"[..]));
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_answers() {
    let fake = FakeLotus::start().await;
    fake.set_behavior(
        "Filecoin.ChainHead",
        Behavior::RpcError {
            code: 1,
            message: "blockstore closed".into(),
        },
    );
    let (status, err) = rpc(&fake, "Filecoin.ChainHead", json!([]), None).await;
    assert_eq!(
        (status, err["error"]["message"].clone()),
        (200, json!("blockstore closed"))
    );

    fake.set_behavior("SyncState", Behavior::HttpStatus(502, "Bad Gateway".into()));
    let body = request("Filecoin.SyncState", json!([]));
    let (status, text) = post(&fake, "/rpc/v1", None, &body).await.unwrap();
    assert_eq!((status, &text[..]), (502, &b"Bad Gateway"[..]));

    fake.set_behavior("NetPeers", Behavior::RawBody("{\"jsonrpc\":".into()));
    let body = request("Filecoin.NetPeers", json!([]));
    let (status, raw) = post(&fake, "/rpc/v1", None, &body).await.unwrap();
    assert_eq!((status, &raw[..]), (200, &b"{\"jsonrpc\":"[..]));

    fake.set_behavior("Filecoin.NetPeers", Behavior::Result(Value::Null));
    let (_, null) = rpc(&fake, "Filecoin.NetPeers", json!([]), None).await;
    assert!(null["result"].is_null() && null.get("result").is_some());

    fake.set_behavior(
        "Filecoin.Version",
        Behavior::Delay(Duration::from_millis(300)),
    );
    // Delayed: not answered a third of the way in (a lower bound, which no busy machine breaks),
    // then answered normally.
    let early = tokio::time::timeout(
        Duration::from_millis(100),
        rpc(&fake, "Filecoin.Version", json!([]), None),
    )
    .await;
    assert!(early.is_err(), "a delayed answer came early");
    let (_, version) = rpc(&fake, "Filecoin.Version", json!([]), None).await;
    assert_eq!(version["result"]["Agent"], "lotus");

    fake.set_behavior("Filecoin.Session", Behavior::Hang);
    let hung = tokio::time::timeout(
        Duration::from_millis(300),
        rpc(&fake, "Filecoin.Session", json!([]), None),
    )
    .await;
    assert!(hung.is_err());
    assert_eq!(fake.calls("Session"), 1);

    fake.clear_behaviors();
    let (_, head) = rpc(&fake, "Filecoin.ChainHead", json!([]), None).await;
    assert!(head["result"]["Height"].is_i64());
    assert_eq!(fake.calls("Filecoin.ChainHead"), 2);
    assert_eq!(
        fake.total_calls(),
        8,
        "one more: the early, abandoned Version call"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_body_is_streamed() {
    let fake = FakeLotus::start().await;
    let size = 3 * 1024 * 1024 + 17;
    fake.set_behavior("Filecoin.ChainHead", Behavior::HugeBody(size));
    let body = request("Filecoin.ChainHead", json!([]));
    let (status, full) = post(&fake, "/rpc/v1", None, &body).await.unwrap();
    assert_eq!((status, full.len()), (200, size));
    assert!(full.starts_with(b"{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"aaa"));
    assert!(full.ends_with(b"aaa\"}\n"));
    assert_eq!(fake.bytes_written_for("ChainHead"), size as u64);

    // A reader that gives up early leaves most of a very large body unproduced.
    fake.reset_counters();
    let gigantic = 1 << 30;
    fake.set_behavior("Filecoin.ChainHead", Behavior::HugeBody(gigantic));
    let mut response = send(&fake, "/rpc/v1", None, &body).await.unwrap();
    assert!(response.headers().get("content-length").is_none());
    let first = response.body_mut().frame().await.unwrap().unwrap();
    assert!(first.is_data());
    drop(response);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(fake.bytes_written() < gigantic as u64 / 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_mid_body_breaks_the_read() {
    let fake = FakeLotus::start().await;
    fake.set_behavior("Filecoin.Version", Behavior::ResetMidBody);
    let body = request("Filecoin.Version", json!([]));
    let response = send(&fake, "/rpc/v1", None, &body).await.unwrap();
    assert_eq!(response.status(), 200);
    let length: u64 = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(response.into_body().collect().await.is_err());
    assert_eq!(fake.bytes_written(), length / 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_restart_and_silent() {
    let fake = FakeLotus::start().await;
    let session = fake.state().session;
    let (status, _) = rpc(&fake, "Filecoin.Version", json!([]), None).await;
    assert_eq!(status, 200);

    fake.set_behavior("Filecoin.ChainHead", Behavior::Hang);
    let fake = std::sync::Arc::new(fake);
    let hanging = {
        let fake = fake.clone();
        tokio::spawn(async move {
            post(
                &fake,
                "/rpc/v1",
                None,
                &request("Filecoin.ChainHead", json!([])),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    fake.stop().await;
    assert!(!fake.is_running());
    assert!(
        hanging.await.unwrap().is_err(),
        "stop closes open connections"
    );
    let refused = TcpStream::connect(fake.addr()).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    fake.restart().await;
    let (status, now) = rpc(&fake, "Filecoin.Session", json!([]), None).await;
    assert_eq!(status, 200);
    assert_ne!(now["result"], json!(session));

    fake.set_silent(true);
    let silent = tokio::time::timeout(
        Duration::from_millis(300),
        post(
            &fake,
            "/rpc/v1",
            None,
            &request("Filecoin.Version", json!([])),
        ),
    )
    .await;
    assert!(silent.is_err());
    fake.set_silent(false);
    let (status, _) = rpc(&fake, "Filecoin.Version", json!([]), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        fake.api_info(),
        format!("/ip4/127.0.0.1/tcp/{}/http", fake.port())
    );
}

/// Calls a method on `path` with no token and parses the JSON envelope.
async fn rpc_at(fake: &FakeLotus, path: &str, method: &str) -> (u16, Value) {
    let (status, body) = post(fake, path, None, &request(method, json!([])))
        .await
        .expect("rpc call");
    (status, serde_json::from_slice(&body).expect("json body"))
}

#[tokio::test(flavor = "multi_thread")]
async fn f3_shapes_as_the_reference_gives_them() {
    let fake = FakeLotus::start().await;
    let head = fake.state().head_height;
    let (_, running) = rpc(&fake, "Filecoin.F3IsRunning", json!([]), None).await;
    assert_eq!(running["result"], true);
    let (_, cert) = rpc(&fake, "Filecoin.F3GetLatestCertificate", json!([]), None).await;
    let cert = &cert["result"];
    let chain = cert["ECChain"].as_array().unwrap();
    assert_eq!(
        chain.last().unwrap()["Epoch"],
        head - 5,
        "the last entry is finalized"
    );
    assert!(chain[0]["Key"][0]["/"].is_string() && chain[0]["PowerTable"]["/"].is_string());
    for key in ["GPBFTInstance", "SupplementalData", "Signers", "Signature"] {
        assert!(!cert[key].is_null(), "{key}");
    }
    // go-f3 omits an unchanged power table's delta (omitempty), as a real node does.
    assert!(cert.get("PowerTableDelta").is_none(), "{cert}");
    let (_, progress) = rpc(&fake, "Filecoin.F3GetProgress", json!([]), None).await;
    assert_eq!(
        progress["result"]["ID"],
        cert["GPBFTInstance"].as_u64().unwrap() + 1
    );
    let (_, manifest) = rpc(&fake, "Filecoin.F3GetManifest", json!([]), None).await;
    assert_eq!(manifest["result"]["NetworkName"], "filecoin");
    assert_eq!(manifest["result"]["BootstrapEpoch"], 4_920_480);
    assert_eq!(manifest["result"]["EC"]["Period"], 30_000_000_000u64);

    fake.state_mut(|s| s.f3 = FakeF3::disabled());
    for method in [
        "F3IsRunning",
        "F3GetLatestCertificate",
        "F3GetProgress",
        "F3GetManifest",
    ] {
        let (status, answer) = rpc(&fake, &format!("Filecoin.{method}"), json!([]), None).await;
        assert_eq!(status, 200, "{method}");
        assert_eq!(
            answer["error"],
            json!({"code": 4, "message": "f3 is disabled"})
        );
    }

    fake.state_mut(|s| s.f3 = FakeF3::not_running());
    let (_, running) = rpc(&fake, "Filecoin.F3IsRunning", json!([]), None).await;
    assert_eq!(running["result"], false);
    let (_, progress) = rpc(&fake, "Filecoin.F3GetProgress", json!([]), None).await;
    assert_eq!(
        progress["result"],
        json!({"ID": 0, "Round": 0, "Phase": 0, "Input": null})
    );
    let (_, cert) = rpc(&fake, "Filecoin.F3GetLatestCertificate", json!([]), None).await;
    assert_eq!(
        cert["error"],
        json!({"code": 1, "message": "f3 is not running"})
    );

    fake.state_mut(|s| {
        s.f3 = FakeF3 {
            certificate: F3Certificate::Null,
            ..FakeF3::default()
        }
    });
    let (_, cert) = rpc(&fake, "Filecoin.F3GetLatestCertificate", json!([]), None).await;
    assert_eq!(cert["result"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_finality_status_and_the_v1_fallback() {
    let fake = FakeLotus::start().await;
    let head = fake.state().head_height;
    let (status, answer) = rpc_at(&fake, "/rpc/v2", "Filecoin.ChainGetTipSetFinalityStatus").await;
    assert_eq!(status, 200);
    let result = &answer["result"];
    assert_eq!(result["ecFinalityThresholdDepth"], 30);
    assert_eq!(result["ecFinalizedTipSet"]["Height"], head - 30);
    assert_eq!(result["f3FinalizedTipSet"]["Height"], head - 5);
    assert_eq!(result["finalizedTipSet"]["Height"], head - 5);
    assert_eq!(result["head"]["Height"], head);
    // Each API serves its own methods.
    let (status, v1) = rpc_at(&fake, "/rpc/v1", "Filecoin.ChainGetTipSetFinalityStatus").await;
    assert_eq!((status, v1["error"]["code"].as_i64()), (500, Some(-32601)));
    let (_, v2) = rpc_at(&fake, "/rpc/v2", "Filecoin.F3IsRunning").await;
    assert_eq!(v2["error"]["code"], -32601);
    let (_, finalized) = rpc_at(&fake, "/rpc/v1", "Filecoin.ChainGetFinalizedTipSet").await;
    assert_eq!(finalized["result"]["Height"], head - 5);

    // A degraded chain: depth -1 and no EC tipset; F3 stalled beyond 900: head - 900.
    fake.state_mut(|s| {
        s.ec_finality_depth = -1;
        s.stall_f3();
        let moved = s.head_height + 1000;
        s.set_head_height(moved);
    });
    let (_, answer) = rpc_at(&fake, "/rpc/v2", "Filecoin.ChainGetTipSetFinalityStatus").await;
    let result = &answer["result"];
    assert_eq!(result["ecFinalityThresholdDepth"], -1);
    assert_eq!(result["ecFinalizedTipSet"], Value::Null);
    assert_eq!(result["f3FinalizedTipSet"], Value::Null);
    assert_eq!(result["finalizedTipSet"]["Height"], head + 1000 - 900);

    // An older Lotus: no /rpc/v2 at all.
    fake.state_mut(|s| s.rpc_v2 = false);
    let (status, body) = post(
        &fake,
        "/rpc/v2",
        None,
        &request("Filecoin.ChainGetTipSetFinalityStatus", json!([])),
    )
    .await
    .unwrap();
    assert_eq!((status, &body[..]), (404, &b"404 page not found\n"[..]));
}
