//! The exporter against a real Lotus: a one-node, one-miner devnet from Lotus's own source
//! (`lotus-devnet`, built by `scripts/real-lotus`, named by `REAL_LOTUS_BIN`; the tests fail
//! without it, saying how to get it). Tests that only look share one devnet (F3 on); tests that
//! halt, stop or move it run their own.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use crate::real::lotus::{Devnet, Options, DEVNET_PATIENCE};
use crate::util::{self, Exporter, Metrics};

/// The exporter's flags for a devnet: its repo folder (the `api` file, as LOTUS_PATH), no
/// minimum of peers (a one-node devnet has none), then `extra`.
fn args(devnet: &Devnet, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--lotus.path".to_string(),
        devnet.dir.display().to_string(),
        "--lotus.min-peers".to_string(),
        "0".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

async fn start_exporter(devnet: &Devnet, extra: &[&str]) -> Exporter {
    let args = args(devnet, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    util::start(&args).await
}

/// A token of this level in a file of the devnet's folder, for `--lotus.token-file`.
fn token_file(devnet: &Devnet, level: &str) -> String {
    let path = devnet.dir.join(format!("{level}.token"));
    std::fs::write(&path, devnet.token(level)).expect("token file");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("token file mode");
    path.display().to_string()
}

/// The exporter serving for a devnet with this token file, for [`util::spawn_command_logged`].
fn exporter_command(devnet: &Devnet, token_file: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"));
    command
        .arg("--follow.process-discovery=false")
        .args(args(devnet, &["--lotus.token-file", token_file]))
        .env_clear()
        .env("HOME", std::env::temp_dir().join("lfe-test-empty-home"));
    command
}

/// Scrape until `ready` holds; panics after `patience` with the last scrape and the devnet's log.
async fn scrape_until(
    exporter: &Exporter,
    devnet: &Devnet,
    what: &str,
    patience: Duration,
    ready: impl Fn(&Metrics) -> bool,
) -> Metrics {
    let last = std::sync::Mutex::new(String::new());
    let found = devnet
        .until(what, patience, || async {
            let metrics = exporter.metrics().await;
            if ready(&metrics) {
                Some(metrics)
            } else {
                *last.lock().unwrap() = metrics.text;
                None
            }
        })
        .await;
    drop(last);
    found
}

/// `lotus_follow_exporter_check_success` of every Lotus sub-check in a scrape.
fn lotus_checks(m: &Metrics) -> Vec<(String, f64)> {
    m.text
        .lines()
        .filter(|l| l.starts_with("lotus_follow_exporter_check_success{check=\"lotus_"))
        .filter_map(|l| {
            let check = l.split('"').nth(1)?.to_string();
            let value = l.rsplit_once(' ')?.1.parse().ok()?;
            Some((check, value))
        })
        .collect()
}

/// The one series of `metric` (its labels and value).
fn only_series(m: &Metrics, metric: &str) -> (String, f64) {
    let found: Vec<(String, f64)> = m
        .text
        .lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) || l.starts_with(&format!("{metric} ")))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {metric} series expected in:\n{}",
        m.text
    );
    found.into_iter().next().unwrap()
}

/// Unique peer IDs in a `NetPeers` answer.
fn unique_peers(peers: &Value) -> usize {
    peers
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|p| p["ID"].as_str())
                .collect::<BTreeSet<_>>()
                .len()
        })
        .unwrap_or(0)
}

/// Run the exporter binary's `check` with these flags: (exit code, stdout).
async fn check_command(args: &[String]) -> (i32, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"));
    command
        .arg("check")
        .arg("--follow.process-discovery=false")
        .args(args)
        .env_clear()
        .env("HOME", std::env::temp_dir().join("lfe-test-empty-home"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("check finishes")
        .expect("the exporter binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy() {
    let devnet = Devnet::shared().await;
    let exporter = start_exporter(devnet, &[]).await;

    // The chain grows.
    let first = devnet.head_height().await;
    devnet
        .until("the chain to grow", DEVNET_PATIENCE, || async {
            (devnet.head_height().await > first).then_some(())
        })
        .await;

    // One scrape between two ChainHead calls and two readings of the clock, retried until the
    // peer count holds still across it (NetPeers may change while the node connects).
    let (m, before, after, expected_before, expected_after, peers) = devnet
        .until("a scrape the node agrees with", DEVNET_PATIENCE, || async {
            let peers_before = devnet.result("Filecoin.NetPeers", json!([])).await;
            let expected_before = devnet.expected_height();
            let before = devnet.head_height().await;
            let m = exporter.metrics().await;
            let after = devnet.head_height().await;
            let expected_after = devnet.expected_height();
            let peers_after = devnet.result("Filecoin.NetPeers", json!([])).await;
            (unique_peers(&peers_before) == unique_peers(&peers_after)
                && m.get("lotus_up") == Some(1.0))
            .then(|| {
                (
                    m,
                    before,
                    after,
                    expected_before,
                    expected_after,
                    unique_peers(&peers_after),
                )
            })
        })
        .await;

    assert_eq!(m.value("lotus_up"), 1.0, "{}", m.text);
    assert_eq!(m.value("lotus_synced"), 1.0, "{}", m.text);
    let height = m.value("lotus_chain_height") as u64;
    assert!(
        (before..=after).contains(&height),
        "lotus_chain_height {height} is not ChainHead's {before}..={after} around the scrape"
    );
    let expected = m.value("lotus_chain_expected_height") as u64;
    assert!(
        (expected_before..=expected_after).contains(&expected),
        "lotus_chain_expected_height {expected}, but the devnet's genesis {} and block delay {} give {expected_before}..={expected_after}",
        devnet.genesis_timestamp(),
        devnet.block_delay()
    );
    assert_eq!(
        m.value("lotus_block_delay_seconds"),
        devnet.block_delay() as f64
    );
    assert_eq!(
        m.value("lotus_peers"),
        peers as f64,
        "lotus_peers is NetPeers' unique IDs"
    );

    // Network and node type as the node says: the chain's name (StateNetworkName), not the
    // build type in Version; a full node serves SyncState and NetPeers: "chain".
    let network = devnet.result("Filecoin.StateNetworkName", json!([])).await;
    let version = devnet.result("Filecoin.Version", json!([])).await;
    let full_version = version["Version"].as_str().expect("Version");
    let release = full_version.split('+').next().unwrap_or_default();
    let (info, value) = only_series(&m, "lotus_node_info");
    assert_eq!(value, 1.0);
    assert!(
        info.contains(&format!("network={network}")),
        "lotus_node_info must carry the chain's network name {network} (Version says {full_version}): {info}"
    );
    assert!(info.contains(&format!("version=\"{release}\"")), "{info}");
    assert!(info.contains("node_type=\"chain\""), "{info}");

    // No Lotus check fails; the status says healthy.
    let failed: Vec<_> = lotus_checks(&m)
        .into_iter()
        .filter(|(_, v)| *v != 1.0)
        .collect();
    assert!(
        failed.is_empty(),
        "failed Lotus checks {failed:?}:\n{}",
        m.text
    );
    assert_eq!(m.value("lotus_status{state=\"running\"}"), 1.0);

    // The next scheduled upgrade as the node's own ForkUpgradeParams say (Lotus's 2k build
    // schedules one a few hundred epochs in: a young devnet is genuinely days or minutes from
    // it), and the verdict: healthy, or degraded by that upgrade alone when it is under 72 h.
    let params = devnet
        .result("Filecoin.StateGetNetworkParams", json!([]))
        .await;
    let next = params["ForkUpgradeParams"]
        .as_object()
        .expect("ForkUpgradeParams")
        .iter()
        .filter_map(|(name, epoch)| {
            let epoch = epoch.as_i64()?;
            let upgrade = name.strip_prefix("Upgrade")?.strip_suffix("Height")?;
            (epoch > height as i64 && epoch < 9_000_000_000).then(|| (epoch, upgrade.to_string()))
        })
        .min();
    let status = exporter.status().await;
    match next {
        Some((epoch, upgrade)) => {
            assert_eq!(
                m.value(&format!(
                    "lotus_upgrade_next_epoch{{upgrade=\"{upgrade}\"}}"
                )),
                epoch as f64,
                "{}",
                m.text
            );
            let seconds = m.value(&format!(
                "lotus_upgrade_next_seconds{{upgrade=\"{upgrade}\"}}"
            ));
            let reasons = status["lotus"]["health_reasons"].clone();
            if seconds < 72.0 * 3600.0 {
                assert_eq!(
                    status["lotus"]["health"], "degraded",
                    "{:#}",
                    status["lotus"]
                );
                let reasons = reasons.as_array().expect("health_reasons");
                assert_eq!(reasons.len(), 1, "{reasons:?}");
                let reason = reasons[0].as_str().unwrap_or_default();
                assert!(
                    reason.contains(&format!("network upgrade {upgrade} at epoch {epoch}"))
                        && reason.contains(release),
                    "{reason}"
                );
            } else {
                assert_eq!(
                    status["lotus"]["health"], "healthy",
                    "{:#}",
                    status["lotus"]
                );
            }
        }
        None => {
            assert!(!m.has("lotus_upgrade_next_seconds"), "{}", m.text);
            assert_eq!(
                status["lotus"]["health"], "healthy",
                "{:#}",
                status["lotus"]
            );
        }
    }
    util::promtool_check_metrics(&m.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f3() {
    let devnet = Devnet::shared().await;
    let exporter = start_exporter(devnet, &[]).await;

    // Running, with a certificate, then a later instance.
    let first = scrape_until(
        &exporter,
        devnet,
        "F3 to run and certify",
        DEVNET_PATIENCE,
        |m| m.get("lotus_f3_running") == Some(1.0) && m.get("lotus_f3_latest_instance").is_some(),
    )
    .await;
    let instance = first.value("lotus_f3_latest_instance");
    let later = scrape_until(
        &exporter,
        devnet,
        "the F3 instance to rise",
        DEVNET_PATIENCE,
        |m| {
            m.get("lotus_f3_latest_instance")
                .is_some_and(|i| i > instance)
        },
    )
    .await;

    // Finality lag as the certificates say: the latest certificate's last ECChain epoch, and the
    // head around the scrape.
    let (m, cert, head_before, head_after) = devnet
        .until(
            "a scrape between two equal certificates",
            DEVNET_PATIENCE,
            || async {
                let cert = devnet
                    .result("Filecoin.F3GetLatestCertificate", json!([]))
                    .await;
                let head_before = devnet.head_height().await;
                let m = exporter.metrics().await;
                let head_after = devnet.head_height().await;
                let again = devnet
                    .result("Filecoin.F3GetLatestCertificate", json!([]))
                    .await;
                (cert["GPBFTInstance"] == again["GPBFTInstance"]).then_some((
                    m,
                    cert,
                    head_before,
                    head_after,
                ))
            },
        )
        .await;
    let finalized = cert["ECChain"]
        .as_array()
        .and_then(|chain| chain.last())
        .and_then(|last| last["Epoch"].as_i64())
        .unwrap_or_else(|| panic!("no ECChain in {cert:#}"));
    assert_eq!(
        m.value("lotus_f3_latest_instance"),
        cert["GPBFTInstance"].as_f64().unwrap()
    );
    assert_eq!(m.value("lotus_f3_finalized_height"), finalized as f64);
    let lag = m.value("lotus_f3_finality_lag_epochs") as i64;
    assert!(
        (head_before as i64 - finalized..=head_after as i64 - finalized).contains(&lag),
        "F3 lag {lag}: head {head_before}..={head_after}, finalized {finalized}"
    );
    assert!(later.value("lotus_f3_latest_instance") > instance);

    // The v2 finality status from the real endpoint.
    let admin = devnet.token("admin");
    let (code, v2) = devnet
        .call(
            "/rpc/v2",
            "Filecoin.ChainGetTipSetFinalityStatus",
            json!([]),
            Some(&admin),
        )
        .await;
    assert_eq!(code, 200, "{v2}");
    let status = &v2["result"];
    assert!(status.is_object(), "ChainGetTipSetFinalityStatus: {v2:#}");
    let v2_finalized = status["finalizedTipSet"]["Height"].as_u64();
    assert!(v2_finalized.is_some(), "finalizedTipSet in {status:#}");
    let chain_finalized = m.value("lotus_chain_finalized_height") as u64;
    let v2_finalized = v2_finalized.unwrap();
    // Below epoch 905 Lotus's EC calculator cannot walk its window back from the head (it
    // reaches genesis) and the node answers -1 all the same: not a degraded chain, so the
    // exporter leaves the depth unknown (no series, no degraded health).
    let v2_head = status["head"]["Height"]
        .as_u64()
        .expect("head in the v2 status");
    assert!(v2_head < 905, "a test devnet is younger than the EC window");
    assert_eq!(status["ecFinalityThresholdDepth"], -1, "{status:#}");
    assert!(status["ecFinalizedTipSet"].is_null(), "{status:#}");
    assert_eq!(
        m.get("lotus_ec_finality_threshold_depth"),
        None,
        "{}",
        m.text
    );
    assert!(
        chain_finalized.abs_diff(v2_finalized) <= 3,
        "lotus_chain_finalized_height {chain_finalized}, the v2 endpoint said {v2_finalized} a moment later"
    );

    // `check` shows it.
    let (_, text) = check_command(&args(devnet, &[])).await;
    assert!(
        text.contains("F3 running, instance "),
        "check's report:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halted() {
    let devnet = Devnet::start(Options {
        f3: true,
        as_lotus_daemon: false,
    })
    .await;
    let exporter = start_exporter(&devnet, &["--lotus.sync-lag-threshold", "3"]).await;
    // Healthy first, with F3 certifying.
    let healthy = scrape_until(
        &exporter,
        &devnet,
        "a synced devnet with F3 certificates",
        DEVNET_PATIENCE,
        |m| m.get("lotus_synced") == Some(1.0) && m.get("lotus_f3_latest_instance").is_some(),
    )
    .await;
    assert_eq!(healthy.value("lotus_up"), 1.0);

    devnet.halt(true);
    let halted_at = devnet.head_height().await;
    // The lag grows while the API answers; lotus_synced turns 0 with the reason.
    let m = scrape_until(&exporter, &devnet, "lotus_synced 0", DEVNET_PATIENCE, |m| {
        m.get("lotus_synced") == Some(0.0)
    })
    .await;
    assert_eq!(m.value("lotus_up"), 1.0, "the API still answers");
    assert_eq!(
        m.value("lotus_chain_height") as u64,
        devnet.head_height().await
    );
    let lag = m.value("lotus_chain_sync_lag_epochs");
    assert!(lag >= 3.0, "{}", m.text);
    let status = exporter.status().await;
    assert_eq!(
        status["lotus"]["sync_status"], "syncing",
        "{:#}",
        status["lotus"]
    );
    let reasons = status["lotus"].to_string();
    assert!(
        reasons.contains("behind"),
        "the reason names the lag: {reasons}"
    );
    let later = scrape_until(
        &exporter,
        &devnet,
        "the lag to grow",
        DEVNET_PATIENCE,
        |m| {
            m.get("lotus_chain_sync_lag_epochs")
                .is_some_and(|l| l > lag)
        },
    )
    .await;
    assert!(
        devnet.head_height().await <= halted_at + 1,
        "the chain stopped"
    );

    // F3 on the halted chain: the series the stall alerts read, held as they now are, meet the
    // alerts' conditions (promtool, over the rules file).
    let steady = scrape_until(
        &exporter,
        &devnet,
        "F3 to settle on the halted chain",
        DEVNET_PATIENCE,
        |m| m.get("lotus_f3_latest_instance").is_some(),
    )
    .await;
    alerts_hold_on(&steady, &later);
}

/// Write a promtool test that holds the halted devnet's captured series for 30 minutes and
/// expects LotusChainHeightStalled and LotusF3Stalled to fire; run it.
fn alerts_hold_on(steady: &Metrics, later: &Metrics) {
    let Some(promtool) = util::find_on_path("promtool") else {
        panic!("promtool is missing: install Debian's prometheus package (scripts/test does)");
    };
    let series = [
        "lotus_up",
        "lotus_chain_height",
        "lotus_synced",
        "lotus_f3_running",
        "lotus_f3_latest_instance",
        "lotus_f3_finality_lag_epochs",
        "lotus_f3_finality_lag_max_epochs",
        "lotus_f3_bootstrap_epoch",
    ];
    let mut input = String::new();
    for name in series {
        let value = steady.get(name).or_else(|| later.get(name));
        let Some(value) = value else { continue };
        input.push_str(&format!(
            "      - series: '{name}{{instance=\"devnet\",job=\"lotus\"}}'\n        values: '{value}x30'\n"
        ));
    }
    let rules =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/lotus-follow-exporter.rules.yml");
    // The firing alerts by name (ALERTS), so the test needs neither their severities nor their
    // annotations.
    let test = format!(
        "rule_files:\n  - {rules}\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{input}    promql_expr_test:\n      - expr: count by (alertname) (ALERTS{{alertstate=\"firing\", alertname=~\"LotusChainHeightStalled|LotusF3Stalled\"}})\n        eval_time: 30m\n        exp_samples:\n          - labels: '{{alertname=\"LotusChainHeightStalled\"}}'\n            value: 1\n          - labels: '{{alertname=\"LotusF3Stalled\"}}'\n            value: 1\n",
        rules = rules.display()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("halted.yml");
    std::fs::write(&file, &test).expect("promtool test file");
    let output = std::process::Command::new(promtool)
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .expect("promtool runs");
    assert!(
        output.status.success(),
        "the stall alerts do not fire on the halted devnet's series:\n{test}\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens() {
    let devnet = Devnet::shared().await;
    let info = devnet.info();
    let wallet = info["wallet"]["address"]
        .as_str()
        .expect("wallet")
        .to_string();
    let balance = info["wallet"]["balance_attofil"]
        .as_str()
        .expect("balance")
        .to_string();

    // What the node itself says of each token.
    let (code, body) = devnet
        .call("/rpc/v1", "Filecoin.WalletList", json!([]), None)
        .await;
    assert_eq!(code, 200, "{body}");
    let denied = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        denied.contains("missing permission"),
        "WalletList without a token: {body}"
    );
    let (code, body) = devnet
        .call("/rpc/v1", "Filecoin.Version", json!([]), Some("not.a.jwt"))
        .await;
    assert_eq!(code, 401, "a wrong token: {body}");

    // No token: read access; wallet listing skipped; a named wallet's balance is read.
    let exporter_none =
        start_exporter(devnet, &["--lotus.wallet", &format!("{wallet}=genesis")]).await;
    let m = scrape_until(&exporter_none, devnet, "lotus_up", DEVNET_PATIENCE, |m| {
        m.get("lotus_up") == Some(1.0)
    })
    .await;
    let status = exporter_none.status().await;
    let wallets = status["lotus"]["wallets"].to_string();
    assert!(
        wallets.contains(&balance),
        "the genesis wallet's exact attoFIL {balance}: {wallets}"
    );
    assert_eq!(m.check_success("lotus_wallets"), Some(1.0), "{}", m.text);
    // Its nonces with read access: MpoolGetNonce and StateGetActor both answer; the gap is at
    // most the one message the head itself may hold (the devnet's miner sends from its worker).
    assert_eq!(
        m.check_success("lotus_wallet_nonces"),
        Some(1.0),
        "{}",
        m.text
    );
    let gap = m.value(&format!(
        "lotus_wallet_nonce_gap{{address=\"{wallet}\",alias=\"genesis\"}}"
    ));
    assert!((0.0..=1.0).contains(&gap), "nonce gap {gap}:\n{}", m.text);

    // A read token: wallets not listed (WalletList needs write): skipped, not failed, and the
    // log says why (a skipped check has no series and no place in /status).
    let read = token_file(devnet, "read");
    let (mut exporter_read, read_log) =
        util::spawn_command_logged(exporter_command(devnet, &read)).await;
    let m = scrape_until(&exporter_read, devnet, "lotus_up", DEVNET_PATIENCE, |m| {
        m.get("lotus_up") == Some(1.0)
    })
    .await;
    assert_eq!(
        m.value("lotus_token_permissions{permission=\"read\"}"),
        1.0,
        "{}",
        m.text
    );
    assert_eq!(
        m.value("lotus_token_permissions{permission=\"write\"}"),
        0.0
    );
    assert_eq!(
        m.check_success("lotus_wallets"),
        None,
        "skipped, not failed:\n{}",
        m.text
    );
    exporter_read.kill().await;
    let log = read_log.await.expect("the exporter's log");
    assert!(
        log.contains("cannot list wallets (WalletList needs write)"),
        "the skip says why:\n{log}"
    );

    // A write token lists the node's wallets, the genesis wallet among them, exact.
    let write = token_file(devnet, "write");
    let exporter_write = start_exporter(devnet, &["--lotus.token-file", &write]).await;
    let m = scrape_until(
        &exporter_write,
        devnet,
        "the wallets listed",
        DEVNET_PATIENCE,
        |m| m.check_success("lotus_wallets") == Some(1.0),
    )
    .await;
    assert!(
        m.text.contains(&format!("address=\"{wallet}\"")),
        "{}",
        m.text
    );
    let status = exporter_write.status().await;
    assert!(status["lotus"]["wallets"].to_string().contains(&balance));

    // An admin token works, and the exporter warns that it can do too much.
    let admin = token_file(devnet, "admin");
    let (mut spawned, log) = util::spawn_command_logged(exporter_command(devnet, &admin)).await;
    let m = scrape_until(&spawned, devnet, "lotus_up", DEVNET_PATIENCE, |m| {
        m.get("lotus_up") == Some(1.0)
    })
    .await;
    assert_eq!(
        m.value("lotus_token_permissions{permission=\"admin\"}"),
        1.0
    );
    spawned.kill().await;
    let log = log.await.expect("the exporter's log");
    assert!(
        log.contains("admin permission"),
        "the admin warning:\n{log}"
    );

    // A wrong token: 401, said as such; nothing measured.
    let wrong = devnet.dir.join("wrong.token");
    std::fs::write(&wrong, "eyJhbGciOiJIUzI1NiJ9.e30.wrong").expect("wrong token");
    let wrong = wrong.display().to_string();
    let exporter_wrong = start_exporter(devnet, &["--lotus.token-file", &wrong]).await;
    let m = exporter_wrong.metrics().await;
    assert_eq!(m.get("lotus_chain_height"), None, "{}", m.text);
    let status = exporter_wrong.status().await;
    assert!(
        status["lotus"].to_string().contains("HTTP 401"),
        "{:#}",
        status["lotus"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped() {
    // Clean stop. Only this test runs its devnet as `lotus daemon`.
    let devnet = Devnet::start(Options {
        f3: false,
        as_lotus_daemon: true,
    })
    .await;
    let exporter = start_exporter(&devnet, &[]).await;
    let m = scrape_until(&exporter, &devnet, "lotus_up 1", DEVNET_PATIENCE, |m| {
        m.get("lotus_up") == Some(1.0)
    })
    .await;
    assert_eq!(m.value("lotus_status{state=\"running\"}"), 1.0);
    assert_eq!(only_series(&m, "lotus_daemon_running").1, 1.0, "{}", m.text);

    // The API gone from the port the exporter reads while the daemon still runs: an error, not
    // "stopped" (the api file is left behind at the old port: read once through --lotus.api).
    let old = format!("/ip4/127.0.0.1/tcp/{}/http", devnet.port());
    let pinned = util::start(&["--lotus.api", &old, "--lotus.min-peers", "0"]).await;
    devnet.restart_api().await;
    let m = scrape_until(&pinned, &devnet, "lotus_up 0", DEVNET_PATIENCE, |m| {
        m.get("lotus_up") == Some(0.0)
    })
    .await;
    assert_eq!(
        m.value("lotus_status{state=\"stopped\"}"),
        0.0,
        "a daemon runs: not stopped\n{}",
        m.text
    );
    assert_eq!(m.value("lotus_status{state=\"error\"}"), 1.0, "{}", m.text);

    let status = devnet.daemon.stop().await;
    assert!(
        status.success(),
        "the devnet stopped cleanly on SIGTERM: {status}\n{}",
        devnet.logs()
    );
    let m = scrape_until(
        &exporter,
        &devnet,
        "lotus_status stopped",
        DEVNET_PATIENCE,
        |m| m.get("lotus_status{state=\"stopped\"}") == Some(1.0),
    )
    .await;
    assert_eq!(m.value("lotus_up"), 0.0);
    assert_eq!(only_series(&m, "lotus_daemon_running").1, 0.0);
    assert!(
        !devnet.dir.join("api").exists(),
        "a clean stop removes the api file, as Lotus's repo does"
    );

    // Killed: the api file stays behind; stopped all the same once no daemon is seen.
    let killed = Devnet::start(Options {
        f3: false,
        as_lotus_daemon: true,
    })
    .await;
    let exporter = start_exporter(&killed, &[]).await;
    scrape_until(&exporter, &killed, "lotus_up 1", DEVNET_PATIENCE, |m| {
        m.get("lotus_up") == Some(1.0)
    })
    .await;
    killed.daemon.kill();
    assert!(
        killed.dir.join("api").exists(),
        "a killed daemon leaves its api file"
    );
    let m = scrape_until(
        &exporter,
        &killed,
        "lotus_status stopped",
        DEVNET_PATIENCE,
        |m| m.get("lotus_status{state=\"stopped\"}") == Some(1.0),
    )
    .await;
    assert_eq!(m.value("lotus_up"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart() {
    let devnet = Devnet::start(Options {
        f3: false,
        as_lotus_daemon: false,
    })
    .await;
    let exporter = start_exporter(&devnet, &[]).await;
    let m = scrape_until(&exporter, &devnet, "lotus_up 1", DEVNET_PATIENCE, |m| {
        m.get("lotus_up") == Some(1.0)
    })
    .await;
    let old_port = devnet.port();
    assert!(m.value("lotus_chain_height") >= 0.0);

    let new_port = devnet.restart_api().await;
    assert_ne!(new_port, old_port, "the API moved to a new port");
    let api = std::fs::read_to_string(devnet.dir.join("api")).expect("the api file");
    assert!(
        api.contains(&format!("/tcp/{new_port}/")),
        "the api file names the new port: {api}"
    );
    // The exporter follows the api file: the very next scrape reads the new port.
    let m = exporter.metrics().await;
    assert_eq!(
        m.value("lotus_up"),
        1.0,
        "the first scrape after the move\n{}",
        m.text
    );
    assert_eq!(m.value("lotus_synced"), 1.0, "{}", m.text);
    let status = exporter.status().await;
    assert!(
        status["lotus"].to_string().contains(&new_port.to_string()),
        "/status names the new address: {:#}",
        status["lotus"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints() {
    let devnet = Devnet::shared().await;
    let exporter = start_exporter(devnet, &[]).await;
    // livez: healthy once the node has seen a head change.
    devnet
        .until("/health/livez 200", DEVNET_PATIENCE, || async {
            (devnet.get_status("/health/livez").await == Some(200)).then_some(())
        })
        .await;
    // readyz, fetched beside a scrape at each of a few new heads: Lotus judges it once a
    // minute, from NodeStatus (Behind < 5, in 30 s units whatever the block delay) and AutoNAT
    // reachability. A loopback devnet's reachability stays unknown, so readyz stays 503 while
    // our lotus_synced says 1: the README says when and why the two differ.
    let mut seen = Vec::new();
    let mut height = devnet.head_height().await;
    for _ in 0..3 {
        height = devnet
            .until("a new head", DEVNET_PATIENCE, || async {
                let now = devnet.head_height().await;
                (now > height).then_some(now)
            })
            .await;
        let ready = devnet.get_status("/health/readyz").await;
        let m = exporter.metrics().await;
        let live = devnet.get_status("/health/livez").await;
        seen.push((ready, m.get("lotus_synced"), live));
    }
    for (ready, synced, live) in &seen {
        assert_eq!(*live, Some(200), "{seen:?}");
        assert_eq!(*synced, Some(1.0), "{seen:?}");
        assert_eq!(
            *ready,
            Some(503),
            "readyz on a loopback devnet (see the README): {seen:?}"
        );
    }
    let (code, body) = devnet
        .call("/rpc/v1", "Filecoin.NetAutoNatStatus", json!([]), None)
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["result"]["Reachability"], 0,
        "AutoNAT unknown on loopback: {body}"
    );
}
