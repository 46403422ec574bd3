//! The Grafana dashboard's structure: datasource variable everywhere, titles, units, ids, layout.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::dashboard;
use crate::dashboard::{array, panels, queries, variable, DATASOURCE_VARIABLE};

/// Panel types that draw a number or a curve, and so need a unit unless every value is mapped
/// to text (a state like up/down is not a quantity).
const QUANTITY_PANELS: [&str; 4] = ["timeseries", "stat", "bargauge", "gauge"];

fn datasource_ref() -> Value {
    json!({"type": "prometheus", "uid": DATASOURCE_VARIABLE})
}

fn title(panel: &Value) -> &str {
    panel["title"].as_str().unwrap_or("")
}

#[test]
fn dashboard_is_grafana_10_model_with_schema_39() {
    let d = dashboard::load();
    assert_eq!(d["schemaVersion"], 39);
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(
        array(&d["__inputs"]).is_empty(),
        "no import-time inputs: the datasource is a dashboard variable"
    );
}

#[test]
fn datasource_instance_and_cluster_variables_exist() {
    let d = dashboard::load();
    let ds = variable(&d, "datasource").expect("a `datasource` variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    for name in ["job", "instance", "cluster_name"] {
        let var = variable(&d, name).unwrap_or_else(|| panic!("a `{name}` variable"));
        assert_eq!(var["type"], "query", "{name}");
        assert_eq!(var["datasource"], datasource_ref(), "{name}");
        assert_eq!(var["includeAll"], true, "{name}");
        assert_eq!(var["allValue"], ".*", "{name}: All must match every value");
    }
}

#[test]
fn no_datasource_uid_is_hard_coded_anywhere() {
    fn walk(value: &Value, path: &str, bad: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(ds) = map.get("datasource") {
                    let builtin = ds["type"] == "grafana";
                    if !builtin && ds["uid"] != DATASOURCE_VARIABLE {
                        bad.push(format!("{path}: {ds}"));
                    }
                }
                for (key, v) in map {
                    walk(v, &format!("{path}.{key}"), bad);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{path}[{i}]"), bad);
                }
            }
            _ => {}
        }
    }
    let mut bad = Vec::new();
    walk(&dashboard::load(), "$", &mut bad);
    assert!(
        bad.is_empty(),
        "datasources not using the variable:\n{bad:#?}"
    );
}

#[test]
fn every_panel_has_a_title_the_datasource_variable_and_a_unique_id() {
    let d = dashboard::load();
    let mut ids = HashSet::new();
    for panel in panels(&d) {
        assert!(!title(panel).is_empty(), "panel without title: {panel}");
        assert_eq!(panel["datasource"], datasource_ref(), "{}", title(panel));
        let id = panel["id"].as_u64().expect("numeric panel id");
        assert!(ids.insert(id), "duplicate panel id {id} ({})", title(panel));
        for target in array(&panel["targets"]) {
            assert_eq!(target["datasource"], datasource_ref(), "{}", title(panel));
        }
    }
}

#[test]
fn every_non_row_panel_queries_something() {
    let d = dashboard::load();
    for panel in panels(&d).into_iter().filter(|p| p["type"] != "row") {
        let exprs: Vec<_> = array(&panel["targets"])
            .iter()
            .map(|t| t["expr"].as_str().unwrap_or(""))
            .collect();
        assert!(!exprs.is_empty(), "{} has no query", title(panel));
        assert!(
            exprs.iter().all(|e| !e.trim().is_empty()),
            "{}",
            title(panel)
        );
    }
}

#[test]
fn panels_showing_quantities_have_a_unit() {
    let d = dashboard::load();
    for panel in panels(&d) {
        let kind = panel["type"].as_str().unwrap_or("");
        let defaults = &panel["fieldConfig"]["defaults"];
        let states_only = !array(&defaults["mappings"]).is_empty();
        if QUANTITY_PANELS.contains(&kind) && !states_only {
            let unit = defaults["unit"].as_str().unwrap_or("");
            assert!(!unit.is_empty(), "{} ({kind}) has no unit", title(panel));
        }
    }
}

#[test]
fn sync_lag_is_in_epochs_and_red_above_the_sync_threshold() {
    let d = dashboard::load();
    let lag = panel_querying(&d, "lotus_chain_sync_lag_epochs");
    let defaults = &lag["fieldConfig"]["defaults"];
    assert!(defaults["unit"]
        .as_str()
        .is_some_and(|u| u.contains("epochs")));
    let steps = array(&defaults["thresholds"]["steps"]);
    assert!(
        steps.iter().any(|s| s["color"] == "red" && s["value"] == 5),
        "red from 5 epochs (--lotus.sync-lag-threshold default): {steps:?}"
    );
}

#[test]
fn wallet_balances_are_in_fil() {
    let d = dashboard::load();
    let wallets = panel_querying(&d, "lotus_wallet_balance_fil");
    let unit = wallets["fieldConfig"]["defaults"]["unit"].as_str();
    assert!(unit.is_some_and(|u| u.contains("FIL")), "{unit:?}");
}

#[test]
fn rows_are_lotus_finality_upgrades_cluster_follow_kubo_ports_exporter() {
    let d = dashboard::load();
    let rows: Vec<&str> = panels(&d)
        .into_iter()
        .filter(|p| p["type"] == "row")
        .map(title)
        .collect();
    assert_eq!(
        rows,
        [
            "Lotus",
            "Finality",
            "Upgrades, fleet and messages",
            "Cluster follow",
            "Kubo",
            "Ports",
            "Exporter"
        ]
    );
}

#[test]
fn the_finality_row_shows_f3_running_instance_both_lags_and_the_ec_depth() {
    let d = dashboard::load();
    let exprs: Vec<String> = dashboard::queries(&d).into_iter().map(|(_, e)| e).collect();
    for metric in [
        "lotus_f3_running",
        "lotus_f3_latest_instance",
        "lotus_f3_finality_lag_epochs",
        "lotus_chain_finality_lag_epochs",
        "lotus_ec_finality_threshold_depth",
    ] {
        assert!(
            exprs.iter().any(|e| e.contains(metric)),
            "no panel queries {metric}"
        );
    }
    let lag = panel_querying(&d, "lotus_f3_finality_lag_epochs");
    let steps = array(&lag["fieldConfig"]["defaults"]["thresholds"]["steps"]);
    assert!(
        steps
            .iter()
            .any(|s| s["color"] == "red" && s["value"] == 20),
        "red from LotusF3Stalled's 20 epochs: {steps:?}"
    );
}

#[test]
fn the_upgrades_row_queries_each_new_lotus_metric_and_the_fleet_rules_by_name() {
    let d = dashboard::load();
    for metric in [
        "lotus_network_version",
        "lotus_upgrade_next_epoch",
        "lotus_upgrade_next_seconds",
        "lotus_wallet_nonce_gap",
        "lotus_wallet_nonce{",
        "lotus_fleet:chain_height:max",
        "lotus_fleet:network_version:max",
    ] {
        panel_querying(&d, metric);
    }
    let countdown = panel_querying(&d, "lotus_upgrade_next_seconds");
    assert_eq!(countdown["fieldConfig"]["defaults"]["unit"], "s");
    let steps = array(&countdown["fieldConfig"]["defaults"]["thresholds"]["steps"]);
    assert!(
        steps
            .iter()
            .any(|s| s["color"] == "green" && s["value"] == 259200),
        "red under LotusUpgradeSoon's 72 hours: {steps:?}"
    );
    let behind = panel_querying(&d, "lotus_fleet:chain_height:max");
    let steps = array(&behind["fieldConfig"]["defaults"]["thresholds"]["steps"]);
    assert!(
        steps
            .iter()
            .any(|s| s["color"] == "red" && s["value"] == 10),
        "red above lotus_fleet:behind_max_epochs: {steps:?}"
    );
}

#[test]
fn the_kubo_row_shows_each_kubo_up_and_its_version() {
    let d = dashboard::load();
    let up = panel_querying(&d, "kubo_up");
    assert_eq!(up["targets"][0]["legendFormat"], "{{kubo}}", "one per Kubo");
    assert!(
        !array(&up["fieldConfig"]["defaults"]["mappings"]).is_empty(),
        "up/down, not a number"
    );
    let info = panel_querying(&d, "kubo_info");
    assert_eq!(info["type"], "table");
}

#[test]
fn queries_filter_by_the_instance_and_cluster_variables() {
    let d = dashboard::load();
    for (title, expr) in queries(&d) {
        assert!(expr.contains("$instance"), "{title}: {expr}");
        let per_follower =
            expr.contains("cluster_follow_") && !expr.contains("cluster_follow_binary_available");
        if per_follower {
            assert!(expr.contains("$cluster_name"), "{title}: {expr}");
        }
    }
}

/// Prometheus's own per-target series exist for every job it scrapes; with the instance variable
/// at All, only the job keeps other exporters' targets out of the exporter's panels.
#[test]
fn prometheus_own_series_filter_by_the_job_variable() {
    let d = dashboard::load();
    let job = variable(&d, "job").expect("a `job` variable");
    assert!(job["definition"]
        .as_str()
        .is_some_and(|q| q.contains("lotus_follow_exporter_build_info")));
    let instance = variable(&d, "instance").expect("an `instance` variable");
    assert!(
        instance["definition"]
            .as_str()
            .is_some_and(|q| q.contains("job=~\"$job\"")),
        "instances follow the chosen job"
    );
    let mut seen = 0;
    for (title, expr) in queries(&d) {
        for metric in ["up{", "scrape_duration_seconds{", "scrape_samples_scraped{"] {
            if expr.starts_with(metric) || expr.contains(&format!(" {metric}")) {
                seen += 1;
                assert!(expr.contains("job=~\"$job\""), "{title}: {expr}");
            }
        }
    }
    assert!(
        seen >= 2,
        "the Exporter row shows up and scrape_duration_seconds"
    );
}

#[test]
fn panels_sit_on_the_24_column_grid_without_overlapping() {
    let d = dashboard::load();
    let boxes: Vec<(&str, [u64; 4])> = panels(&d)
        .into_iter()
        .map(|p| {
            let g = &p["gridPos"];
            let field = |k: &str| {
                g[k].as_u64()
                    .unwrap_or_else(|| panic!("{}: gridPos.{k}", title(p)))
            };
            (title(p), [field("x"), field("y"), field("w"), field("h")])
        })
        .collect();
    for (name, [x, _, w, h]) in &boxes {
        assert!(x + w <= 24 && *w > 0 && *h > 0, "{name} is off the grid");
    }
    for (i, (a, [ax, ay, aw, ah])) in boxes.iter().enumerate() {
        for (b, [bx, by, bw, bh]) in &boxes[i + 1..] {
            let apart = ax + aw <= *bx || bx + bw <= *ax || ay + ah <= *by || by + bh <= *ay;
            assert!(apart, "{a} overlaps {b}");
        }
    }
}

fn panel_querying<'a>(d: &'a Value, metric: &str) -> &'a Value {
    panels(d)
        .into_iter()
        .find(|p| {
            array(&p["targets"])
                .iter()
                .any(|t| t["expr"].as_str().is_some_and(|e| e.contains(metric)))
        })
        .unwrap_or_else(|| panic!("no panel queries {metric}"))
}

#[test]
fn datasource_provisioning_adds_one_without_taking_over_the_default() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/grafana/provisioning/datasources/prometheus.yml"
    );
    let text = std::fs::read_to_string(path).expect("the provisioning file");
    let yaml: serde_json::Value = serde_norway::from_str(&text).expect("YAML");
    let sources = array(&yaml["datasources"]);
    assert_eq!(sources.len(), 1);
    let source = &sources[0];
    assert_eq!(source["type"], "prometheus");
    assert_eq!(source["isDefault"], false, "never the default datasource");
    for key in ["name", "uid"] {
        let value = source[key].as_str().unwrap_or_default();
        assert!(
            value.contains("lotus-follow-exporter"),
            "{key} {value:?} is its own, so it clashes with no existing datasource"
        );
    }
    assert!(
        yaml.get("deleteDatasources").is_none(),
        "provisioning deletes nothing"
    );
}

#[test]
fn the_dashboard_links_to_the_runbook_the_exporter_serves() {
    let d = dashboard::load();
    let urls: Vec<&str> = array(&d["links"])
        .iter()
        .filter_map(|l| l["url"].as_str())
        .collect();
    assert_eq!(urls, ["http://${instance}/runbook"]);
}
