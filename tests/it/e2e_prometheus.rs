//! End to end through the real programs: fake Lotus and followers → the exporter binary → a real
//! Prometheus with our rules → a real Alertmanager with our inhibitions → a webhook in this test.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::e2e::{encode, poll, require_program, Api, Daemon, Webhook};
use crate::fakes::cluster::{self, ClusterState, FakeServer};
use crate::fakes::kubo::{FakeKubo, Mode};
use crate::fakes::lotus::FakeLotus;
use crate::{dashboard, util};

/// The whole scenario must finish well inside the two minutes the issue allows.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(110);
/// How long one awaited event may take (a few scrape and evaluation rounds of 1 s).
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The scrape job name; the recording rule lotus_follow_exporter:up matches it.
const JOB: &str = "lotus-follow";
/// `for:` of the alerts other alerts inhibit, in the test copy of the rules.
const SOURCE_FOR: &str = "1s";
/// `for:` of every other alert: later than their inhibitors, so Alertmanager already holds the
/// inhibiting alert when the inhibited one arrives (the real rules leave that to group_wait).
const OTHER_FOR: &str = "3s";
/// Alerts that appear as `source_matchers` in examples/alertmanager.yml.
const INHIBITION_SOURCES: [&str; 4] = [
    "LotusDown",
    "LotusChainHeightStalled",
    "ClusterFollowUnreachable",
    "ClusterFollowNotRunning",
];

/// A follower the exporter finds by itself: a socket under `~/.ipfs-cluster-follow/<name>/`.
const SOCKET_FOLLOWER: &str = "e2e-socket";
/// A follower named with `--follow.api NAME=/ip4/127.0.0.1/tcp/PORT`.
const TCP_FOLLOWER: &str = "e2e-tcp";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alerts_and_dashboard_work_through_real_prometheus_and_alertmanager() {
    let prometheus = require_program("prometheus");
    let alertmanager = require_program("prometheus-alertmanager");
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut stack = Stack::start(dir.path(), &prometheus, &alertmanager).await;
    tokio::time::timeout(SCENARIO_TIMEOUT, scenario(&mut stack))
        .await
        .expect("the end-to-end scenario finishes within its time budget");
    eprintln!("end-to-end scenario took {:?}", started.elapsed());
}

async fn scenario(stack: &mut Stack) {
    target_is_up_and_metrics_are_clean(stack).await;
    every_dashboard_query_returns_series(stack).await;
    lotus_down_fires_notifies_and_inhibits(stack).await;
    lotus_back_resolves(stack).await;
    stack.assert_daemons_running();
}

// ---------------------------------------------------------------------------------------------
// The stack
// ---------------------------------------------------------------------------------------------

/// Everything the scenario talks to; dropping it kills the daemons and stops the fakes.
struct Stack {
    lotus: FakeLotus,
    followers: Vec<Follower>,
    /// A Kubo named by `--kubo.api`, for the dashboard's Kubo row.
    kubo: FakeKubo,
    webhook: Webhook,
    exporter: Api,
    prometheus: Api,
    alertmanager: Api,
    /// The exporter's `instance` label in Prometheus.
    target: String,
    daemons: Vec<Daemon>,
}

impl Stack {
    async fn start(dir: &Path, prometheus: &Path, alertmanager: &Path) -> Stack {
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("create HOME");
        let lotus = FakeLotus::start().await;
        // An upgrade scheduled a week ahead (20,000 epochs of 30 s), beyond LotusUpgradeSoon's
        // 72 hours: the dashboard's upgrade panels have their series and nothing fires.
        let head = lotus.state().head_height;
        lotus.state_mut(|s| s.schedule_upgrade("UpgradeXxHeight", head + 20_000));
        let followers = start_followers(&home).await;
        let kubo = FakeKubo::start(Mode::Up).await;
        let webhook = Webhook::start().await;
        let (exporter, prometheus_api, alertmanager_api) = (
            Api {
                port: util::free_tcp_port(),
            },
            Api {
                port: util::free_tcp_port(),
            },
            Api {
                port: util::free_tcp_port(),
            },
        );
        let target = format!("127.0.0.1:{}", exporter.port);
        let mut stack = Stack {
            lotus,
            followers,
            kubo,
            webhook,
            exporter,
            prometheus: prometheus_api,
            alertmanager: alertmanager_api,
            target,
            daemons: Vec::new(),
        };
        stack.spawn_alertmanager(dir, alertmanager);
        stack.spawn_exporter(dir, &home);
        stack.spawn_prometheus(dir, prometheus);
        stack.wait_ready().await;
        stack
    }

    fn spawn_exporter(&mut self, dir: &Path, home: &Path) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .args(["--web.listen-address", &self.target])
            .args(["--lotus.api", &self.lotus.api_info()])
            .args(["--kubo.api", &self.kubo.multiaddr()]);
        for (i, address) in self.lotus.state().wallet_list.iter().enumerate() {
            command.args(["--lotus.wallet", &format!("{address}=wallet{i}")]);
        }
        for follower in &self.followers {
            if let Some(api) = &follower.flag {
                command.args(["--follow.api", &format!("{}={api}", follower.name)]);
            }
        }
        self.daemons
            .push(Daemon::spawn("lotus-follow-exporter", command, dir));
    }

    fn spawn_prometheus(&mut self, dir: &Path, program: &Path) {
        let config_dir = dir.join("prometheus");
        std::fs::create_dir_all(&config_dir).expect("create prometheus dir");
        std::fs::write(config_dir.join("rules.yml"), rules_for_test()).expect("write rules");
        let config = prometheus_config(&self.target, self.alertmanager.port);
        std::fs::write(config_dir.join("prometheus.yml"), config).expect("write config");
        let mut command = Command::new(program);
        command
            .arg(format!(
                "--config.file={}",
                config_dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                config_dir.join("data").display()
            ))
            .arg(format!(
                "--web.listen-address=127.0.0.1:{}",
                self.prometheus.port
            ));
        self.daemons.push(Daemon::spawn("prometheus", command, dir));
    }

    fn spawn_alertmanager(&mut self, dir: &Path, program: &Path) {
        let config_dir = dir.join("alertmanager");
        std::fs::create_dir_all(&config_dir).expect("create alertmanager dir");
        let config = alertmanager_config(&format!("http://{}/", self.webhook.addr));
        std::fs::write(config_dir.join("alertmanager.yml"), config).expect("write config");
        let mut command = Command::new(program);
        command
            .arg(format!(
                "--config.file={}",
                config_dir.join("alertmanager.yml").display()
            ))
            .arg(format!(
                "--storage.path={}",
                config_dir.join("data").display()
            ))
            .arg(format!(
                "--web.listen-address=127.0.0.1:{}",
                self.alertmanager.port
            ))
            .arg("--cluster.listen-address=");
        self.daemons
            .push(Daemon::spawn("alertmanager", command, dir));
    }

    async fn wait_ready(&mut self) {
        let apis = [
            ("the exporter's /healthz", self.exporter, "/healthz"),
            ("Prometheus /-/ready", self.prometheus, "/-/ready"),
            ("Alertmanager /-/ready", self.alertmanager, "/-/ready"),
        ];
        for (what, api, path) in apis {
            let ready = tokio::time::timeout(EVENT_TIMEOUT, async {
                while api.get_text(path).await.is_none() {
                    self.assert_daemons_running();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
            .await;
            assert!(
                ready.is_ok(),
                "{what} did not answer within {EVENT_TIMEOUT:?}"
            );
        }
    }

    fn assert_daemons_running(&mut self) {
        for daemon in &mut self.daemons {
            daemon.assert_running();
        }
    }
}

/// A fake follower and how the exporter learns of it.
struct Follower {
    name: String,
    /// The `--follow.api` multiaddr, or `None` when discovery finds its socket.
    flag: Option<String>,
    _server: FakeServer,
}

/// One follower on a unix socket where discovery looks, one on TCP given by flag.
async fn start_followers(home: &Path) -> Vec<Follower> {
    let folder = home.join(".ipfs-cluster-follow").join(SOCKET_FOLLOWER);
    std::fs::create_dir_all(&folder).expect("create follower folder");
    let on_socket = cluster::serve_unix(&folder.join("api-socket"), ClusterState::default()).await;
    let (on_tcp, port) = cluster::serve_tcp(ClusterState::default()).await;
    vec![
        Follower {
            name: SOCKET_FOLLOWER.to_string(),
            flag: None,
            _server: on_socket,
        },
        Follower {
            name: TCP_FOLLOWER.to_string(),
            flag: Some(format!("/ip4/127.0.0.1/tcp/{port}")),
            _server: on_tcp,
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// Configuration of the real programs
// ---------------------------------------------------------------------------------------------

/// Our rule file with every `for:` shortened: inhibition sources first, the rest later.
fn rules_for_test() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/alerts/lotus-follow-exporter.rules.yml"
    );
    let rules = std::fs::read_to_string(path).expect("read the rule file");
    let mut alert = "";
    let mut out = String::new();
    for line in rules.lines() {
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("- alert: ") {
            alert = name.trim();
        }
        if trimmed.starts_with("for: ") {
            let indent = &line[..line.len() - trimmed.len()];
            let wait = if INHIBITION_SOURCES.contains(&alert) {
                SOURCE_FOR
            } else {
                OTHER_FOR
            };
            out += &format!("{indent}for: {wait}\n");
        } else {
            out += line;
            out.push('\n');
        }
    }
    out
}

fn prometheus_config(target: &str, alertmanager_port: u16) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files: [rules.yml]\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{alertmanager_port}']\n\
         scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['{target}']\n"
    )
}

/// A route that notifies the webhook within a second, plus the `inhibit_rules` of
/// examples/alertmanager.yml (the last section of that file) as they are.
fn alertmanager_config(webhook_url: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/alertmanager.yml");
    let example = std::fs::read_to_string(path).expect("read examples/alertmanager.yml");
    let at = example
        .find("\ninhibit_rules:")
        .expect("examples/alertmanager.yml has a top-level inhibit_rules section");
    format!(
        "route:\n  receiver: webhook\n  group_by: ['...']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1s\n\
         receivers:\n  - name: webhook\n    webhook_configs:\n      - url: {webhook_url}\n        send_resolved: true\n{}",
        &example[at..]
    )
}

// ---------------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------------

/// (1) Prometheus scrapes the exporter, and the text it scrapes passes `promtool check metrics`.
async fn target_is_up_and_metrics_are_clean(stack: &Stack) {
    let prometheus = stack.prometheus;
    let target = stack.target.clone();
    poll(
        "the exporter target to be up in Prometheus",
        EVENT_TIMEOUT,
        || target_health(prometheus, target.clone()),
    )
    .await;
    let text = stack
        .exporter
        .get_text("/metrics")
        .await
        .expect("the exporter serves /metrics");
    util::promtool_check_metrics(&text);
}

async fn target_health(prometheus: Api, target: String) -> Option<()> {
    let targets = prometheus.get_json("/api/v1/targets").await?;
    let ours = dashboard::array(&targets["data"]["activeTargets"])
        .iter()
        .find(|t| t["labels"]["instance"] == target.as_str())?;
    (ours["health"] == "up").then_some(())
}

/// (2) Every query of the Grafana dashboard (and the series its variables list), variables
/// substituted, returns at least one series.
async fn every_dashboard_query_returns_series(stack: &Stack) {
    let board = dashboard::load();
    // A follower's panels are checked once per follower, with its real name: a query that lost
    // its cluster_name label (or matched it wrongly) returns nothing and fails here.
    let mut waiting: Vec<(String, String)> = dashboard::queries(&board)
        .into_iter()
        .chain(dashboard::variable_selectors(&board))
        .flat_map(|(title, expr)| {
            let names: Vec<&str> = if expr.contains("$cluster_name") {
                stack.followers.iter().map(|f| f.name.as_str()).collect()
            } else {
                vec![""]
            };
            names
                .into_iter()
                .map(|name| (title.clone(), substitute(&expr, &stack.target, name)))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        waiting
            .iter()
            .any(|(_, expr)| expr.contains(&format!("cluster_name=~\"{TCP_FOLLOWER}\""))),
        "follower panels are checked with a real follower name"
    );
    assert!(waiting.len() > 20, "the dashboard has its queries");
    assert!(
        waiting
            .iter()
            .any(|(what, _)| what == "variable cluster_name"),
        "the variables' series are checked too"
    );
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    while !waiting.is_empty() && tokio::time::Instant::now() < deadline {
        let mut still = Vec::new();
        for (title, expr) in waiting {
            if series_count(stack.prometheus, &expr).await == 0 {
                still.push((title, expr));
            }
        }
        waiting = still;
        if !waiting.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    assert!(
        waiting.is_empty(),
        "dashboard queries without a series after {EVENT_TIMEOUT:?}:\n{waiting:#?}"
    );
}

/// Grafana's variables as a user viewing this exporter and one of its followers would have them.
fn substitute(expr: &str, target: &str, follower: &str) -> String {
    let expr = expr
        .replace("$__rate_interval", "1m")
        .replace("$instance", target)
        .replace("$job", JOB)
        .replace("$cluster_name", follower);
    assert!(!expr.contains('$'), "unsubstituted variable in {expr}");
    expr
}

async fn series_count(prometheus: Api, expr: &str) -> usize {
    let path = format!("/api/v1/query?query={}", encode(expr));
    let answer = prometheus.get_json(&path).await;
    answer.map_or(0, |a| dashboard::array(&a["data"]["result"]).len())
}

/// (3) Lotus stops: LotusDown fires in Prometheus, Alertmanager notifies the webhook with the
/// right labels, and inhibits what LotusDown explains.
async fn lotus_down_fires_notifies_and_inhibits(stack: &Stack) {
    let version_ok = format!(
        "lotus_follow_exporter_check_success{{instance=\"{}\",check=\"lotus_version\"}} == 1",
        stack.target
    );
    assert_eq!(series_count(stack.prometheus, &version_ok).await, 1);
    stack.lotus.stop().await;

    let down = poll("LotusDown firing in Prometheus", EVENT_TIMEOUT, || {
        firing_in_prometheus(stack.prometheus, "LotusDown", &[])
    })
    .await;
    assert_eq!(down["labels"]["instance"], stack.target.as_str());
    poll(
        "LotusDown notified to the webhook",
        EVENT_TIMEOUT,
        || async { stack.webhook.find("LotusDown", "firing") },
    )
    .await;
    let notice = stack.webhook.find("LotusDown", "firing").expect("notice");
    assert_eq!(
        notice.labels,
        json!({"alertname": "LotusDown", "instance": stack.target, "job": JOB, "severity": "critical"})
    );
    // The runbook link, as Prometheus rendered it, is the runbook the exporter serves.
    let runbook = notice.annotations["runbook_url"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        runbook,
        format!("http://{}/runbook#lotusdown", stack.target)
    );
    let page = stack.exporter.get_text("/runbook").await.expect("/runbook");
    assert!(
        page.contains("<h3 id=\"lotusdown\">"),
        "the anchor of {runbook}"
    );

    check_failing_is_left_out_and_inhibited(stack).await;
    not_synced_is_inhibited(stack).await;
}

/// The failing `lotus_version` check is left out by the rule itself while Lotus is down: with
/// LotusDown firing, Prometheus holds no LotusFollowExporterCheckFailing at all, not even
/// pending (it would have gone pending with LotusDown, and its `for:` is longer). Alertmanager's
/// inhibition stays as a second layer: posted as Prometheus would, it is suppressed.
async fn check_failing_is_left_out_and_inhibited(stack: &Stack) {
    let alert = "LotusFollowExporterCheckFailing";
    let alerts = stack
        .prometheus
        .get_json("/api/v1/alerts")
        .await
        .expect("Prometheus's alerts");
    let check_failing: Vec<&Value> = dashboard::array(&alerts["data"]["alerts"])
        .iter()
        .filter(|a| a["labels"]["alertname"] == alert)
        .collect();
    assert!(
        check_failing.is_empty(),
        "Lotus down gives LotusDown alone, pending alerts included: {check_failing:?}"
    );
    let labels = json!({"alertname": alert, "instance": stack.target, "job": JOB,
                        "check": "lotus_version", "cluster_name": "", "severity": "warning"});
    let posted = stack
        .alertmanager
        .post_json("/api/v2/alerts", &json!([{ "labels": labels }]))
        .await;
    assert!(posted, "Alertmanager accepts the posted alert");
    let matchers = [("alertname", alert)];
    poll(
        "Alertmanager to inhibit the check failure",
        EVENT_TIMEOUT,
        || inhibited_in_alertmanager(stack.alertmanager, &matchers),
    )
    .await;
    let ends_at = humantime::format_rfc3339(SystemTime::now()).to_string();
    let resolved = json!([{ "labels": labels, "endsAt": ends_at }]);
    assert!(
        stack
            .alertmanager
            .post_json("/api/v2/alerts", &resolved)
            .await
    );
    let leaked = stack
        .webhook
        .notices()
        .into_iter()
        .any(|n| n.labels["alertname"] == alert && n.labels["check"] == "lotus_version");
    assert!(!leaked, "an inhibited check failure reached the webhook");
}

/// LotusNotSynced cannot fire from Prometheus while Lotus is down (lotus_synced is absent), so it
/// is posted to Alertmanager as Prometheus would, to prove the inhibit rule the issue names.
async fn not_synced_is_inhibited(stack: &Stack) {
    let labels = json!({"alertname": "LotusNotSynced", "instance": stack.target, "job": JOB,
                        "severity": "warning"});
    let posted = stack
        .alertmanager
        .post_json("/api/v2/alerts", &json!([{ "labels": labels }]))
        .await;
    assert!(posted, "Alertmanager accepts the posted alert");
    poll(
        "Alertmanager to inhibit LotusNotSynced",
        EVENT_TIMEOUT,
        || inhibited_in_alertmanager(stack.alertmanager, &[("alertname", "LotusNotSynced")]),
    )
    .await;
    let ends_at = humantime::format_rfc3339(SystemTime::now()).to_string();
    let resolved = json!([{ "labels": labels, "endsAt": ends_at }]);
    assert!(
        stack
            .alertmanager
            .post_json("/api/v2/alerts", &resolved)
            .await
    );
    assert!(
        stack.webhook.find("LotusNotSynced", "firing").is_none(),
        "an inhibited LotusNotSynced reached the webhook"
    );
}

/// (3, end) Lotus comes back: the webhook receives LotusDown resolved, and Prometheus drops it.
async fn lotus_back_resolves(stack: &Stack) {
    stack.lotus.restart().await;
    poll(
        "LotusDown resolved at the webhook",
        EVENT_TIMEOUT,
        || async { stack.webhook.find("LotusDown", "resolved") },
    )
    .await;
    let gone = || async {
        let alerts = stack.prometheus.get_json("/api/v1/alerts").await?;
        let any = dashboard::array(&alerts["data"]["alerts"])
            .iter()
            .any(|a| a["labels"]["alertname"] == "LotusDown");
        (!any).then_some(())
    };
    poll(
        "LotusDown to leave Prometheus's alerts",
        EVENT_TIMEOUT,
        gone,
    )
    .await;
    assert!(
        stack.webhook.find("LotusNotSynced", "firing").is_none(),
        "the resolved LotusNotSynced was never notified"
    );
}

/// The firing alert `name` (with these extra labels) from Prometheus's alerts API.
async fn firing_in_prometheus(
    prometheus: Api,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<Value> {
    let alerts = prometheus.get_json("/api/v1/alerts").await?;
    dashboard::array(&alerts["data"]["alerts"])
        .iter()
        .find(|a| {
            a["state"] == "firing"
                && a["labels"]["alertname"] == name
                && labels.iter().all(|(k, v)| a["labels"][*k] == *v)
        })
        .cloned()
}

/// `Some` once Alertmanager holds an alert with these labels, suppressed by an inhibition.
async fn inhibited_in_alertmanager(alertmanager: Api, labels: &[(&str, &str)]) -> Option<()> {
    let filters: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("filter={}", encode(&format!("{name}=\"{value}\""))))
        .collect();
    let path = format!("/api/v2/alerts?{}", filters.join("&"));
    let alerts = alertmanager.get_json(&path).await?;
    dashboard::array(&alerts)
        .iter()
        .any(|a| {
            a["status"]["state"] == "suppressed"
                && !dashboard::array(&a["status"]["inhibitedBy"]).is_empty()
        })
        .then_some(())
}
