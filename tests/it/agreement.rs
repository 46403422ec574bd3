//! One verdict, held against the shipped alert rules: every view of the exporter's verdict on a
//! state says the same, and the rules fire a warning or critical alert exactly when that verdict
//! is not healthy.
//!
//! [`Views::collect`] reads every view of one state from the real binary: `/metrics` (the gauge
//! `lotus_follow_exporter_healthy`), `/status` (its top-level `health`), the status page (its
//! `Verdict` badge) and the exit status of `check` run with the same flags.
//! [`assert_agrees`] asserts that the four agree, then takes the scraped series through
//! `alerts/lotus-follow-exporter.rules.yml` with `promtool test rules` and asserts that a warning
//! or critical alert fires exactly when the verdict is `degraded` or `unhealthy`. It returns the
//! alerts that fire, for a case to say which it expects.
//!
//! # How a scrape goes through the rules
//! A temporary promtool test file holds every scraped sample as an `input_series`, labelled
//! `instance="exporter:10234", job="lotus-follow"` as Prometheus would label it, beside
//! `up{...} 1` (the scrape succeeded). Each series is held at its scraped value for [`HOLD`]
//! at a 30 s interval, longer than every `for:` of the rules (15m at most) and the `offset 1h`
//! of `LotusChainHeightStalled`; the rules are evaluated every minute from the start and the
//! firing alerts are read at the end, from `ALERTS{alertstate="firing"}`.
//!
//! Chain positions are the exception: a series whose name holds `height` or `instance` (heads,
//! F3 instances, the same names the golden test masks as wall-clock positions) advances by one
//! per sample, as a live chain's does in 30 s epochs. So the conditions that compare with the
//! past (a head that did not move, an F3 instance unchanged for 15 minutes, a lag that grows)
//! see a chain that moves and stay quiet: those are judged over time, never in one scrape's
//! verdict (`docs/verdict.md` lists them). Every other condition is judged from this one scrape,
//! as the verdict is.
//!
//! Wall-clock times (a series whose name ends in `_timestamp_seconds`) are moved onto
//! promtool's clock, which starts at 0: the moment of the scrape becomes the end of [`HOLD`],
//! where the alerts are read. So a rule that compares a time with `time()` (a pin queued since
//! a given time) sees at the end the age the exporter judged at its scrape, and the `for:`
//! before it ages it by as much as a live Prometheus would.
//!
//! # Caveats
//! `promtool` must be on `PATH` (Debian's `prometheus` package; `scripts/test` installs it):
//! without it the test fails saying so, never passes quietly.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use lotus_follow_exporter::net::http_client::{self, Endpoint};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

/// How long each scraped series is held (longer than every `for:` and `offset` of the rules).
pub const HOLD: Duration = Duration::from_secs(2 * 60 * 60);
/// The sample interval of the held series: one epoch of a 30 s chain.
const INTERVAL_SECONDS: u64 = 30;
/// The labels Prometheus would add to every scraped series.
const TARGET: &str = r#"instance="exporter:10234",job="lotus-follow""#;
/// Largest page read from the exporter.
const MAX_BODY: usize = 16 << 20;
/// Hang guard of one request or one `check` run.
const GUARD: Duration = Duration::from_secs(30);

/// The exporter binary with the flags every such test uses (nothing of this host's configs or
/// processes, HOME in `tmp`, an empty PATH), then `args`. `subcommand` comes first (`check`).
pub fn command(tmp: &Path, subcommand: Option<&str>, args: &[String]) -> tokio::process::Command {
    let none = tmp.join("none");
    let empty_bin = tmp.join("empty-bin");
    std::fs::create_dir_all(&empty_bin).expect("empty bin dir");
    let none = none.to_str().expect("utf-8 path");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"));
    // 10 s unless the case sets its own (a case that waits out a stalled call).
    let timeout: &[&str] = if args.iter().any(|a| a == "--collector.timeout") {
        &[]
    } else {
        &["--collector.timeout", "10s"]
    };
    command
        .args(subcommand)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .args(["--follow.process-discovery=false"])
        .args(["--lotus.path", none])
        .args(["--ports.cluster-service-config", none])
        .args(["--ports.kubo-config", none])
        .args(timeout)
        .args(["--log.level", "info"])
        .args(args)
        .env_clear()
        .env("HOME", tmp)
        .env("PATH", &empty_bin)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// The exporter binary serving on a loopback port, killed when dropped.
pub struct Exporter {
    _child: tokio::process::Child,
    pub port: u16,
    tmp: PathBuf,
    args: Vec<String>,
}

/// Start the binary with `args` (see [`command`]) and wait for its `listening on` line.
pub async fn start(tmp: &Path, args: &[String]) -> Exporter {
    let mut command = command(tmp, None, args);
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("start the exporter");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    let port = loop {
        let line = lines
            .next_line()
            .await
            .expect("read the exporter's log")
            .unwrap_or_else(|| panic!("the exporter exited before listening:\n{seen}"));
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            break digits.parse::<u16>().expect("port in the listening line");
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Exporter {
        _child: child,
        port,
        tmp: tmp.to_path_buf(),
        args: args.to_vec(),
    }
}

impl Exporter {
    /// GET `path` (200 expected).
    pub async fn get(&self, path: &str) -> String {
        self.get_accepting(path, "*/*").await
    }

    /// GET `path` with this `Accept` (200 expected).
    pub async fn get_accepting(&self, path: &str, accept: &str) -> String {
        let endpoint = Endpoint::Tcp {
            host: "127.0.0.1".to_string(),
            port: self.port,
        };
        let request = http::Request::builder()
            .uri(path)
            .header(http::header::ACCEPT, accept)
            .body(Full::new(Bytes::new()))
            .expect("request");
        let response = http_client::fetch(&endpoint, request, MAX_BODY, Instant::now() + GUARD)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(response.status.as_u16(), 200, "GET {path}");
        String::from_utf8_lossy(&response.body).into_owned()
    }
}

/// Every view of the verdict on one state.
pub struct Views {
    /// `/metrics` as scraped.
    pub metrics: String,
    /// `/status`.
    pub status: Value,
    /// The status page (`/` for a browser).
    pub page: String,
    /// `check`'s exit code and what it printed.
    pub check_exit: Option<i32>,
    pub check_output: String,
}

impl Views {
    /// Read every view from `exporter`, and run `check` with its flags.
    pub async fn collect(exporter: &Exporter) -> Views {
        let metrics = exporter.get("/metrics").await;
        let status = exporter.get("/status").await;
        let status: Value = serde_json::from_str(&status)
            .unwrap_or_else(|e| panic!("/status is not JSON ({e}):\n{status}"));
        let page = exporter.get_accepting("/", "text/html").await;
        let mut check = command(&exporter.tmp, Some("check"), &exporter.args);
        check.stdout(Stdio::piped()).stderr(Stdio::piped());
        let output = tokio::time::timeout(GUARD, check.output())
            .await
            .unwrap_or_else(|_| panic!("`check` did not end within {GUARD:?}"))
            .expect("run check");
        Views {
            metrics,
            status,
            page,
            check_exit: output.status.code(),
            check_output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }
}

/// One alert that fires: its name and severity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Firing {
    pub alertname: String,
    pub severity: String,
}

/// Assert that every view of `views` gives the same verdict and that the shipped rules agree
/// with it (see the module doc); return the names of the warning and critical alerts that fire.
pub fn assert_agrees(case: &str, views: &Views) -> BTreeSet<String> {
    let health = views.status["health"]
        .as_str()
        .unwrap_or_else(|| panic!("{case}: /status has no top-level health:\n{}", views.status));
    assert!(
        ["healthy", "degraded", "unhealthy"].contains(&health),
        "{case}: /status health is {health:?}"
    );
    let healthy = health == "healthy";
    let reasons = reasons(&views.status).join("\n  ");
    assert_eq!(
        sample(&views.metrics, "lotus_follow_exporter_healthy"),
        Some(if healthy { 1.0 } else { 0.0 }),
        "{case}: lotus_follow_exporter_healthy disagrees with /status health {health}"
    );
    assert_eq!(
        page_verdict(&views.page).as_deref(),
        Some(health),
        "{case}: the status page's Verdict badge disagrees with /status health {health}"
    );
    assert_eq!(
        views.check_exit,
        Some(if healthy { 0 } else { 1 }),
        "{case}: `check` exit status disagrees with /status health {health}:\n{}",
        views.check_output
    );
    let firing = firing_alerts(case, &views.metrics);
    let alerting: BTreeSet<String> = firing
        .iter()
        .filter(|f| f.severity == "warning" || f.severity == "critical")
        .map(|f| f.alertname.clone())
        .collect();
    // One cause, one alert, pending alerts counted: nothing goes pending at any evaluation
    // that does not fire in the end (an alert a deeper one explains is left out by its rule).
    let ever: BTreeSet<String> = alerted_alerts(case, &views.metrics)
        .iter()
        .filter(|f| f.severity == "warning" || f.severity == "critical")
        .map(|f| f.alertname.clone())
        .collect();
    assert_eq!(
        ever, alerting,
        "{case}: alerts pending or firing at some evaluation, against those firing in the end"
    );
    if healthy {
        assert!(
            alerting.is_empty(),
            "{case}: the verdict is healthy, but the shipped rules fire {alerting:?} on the same scrape \
             (promtool test rules)"
        );
    } else {
        assert!(
            !alerting.is_empty(),
            "{case}: the verdict is {health}, but no warning or critical alert of the shipped rules \
             fires on the same scrape (promtool test rules). The verdict's reasons:\n  {reasons}"
        );
    }
    assert_running_is_never_a_false_zero(case, &views.metrics);
    alerting
}

/// Every reason in words of `/status` (`health_reasons`, `reasons`, and the sections' errors).
fn reasons(status: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    if matches!(key.as_str(), "health_reasons" | "reasons" | "errors") {
                        if let Value::Array(items) = item {
                            out.extend(items.iter().filter_map(|r| r.as_str().map(String::from)));
                            continue;
                        }
                    }
                    walk(item, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    walk(status, &mut out);
    out
}

/// The value of an unlabelled series of an exposition.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

/// The word of the page's `Verdict` badge.
fn page_verdict(page: &str) -> Option<String> {
    let summary = page.split("<p id=\"summary\">Verdict ").nth(1)?;
    let badge = summary.split("<span class=\"badge ").nth(1)?;
    Some(badge.split('"').next()?.to_string())
}

/// `cluster_follow_running` is 1 or absent for a follower whose API answers, and never anything
/// but 0 or 1 (no NaN, no -1).
fn assert_running_is_never_a_false_zero(case: &str, metrics: &str) {
    let of = |name: &str| -> Vec<(String, String)> {
        metrics
            .lines()
            .filter_map(|line| line.strip_prefix(name)?.strip_prefix('{'))
            .filter_map(|rest| rest.rsplit_once("} "))
            .map(|(labels, value)| (labels.to_string(), value.trim().to_string()))
            .collect()
    };
    let running = of("cluster_follow_running");
    for (labels, value) in &running {
        assert!(
            value == "0" || value == "1",
            "{case}: cluster_follow_running{{{labels}}} is {value}, neither 0 nor 1"
        );
    }
    for (labels, _) in of("cluster_follow_api_reachable")
        .into_iter()
        .filter(|(_, v)| v == "1")
    {
        assert!(
            !running.contains(&(labels.clone(), "0".to_string())),
            "{case}: follower {{{labels}}} answers on its API, yet cluster_follow_running is 0"
        );
    }
}

/// The alerts of the shipped rules that fire on `metrics` held for [`HOLD`] (see the module doc).
pub fn firing_alerts(case: &str, metrics: &str) -> BTreeSet<Firing> {
    alerts_of(case, metrics, "ALERTS{alertstate=\"firing\"}")
}

/// The alerts of the shipped rules that were pending or firing at any evaluation while
/// `metrics` was held for [`HOLD`].
pub fn alerted_alerts(case: &str, metrics: &str) -> BTreeSet<Firing> {
    let expr = format!(
        "group by (alertname, severity) (last_over_time(ALERTS[{}m]))",
        HOLD.as_secs() / 60 + 1
    );
    alerts_of(case, metrics, &expr)
}

/// The `alertname` and `severity` of every series `expr` gives at the end of [`HOLD`].
fn alerts_of(case: &str, metrics: &str, expr: &str) -> BTreeSet<Firing> {
    let dir = tempfile::tempdir().expect("tempdir for the promtool test");
    let rules =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/lotus-follow-exporter.rules.yml");
    let samples = HOLD.as_secs() / INTERVAL_SECONDS;
    let mut file = format!(
        "rule_files:\n  - '{}'\nevaluation_interval: 1m\ntests:\n  - interval: {INTERVAL_SECONDS}s\n    input_series:\n",
        rules.display()
    );
    file.push_str(&input_series(metrics, samples));
    file.push_str(&format!(
        "    promql_expr_test:\n      - expr: '{expr}'\n        eval_time: {}m\n        exp_samples: []\n",
        HOLD.as_secs() / 60
    ));
    let path = dir.path().join("scrape.test.yml");
    std::fs::write(&path, &file).expect("write the promtool test");
    let output = match std::process::Command::new("promtool")
        .args(["test", "rules"])
        .arg(&path)
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "{case}: promtool is not installed, so the shipped alert rules cannot be checked against \
             the verdict: install Debian's `prometheus` package (scripts/test does) or put promtool \
             on PATH"
        ),
        Err(e) => panic!("{case}: cannot run promtool: {e}"),
    };
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        return BTreeSet::new();
    }
    // The test expects no alert: promtool fails listing the ones there are, after `got:`.
    let firing: BTreeSet<Firing> = said
        .lines()
        .filter(|l| l.trim_start().starts_with("got:") && l.contains("alertname=\""))
        .flat_map(|l| l.split('{').skip(1))
        .map(|alert| Firing {
            alertname: label(alert, "alertname"),
            severity: label(alert, "severity"),
        })
        .collect();
    assert!(
        !firing.is_empty(),
        "{case}: promtool test rules failed for another reason than firing alerts:\n{said}\n\
         (test file kept in the output above; input:\n{file})"
    );
    firing
}

/// The value of `name="..."` in a label set as promtool prints it.
fn label(labels: &str, name: &str) -> String {
    labels
        .split(&format!("{name}=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string()
}

/// The scraped samples as promtool `input_series` (see the module doc), plus `up`.
fn input_series(metrics: &str, samples: u64) -> String {
    let scraped_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    let mut out = format!("      - series: 'up{{{TARGET}}}'\n        values: '1x{samples}'\n");
    for line in metrics.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let value: f64 = match value.parse() {
            Ok(v) => v,
            Err(_) => panic!("unreadable sample value in {line:?}"),
        };
        let name = series.split('{').next().unwrap_or(series);
        let labelled = match series.split_once('{') {
            Some((name, rest)) if rest.starts_with('}') => format!("{name}{{{TARGET}}}"),
            Some((name, rest)) => format!("{name}{{{TARGET},{rest}"),
            None => format!("{series}{{{TARGET}}}"),
        };
        let moves = name.contains("height") || name.contains("instance");
        let value = if name.ends_with("_timestamp_seconds") && value.is_finite() {
            value - scraped_at + HOLD.as_secs_f64()
        } else {
            value
        };
        let values = match (value.is_finite(), moves) {
            (false, _) if value.is_nan() => format!("NaNx{samples}"),
            (false, _) if value > 0.0 => format!("Infx{samples}"),
            (false, _) => format!("-Infx{samples}"),
            (true, true) => format!("{value}+1x{samples}"),
            (true, false) => format!("{value}x{samples}"),
        };
        out.push_str(&format!(
            "      - series: '{}'\n        values: '{values}'\n",
            labelled.replace('\'', "''")
        ));
    }
    out
}
