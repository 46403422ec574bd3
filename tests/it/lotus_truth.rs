//! The Lotus check tells the truth about a daemon that moves, a front that refuses, and an
//! endpoint given as it is (issue 20, Lotus side): the exporter served in-process against the
//! fake Lotus, each case of `../shared/cases/lotus-api-file-reread` and
//! `../shared/cases/finality-v2-proxy-refused` and their siblings.

use std::path::Path;

use lotus_follow_exporter::cli::{parse_flags, Config};

use crate::agreement::{self, Views};
use crate::fakes::lotus::{distinct_peers, nginx_page, Behavior, FakeLotus, READ_TOKEN};
use crate::util;

/// The F3 methods a node without F3 does not serve.
const F3_METHODS: [&str; 4] = [
    "Filecoin.F3IsRunning",
    "Filecoin.F3GetLatestCertificate",
    "Filecoin.F3GetProgress",
    "Filecoin.F3GetManifest",
];

/// The exporter with these flags in an environment given as pairs (besides an empty `HOME`).
async fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> util::Exporter {
    let mut argv = vec![
        "lotus-follow-exporter",
        "--web.listen-address",
        "127.0.0.1:0",
        "--follow.process-discovery=false",
    ];
    argv.extend_from_slice(args);
    let flags = parse_flags(argv).expect("flags parse");
    let home = std::env::temp_dir().join("lfe-test-empty-home");
    let home = home.to_string_lossy().to_string();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = Config::resolve(flags, &|name| {
        if name == "HOME" {
            return Some(home.clone());
        }
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
    .expect("config resolves");
    util::start_config(config).await
}

/// A fake Lotus with nothing to say against it: synced, F3 running, 12 distinct peers (more
/// than `--lotus.min-peers`' 10).
async fn well_lotus() -> FakeLotus {
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| s.peers = distinct_peers(12));
    lotus
}

/// Write the repo's `api` file as Lotus does (`SetAPIEndpoint`: the multiaddr, no newline).
fn write_api_file(repo: &Path, lotus: &FakeLotus) {
    std::fs::write(repo.join("api"), lotus.api_info()).unwrap();
}

/// The built binary's `check` with these flags, no follower and no port-plan config: (exit
/// code, stdout).
async fn check(args: Vec<String>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let followers = tempfile::tempdir().unwrap();
        let followers = followers.path().to_str().unwrap().to_string();
        let none = std::env::temp_dir().join("lotus-follow-exporter-test-none");
        let none = none.to_str().unwrap().to_string();
        let mut all = vec!["check".to_string()];
        all.extend(args);
        for (flag, value) in [
            ("--follow.config-dir", &followers),
            ("--ports.cluster-service-config", &none),
            ("--ports.kubo-config", &none),
        ] {
            all.extend([flag.to_string(), value.clone()]);
        }
        all.push("--follow.process-discovery=false".into());
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"))
            .args(&all)
            .env("HOME", std::env::temp_dir())
            .env_remove("FULLNODE_API_INFO")
            .env_remove("LOTUS_PATH")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.code().unwrap_or(-1), stdout)
    })
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// A daemon that moves
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn an_api_file_that_appears_after_start_is_followed() {
    // Case A of lotus-api-file-reread: after a reboot the exporter starts first; Lotus comes up
    // later on its configured port and writes its api file.
    let repo = tempfile::tempdir().unwrap();
    let repo_path = repo.path().to_str().unwrap();
    let exporter = util::start(&["--lotus.path", repo_path]).await;
    let status = exporter.status().await;
    assert_eq!(
        status["lotus"]["api_address"],
        "http://127.0.0.1:1234/rpc/v1"
    );
    let source = status["lotus"]["api_source"].as_str().unwrap().to_string();
    assert!(
        source.starts_with("default: no ") && source.ends_with("/api"),
        "{source}"
    );

    let lotus = well_lotus().await;
    write_api_file(repo.path(), &lotus);
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 1.0, "{}", m.text);
    assert_eq!(m.value("lotus_status{state=\"running\"}"), 1.0);
    assert_eq!(m.value("lotus_health{state=\"healthy\"}"), 1.0);
    let status = exporter.status().await;
    assert_eq!(
        status["lotus"]["api_address"],
        format!("http://127.0.0.1:{}/rpc/v1", lotus.port())
    );
    assert_eq!(
        status["lotus"]["api_source"],
        repo.path().join("api").display().to_string()
    );

    // `check` with the same flags agrees, and says where the address came from.
    let (code, text) = check(vec!["--lotus.path".into(), repo_path.into()]).await;
    let heading = text.lines().find(|l| l.starts_with("Lotus ")).unwrap();
    assert_eq!(
        heading,
        format!(
            "Lotus http://127.0.0.1:{}/rpc/v1 (from {})",
            lotus.port(),
            repo.path().join("api").display()
        )
    );
    assert!(text.contains("status:   running"), "{text}");
    assert_eq!(code, 0, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lotus_restarting_on_another_port_is_followed_and_its_session_learned_anew() {
    // Case B of lotus-api-file-reread: Lotus restarted with another [API] ListenAddress.
    let repo = tempfile::tempdir().unwrap();
    let first = well_lotus().await;
    write_api_file(repo.path(), &first);
    let exporter = util::start(&["--lotus.path", repo.path().to_str().unwrap()]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 1.0);
    assert_eq!(first.calls("Filecoin.ChainGetGenesis"), 1);

    first.stop().await;
    let second = well_lotus().await;
    write_api_file(repo.path(), &second);
    for _ in 0..2 {
        let m = exporter.metrics().await;
        assert_eq!(m.value("lotus_up"), 1.0, "{}", m.text);
        assert_eq!(m.value("lotus_status{state=\"running\"}"), 1.0);
        assert_eq!(m.value("lotus_synced"), 1.0);
    }
    assert_eq!(
        second.calls("Filecoin.ChainGetGenesis"),
        1,
        "what was learned of the old address is forgotten, and the new one asked once"
    );
    assert_eq!(second.calls("Filecoin.F3GetManifest"), 1);
    let status = exporter.status().await;
    assert_eq!(
        status["lotus"]["api_address"],
        format!("http://127.0.0.1:{}/rpc/v1", second.port())
    );

    // A clean shutdown removes the file: the default, and nothing answers there for this node.
    std::fs::remove_file(repo.path().join("api")).unwrap();
    let status = exporter.status().await;
    assert_eq!(
        status["lotus"]["api_address"],
        "http://127.0.0.1:1234/rpc/v1"
    );
    assert!(status["lotus"]["api_source"]
        .as_str()
        .unwrap()
        .starts_with("default"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fixed_address_does_not_follow_the_api_file() {
    let repo = tempfile::tempdir().unwrap();
    let given = well_lotus().await;
    let other = well_lotus().await;
    write_api_file(repo.path(), &other);
    let repo_path = repo.path().to_str().unwrap();
    let by_flag = util::start(&["--lotus.path", repo_path, "--lotus.api", &given.api_info()]).await;
    let by_env = start_with_env(
        &["--lotus.path", repo_path],
        &[("FULLNODE_API_INFO", &given.api_info())],
    )
    .await;
    for exporter in [&by_flag, &by_env] {
        assert_eq!(exporter.metrics().await.value("lotus_up"), 1.0);
    }
    let moved = well_lotus().await;
    write_api_file(repo.path(), &moved);
    for (exporter, source) in [(&by_flag, "--lotus.api"), (&by_env, "FULLNODE_API_INFO")] {
        assert_eq!(exporter.metrics().await.value("lotus_up"), 1.0);
        let status = exporter.status().await;
        assert_eq!(status["lotus"]["api_source"], source);
        assert_eq!(
            status["lotus"]["api_address"],
            format!("http://127.0.0.1:{}/rpc/v1", given.port())
        );
    }
    assert_eq!(other.calls("Filecoin.Version"), 0);
    assert_eq!(moved.calls("Filecoin.Version"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_file_is_read_again_when_it_changes() {
    let lotus = well_lotus().await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "not-a-valid-token\n").unwrap();
    let exporter = util::start(&[
        "--lotus.api",
        &lotus.api_info(),
        "--lotus.token-file",
        token.to_str().unwrap(),
    ])
    .await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 0.0, "the node refuses the token (401)");

    std::fs::write(&token, format!("{READ_TOKEN}\n")).unwrap();
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 1.0, "{}", m.text);
    assert_eq!(
        m.value("lotus_token_permissions{permission=\"read\"}"),
        1.0,
        "the new token's permissions are asked for"
    );
    let sent = lotus.auth_headers();
    assert_eq!(
        sent.last().unwrap().as_deref(),
        Some(format!("Bearer {READ_TOKEN}").as_str())
    );
    let text = exporter.get("/status").await.body + &m.text;
    assert!(!text.contains(READ_TOKEN), "the token is never shown");
}

// ---------------------------------------------------------------------------------------------
// Blame the component: a front that says "later" is not a stopped node
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_front_that_rate_limits_or_is_unavailable_is_up_and_named() {
    for (status, words) in [(429, "rate limited"), (503, "unavailable")] {
        let lotus = well_lotus().await;
        // lotus-gateway's per-host limit: 429 with no body (gateway/handler.go).
        lotus.set_default_behavior(Behavior::HttpStatus(status, String::new()));
        let exporter = util::start(&["--lotus.api", &lotus.api_info()]).await;
        for _ in 0..3 {
            let m = exporter.metrics().await;
            assert_eq!(
                m.value("lotus_up"),
                1.0,
                "{status}: the front answers\n{}",
                m.text
            );
            assert_eq!(m.value("lotus_status{state=\"error\"}"), 1.0, "{status}");
            assert_eq!(m.value("lotus_status{state=\"stopped\"}"), 0.0, "{status}");
            assert_eq!(m.value("lotus_health{state=\"degraded\"}"), 1.0, "{status}");
            assert_eq!(m.check_success("lotus_version"), Some(0.0), "{status}");
            assert!(!m.has("lotus_synced"), "nothing measured, nothing made up");
        }
        let status_doc = exporter.status().await;
        let reasons = status_doc["lotus"]["health_reasons"].to_string();
        assert!(
            reasons.contains(words) && reasons.contains(&format!("HTTP {status}")),
            "{reasons}"
        );
        let errors = status_doc["lotus"]["errors"].to_string();
        assert!(errors.contains(words), "{errors}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_front_that_rate_limits_some_calls_leaves_the_rest_measured() {
    let lotus = well_lotus().await;
    lotus.set_behavior(
        "Filecoin.NetPeers",
        Behavior::HttpStatus(429, String::new()),
    );
    let exporter = util::start(&["--lotus.api", &lotus.api_info()]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 1.0);
    assert_eq!(m.value("lotus_status{state=\"running\"}"), 1.0);
    assert_eq!(m.value("lotus_synced"), 1.0);
    assert_eq!(m.check_success("lotus_peers"), Some(0.0));
    let reasons = exporter.status().await["lotus"]["health_reasons"].to_string();
    assert!(
        reasons.contains("rate limited") && reasons.contains("HTTP 429"),
        "{reasons}"
    );
}

/// `check`, `/status`, the page, `lotus_follow_exporter_healthy` and the shipped rules judge a
/// well Lotus with `change` applied, and no follower; the health and the alerts that fire.
async fn judged(case: &str, change: impl FnOnce(&FakeLotus)) -> (String, Vec<String>, Views) {
    let lotus = well_lotus().await;
    change(&lotus);
    let tmp = tempfile::tempdir().unwrap();
    let followers = tmp.path().join("follow");
    std::fs::create_dir_all(&followers).unwrap();
    let args = vec![
        "--lotus.api".to_string(),
        lotus.api_info(),
        "--follow.config-dir".to_string(),
        followers.to_str().unwrap().to_string(),
    ];
    let exporter = agreement::start(tmp.path(), &args).await;
    let views = Views::collect(&exporter).await;
    let alerts = agreement::assert_agrees(case, &views).into_iter().collect();
    let health = views.status["health"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (health, alerts, views)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_front_that_says_later_pages_no_one_for_a_down_lotus_and_the_views_agree() {
    let (health, alerts, views) = judged("all well, no follower", |_| {}).await;
    assert_eq!(health, "healthy", "{}", views.check_output);
    assert_eq!(alerts, Vec::<String>::new());
    for status in [429, 503] {
        let (health, alerts, views) = judged(&format!("front answering {status}"), |lotus| {
            lotus.set_default_behavior(Behavior::HttpStatus(status, String::new()))
        })
        .await;
        assert_eq!(health, "degraded", "{status}: {}", views.check_output);
        assert_eq!(
            alerts,
            ["LotusFollowExporterCheckFailing"],
            "{status}: not LotusDown"
        );
        assert!(views.metrics.contains("\nlotus_up 1\n"), "{status}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_whose_lotus_does_not_answer_is_down_not_stopped() {
    for status in [502, 504] {
        let lotus = well_lotus().await;
        lotus.set_default_behavior(Behavior::HttpStatus(status, nginx_page(status)));
        let exporter = util::start(&["--lotus.api", &lotus.api_info()]).await;
        let m = exporter.metrics().await;
        assert_eq!(
            m.value("lotus_up"),
            0.0,
            "{status}: Lotus behind it did not answer"
        );
        assert_eq!(m.value("lotus_status{state=\"error\"}"), 1.0, "{status}");
    }
}

// ---------------------------------------------------------------------------------------------
// A refusal is not a failure
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_refusing_rpc_v2_makes_finality_fall_back_to_v1() {
    // The case of finality-v2-proxy-refused (403, 405), and its siblings: 404, a 200 page.
    for (status, page) in [
        (403, nginx_page(403)),
        (405, nginx_page(405)),
        (404, nginx_page(404)),
        (200, "<html><body>welcome</body></html>".to_string()),
    ] {
        let lotus = well_lotus().await;
        lotus.state_mut(|s| {
            s.proxy_refusals
                .insert("/rpc/v2".to_string(), (status, page.clone()))
        });
        let exporter = util::start(&["--lotus.api", &format!("{}/rpc/v1", lotus.url())]).await;
        for _ in 0..3 {
            let m = exporter.metrics().await;
            assert_eq!(
                m.check_success("lotus_chain_finality"),
                Some(1.0),
                "{status}\n{}",
                m.text
            );
            assert!(m.has("lotus_chain_finalized_height"), "{status}");
            assert_eq!(m.value("lotus_health{state=\"healthy\"}"), 1.0, "{status}");
        }
        assert_eq!(
            lotus.requests_to("/rpc/v2"),
            1,
            "{status}: learned once per session"
        );
        let status_doc = exporter.status().await;
        assert_eq!(
            status_doc["lotus"]["finality_source"],
            "ChainGetFinalizedTipSet"
        );
    }
    // `check` as a health gate passes.
    let lotus = well_lotus().await;
    lotus.state_mut(|s| {
        s.proxy_refusals
            .insert("/rpc/v2".to_string(), (403, nginx_page(403)))
    });
    let (code, text) = check(vec![
        "--lotus.api".into(),
        format!("{}/rpc/v1", lotus.url()),
    ])
    .await;
    assert!(text.contains("health:   healthy"), "{text}");
    assert!(text.contains("(ChainGetFinalizedTipSet)"), "{text}");
    assert_eq!(code, 0, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_method_said_missing_under_a_wrong_code_is_not_served() {
    let lotus = well_lotus().await;
    for method in F3_METHODS {
        lotus.set_behavior(
            method,
            Behavior::RpcError {
                code: -32700,
                message: format!("the method {method} does not exist/is not available"),
            },
        );
    }
    let exporter = util::start(&["--lotus.api", &lotus.api_info()]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.check_success("lotus_f3"), None, "skipped\n{}", m.text);
    assert!(!m.has("lotus_f3_running"));
    assert_eq!(m.value("lotus_health{state=\"healthy\"}"), 1.0);
    let status = exporter.status().await;
    assert_eq!(status["lotus"]["f3"]["state"], "not served");
    assert_eq!(status["lotus"]["errors"], serde_json::json!([]));

    // A permission error stays a failure whatever words it carries.
    let denied = well_lotus().await;
    denied.set_behavior(
        "Filecoin.F3IsRunning",
        Behavior::RpcError {
            code: 1,
            message:
                "missing permission to invoke 'F3IsRunning' (need 'admin'): method not available"
                    .into(),
        },
    );
    let m = util::start(&["--lotus.api", &denied.api_info()])
        .await
        .metrics()
        .await;
    assert_eq!(m.check_success("lotus_f3"), Some(0.0));
}

// ---------------------------------------------------------------------------------------------
// Use the address as given
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_url_with_a_path_is_used_as_given() {
    let key = "0123456789abcdef0123456789abcdef";
    let keyed = format!("/v1/{key}/rpc");
    for path in ["/filecoin".to_string(), keyed.clone()] {
        let lotus = well_lotus().await;
        lotus.state_mut(|s| s.v1_aliases.push(path.clone()));
        let exporter = util::start(&["--lotus.api", &format!("{}{path}", lotus.url())]).await;
        let m = exporter.metrics().await;
        assert_eq!(m.value("lotus_up"), 1.0, "{path}\n{}", m.text);
        assert_eq!(m.value("lotus_health{state=\"healthy\"}"), 1.0, "{path}");
        assert_eq!(lotus.requests_to(&format!("{path}/rpc/v1")), 0, "{path}");
        // No /rpc/v2 can be derived from such a path: finality comes from v1.
        assert_eq!(lotus.requests_to("/rpc/v2"), 0, "{path}");
        assert_eq!(m.check_success("lotus_chain_finality"), Some(1.0), "{path}");
        let status = exporter.status().await;
        let shown = path.replace(key, "<redacted>");
        assert_eq!(
            status["lotus"]["api_address"],
            format!("{}{shown}", lotus.url()),
            "{path}"
        );
        let everything = format!(
            "{}{}{}",
            m.text,
            exporter.get("/status").await.body,
            exporter.get("/").await.body
        );
        assert!(!everything.contains(key), "{path}: the key is never shown");
    }
    // A bare host gets /rpc/v1.
    let lotus = well_lotus().await;
    let exporter = util::start(&["--lotus.api", &lotus.url()]).await;
    assert_eq!(exporter.metrics().await.value("lotus_up"), 1.0);
    assert!(lotus.requests_to("/rpc/v1") > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_info_names_the_root_and_lotus_adds_the_path() {
    let lotus = well_lotus().await;
    lotus.state_mut(|s| s.v1_aliases.push("/filecoin/rpc/v1".to_string()));
    let root = format!("{}/filecoin", lotus.url());
    let exporter = start_with_env(&[], &[("FULLNODE_API_INFO", &root)]).await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 1.0, "{}", m.text);
    assert!(lotus.requests_to("/filecoin/rpc/v1") > 0);
    assert_eq!(lotus.requests_to("/filecoin"), 0);
    // The v2 path Lotus itself would derive is tried (here the proxy has none: v1 then).
    assert_eq!(lotus.requests_to("/filecoin/rpc/v2"), 1);
    assert_eq!(m.check_success("lotus_chain_finality"), Some(1.0));
    // An API-info URL already ending in /rpc/v1 is used as written (Lotus v1.39+ refuses it).
    let written = start_with_env(
        &[],
        &[("FULLNODE_API_INFO", &format!("{}/rpc/v1", lotus.url()))],
    )
    .await;
    assert_eq!(written.metrics().await.value("lotus_up"), 1.0);
    assert_eq!(
        written.status().await["lotus"]["api_address"],
        format!("{}/rpc/v1", lotus.url())
    );
}

// ---------------------------------------------------------------------------------------------
// Methods not served are remembered per session
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn methods_not_served_are_asked_once_per_session() {
    let lotus = well_lotus().await;
    for method in F3_METHODS {
        lotus.set_behavior(
            method,
            Behavior::RpcError {
                code: -32601,
                message: format!("method '{method}' not found"),
            },
        );
    }
    let exporter = util::start(&["--lotus.api", &lotus.api_info()]).await;
    for _ in 0..3 {
        let m = exporter.metrics().await;
        assert_eq!(m.check_success("lotus_f3"), None, "skipped every scrape");
        assert_eq!(m.value("lotus_health{state=\"healthy\"}"), 1.0);
    }
    for method in F3_METHODS {
        assert_eq!(lotus.calls(method), 1, "{method}: asked once this session");
    }
    // A restart is a new session: asked again, once.
    lotus.restart().await;
    for _ in 0..2 {
        let m = exporter.metrics().await;
        assert_eq!(m.check_success("lotus_f3"), None);
    }
    for method in F3_METHODS {
        assert_eq!(
            lotus.calls(method),
            2,
            "{method}: once more for the new session"
        );
    }
    // ... and a node that now serves them is measured at once.
    lotus.clear_behaviors();
    lotus.restart().await;
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_f3_running"), 1.0, "{}", m.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_without_session_is_not_asked_what_it_lacks_every_scrape() {
    // lotus-gateway serves neither Session, SyncState nor NetPeers.
    let gateway = well_lotus().await;
    for method in [
        "Filecoin.Session",
        "Filecoin.SyncState",
        "Filecoin.NetPeers",
    ] {
        gateway.set_behavior(
            method,
            Behavior::RpcError {
                code: -32601,
                message: format!("method '{method}' not found"),
            },
        );
    }
    let exporter = util::start(&["--lotus.api", &gateway.api_info()]).await;
    for _ in 0..3 {
        let m = exporter.metrics().await;
        assert!(
            m.text.contains("node_type=\"gateway\""),
            "still known for a gateway\n{}",
            m.text
        );
    }
    for method in [
        "Filecoin.Session",
        "Filecoin.SyncState",
        "Filecoin.NetPeers",
    ] {
        assert_eq!(gateway.calls(method), 1, "{method}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_front_says_of_missing_paths_is_not_remembered_of_lotus() {
    // A proxy answering 404 to everything while its upstream restarts says nothing of Lotus.
    let lotus = well_lotus().await;
    lotus.set_default_behavior(Behavior::HttpStatus(404, "404 page not found".into()));
    let exporter = util::start(&["--lotus.api", &lotus.api_info()]).await;
    assert_eq!(exporter.metrics().await.value("lotus_up"), 0.0);
    lotus.clear_behaviors();
    let m = exporter.metrics().await;
    assert_eq!(m.value("lotus_up"), 1.0);
    assert_eq!(m.check_success("lotus_sync_state"), Some(1.0));
    assert_eq!(m.check_success("lotus_f3"), Some(1.0));
    assert_eq!(lotus.calls("Filecoin.SyncState"), 2);
}
