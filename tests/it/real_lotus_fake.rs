//! The fake Lotus (`tests/it/fakes/lotus.rs`) against the real one (the shared devnet of
//! `real_lotus`): every method the exporter calls, asked of both the same way, must answer with
//! the same shape (HTTP status, envelope, every field's name and JSON type, recursively), and
//! every error the exporter tells apart (permission, bad token, unknown method, the v1/v2 split,
//! an unknown path) the same way. Values differ (a devnet is not mainnet); shapes may not.

use std::collections::BTreeSet;

use lotus_follow_exporter::net::http_client::Endpoint;
use serde_json::{json, Value};

use crate::fakes::lotus::{FakeLotus, ADMIN_TOKEN, READ_TOKEN};
use crate::real::lotus::{rpc_call, Devnet, DEVNET_PATIENCE};

/// Where the real and the fake answers differ in shape, as `path: what` lines. `null` on
/// either side matches anything (a field that is `null` until there is something to say:
/// `Base`, `ecFinalizedTipSet`, ...); an empty list matches any list.
fn shape_diffs(real: &Value, fake: &Value, path: &str, out: &mut Vec<String>) {
    match (real, fake) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(r), Value::Object(f)) => {
            let rk: BTreeSet<&String> = r.keys().collect();
            let fk: BTreeSet<&String> = f.keys().collect();
            for k in rk.difference(&fk) {
                out.push(format!("{path}.{k}: only the real node sends it"));
            }
            for k in fk.difference(&rk) {
                out.push(format!("{path}.{k}: only the fake sends it"));
            }
            for k in rk.intersection(&fk) {
                shape_diffs(&r[*k], &f[*k], &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(r), Value::Array(f)) => {
            if let (Some(r0), Some(f0)) = (r.first(), f.first()) {
                shape_diffs(r0, f0, &format!("{path}[0]"), out);
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        (r, f) => out.push(format!("{path}: real {r}, fake {f}")),
    }
}

/// The token given to the real node and to the fake.
type TokenPair = (&'static str, &'static str);

/// One call of the comparison: on which path, with which params (the real node's, the
/// fake's), with which token level.
struct Ask {
    path: &'static str,
    method: &'static str,
    real_params: Value,
    fake_params: Value,
    admin: bool,
}

fn ask(path: &'static str, method: &'static str, admin: bool) -> Ask {
    Ask {
        path,
        method,
        real_params: json!([]),
        fake_params: json!([]),
        admin,
    }
}

/// The error part of an answer: HTTP status, JSON-RPC code, the message with every number and
/// quoted name put as `#` and `'…'` (so "height -897" and "height -12" agree).
fn error_of(status: u16, body: &Value) -> (u16, Value, String) {
    let message = body["error"]["message"].as_str().unwrap_or_default();
    let mut words = String::new();
    let mut in_quote = false;
    let mut last_digit = false;
    for c in message.chars() {
        if c == '\'' {
            in_quote = !in_quote;
            words.push_str(if in_quote { "'…" } else { "'" });
            continue;
        }
        if in_quote {
            continue;
        }
        if c.is_ascii_digit() {
            if !last_digit {
                words.push('#');
            }
            last_digit = true;
            continue;
        }
        last_digit = false;
        words.push(c);
    }
    (status, body["error"]["code"].clone(), words)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_agrees_with_the_real_node() {
    let devnet = Devnet::shared().await;
    let fake = FakeLotus::start().await;
    let fake_endpoint = Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port: fake.port(),
    };
    // F3 has certified: the certificate is an object on both sides.
    devnet
        .until("a first F3 certificate", DEVNET_PATIENCE, || async {
            // Before F3 runs: code 1 "f3 is not running", then `null`, then certificates.
            let (_, cert) = devnet
                .call(
                    "/rpc/v1",
                    "Filecoin.F3GetLatestCertificate",
                    json!([]),
                    None,
                )
                .await;
            cert["result"].is_object().then_some(())
        })
        .await;
    let real_admin = devnet.token("admin");
    let real_read = devnet.token("read");
    let real_wallet = devnet.info()["wallet"]["address"]
        .as_str()
        .expect("wallet")
        .to_string();
    let fake_wallet = fake.state().wallet_list[0].clone();

    let mut asks = vec![
        ask("/rpc/v1", "Filecoin.Version", false),
        ask("/rpc/v0", "Filecoin.Version", false),
        ask("/rpc/v1", "Filecoin.Session", false),
        ask("/rpc/v1", "Filecoin.ChainHead", false),
        ask("/rpc/v1", "Filecoin.ChainGetGenesis", false),
        ask("/rpc/v1", "Filecoin.StateNetworkName", false),
        ask("/rpc/v1", "Filecoin.SyncState", false),
        ask("/rpc/v1", "Filecoin.NetPeers", false),
        ask("/rpc/v1", "Filecoin.F3IsRunning", false),
        ask("/rpc/v1", "Filecoin.F3GetProgress", false),
        ask("/rpc/v1", "Filecoin.F3GetLatestCertificate", false),
        ask("/rpc/v1", "Filecoin.F3GetManifest", false),
        ask("/rpc/v1", "Filecoin.ChainGetFinalizedTipSet", false),
        ask("/rpc/v2", "Filecoin.ChainGetTipSetFinalityStatus", false),
        ask("/rpc/v1", "Filecoin.WalletList", true),
        ask("/rpc/v1", "Filecoin.WalletDefaultAddress", true),
    ];
    asks.push(Ask {
        real_params: json!([real_wallet]),
        fake_params: json!([fake_wallet]),
        ..ask("/rpc/v1", "Filecoin.WalletBalance", false)
    });
    asks.push(Ask {
        real_params: json!([real_read]),
        fake_params: json!([READ_TOKEN]),
        ..ask("/rpc/v1", "Filecoin.AuthVerify", false)
    });

    let mut diffs = Vec::new();
    for a in &asks {
        let real_token = a.admin.then_some(real_admin.as_str());
        let fake_token = a.admin.then_some(ADMIN_TOKEN);
        let (rs, real) = devnet
            .call(a.path, a.method, a.real_params.clone(), real_token)
            .await;
        let (fs, fake_body) = rpc_call(
            &fake_endpoint,
            a.path,
            a.method,
            a.fake_params.clone(),
            fake_token,
        )
        .await
        .expect("the fake answers");
        let at = format!("{} {}", a.path, a.method);
        if rs != fs {
            diffs.push(format!("{at}: HTTP {rs} real, {fs} fake"));
        }
        shape_diffs(&real, &fake_body, &at, &mut diffs);
    }

    // The errors the exporter tells apart.
    let errors: [(&str, &str, Option<TokenPair>); 5] = [
        // A write method without a token: read access, code 1, the permission named.
        ("/rpc/v1", "Filecoin.WalletList", None),
        // A token that does not verify: HTTP 401, empty body.
        (
            "/rpc/v1",
            "Filecoin.Version",
            Some(("not.a.jwt", "not.a.jwt")),
        ),
        // A method no API has, and a v1 method on v2: -32601, HTTP 500.
        ("/rpc/v1", "Filecoin.NoSuchMethod", None),
        ("/rpc/v2", "Filecoin.Version", None),
        // A path Lotus does not serve: 404 page not found.
        ("/rpc/v3", "Filecoin.Version", None),
    ];
    for (path, method, tokens) in errors {
        let (rs, real) = devnet
            .call(path, method, json!([]), tokens.map(|t| t.0))
            .await;
        let (fs, fake_body) =
            rpc_call(&fake_endpoint, path, method, json!([]), tokens.map(|t| t.1))
                .await
                .expect("the fake answers");
        let (r, f) = (error_of(rs, &real), error_of(fs, &fake_body));
        if r != f {
            diffs.push(format!("{path} {method}: real {r:?}, fake {f:?}"));
        }
        if !real.is_object() && real != fake_body {
            diffs.push(format!(
                "{path} {method}: real body {real}, fake {fake_body}"
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "the fake and the real Lotus differ:\n{}",
        diffs.join("\n")
    );
}
