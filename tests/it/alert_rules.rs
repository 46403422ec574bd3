//! Every alert rule has a runbook section, a runbook_url to it (served by the exporter on
//! `/runbook`), and promtool tests that fire it and keep it quiet. (promtool itself checks and runs the rules in scripts/test.)

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Where every `runbook_url` points: the runbook the exporter serves on `/runbook`, at the
/// alert's `instance` (see the rule file's header).
const RUNBOOK_URL: &str = "http://{{ $labels.instance }}/runbook#";
/// LotusFollowExporterAbsent has no instance: its link is the copy the package installs.
const INSTALLED_RUNBOOK: &str = "file:///usr/share/doc/lotus-follow-exporter/docs/runbook.md#";

fn read(relative: &str) -> String {
    let path = Path::new(ROOT).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn alert_names() -> Vec<String> {
    let names: Vec<String> = read("alerts/lotus-follow-exporter.rules.yml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .map(|n| n.trim().to_string())
        .collect();
    assert!(names.len() >= 16, "rules file lists the alerts: {names:?}");
    names
}

fn unit_tests() -> String {
    let dir = Path::new(ROOT).join("alerts/tests");
    let mut text = String::new();
    for entry in std::fs::read_dir(&dir).expect("alerts/tests exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "yml") {
            text += &std::fs::read_to_string(&path).expect("read test file");
        }
    }
    text
}

#[test]
fn every_alert_has_a_runbook_section_and_links_to_it() {
    let rules = read("alerts/lotus-follow-exporter.rules.yml");
    let runbook = read("docs/runbook.md");
    for name in alert_names() {
        let base = if name == "LotusFollowExporterAbsent" {
            INSTALLED_RUNBOOK
        } else {
            RUNBOOK_URL
        };
        let url = format!("runbook_url: {base}{}\n", name.to_lowercase());
        assert!(rules.contains(&url), "{name}: runbook_url {url}");
        assert!(
            runbook.lines().any(|l| l == format!("### {name}")),
            "docs/runbook.md has no `### {name}` section"
        );
    }
}

#[test]
fn every_alert_has_a_firing_and_a_quiet_promtool_case() {
    let tests = unit_tests();
    for name in alert_names() {
        assert!(
            tests.contains(&format!("- name: {name} fires")),
            "no firing case for {name}"
        );
        assert!(
            tests.contains(&format!("- name: {name} stays quiet")),
            "no quiet case for {name}"
        );
    }
}

#[test]
fn every_alert_has_severity_summary_and_description() {
    let rules = read("alerts/lotus-follow-exporter.rules.yml");
    let blocks: Vec<&str> = rules.split("- alert: ").skip(1).collect();
    assert_eq!(blocks.len(), alert_names().len());
    for block in blocks {
        let name = block.lines().next().unwrap_or("");
        for key in ["severity: ", "summary: ", "description: ", "runbook_url: "] {
            assert!(block.contains(key), "{name} lacks {key}");
        }
        // absent() has no target to name: such an alert names what is absent instead.
        let names_target = if block.contains("expr: absent(") {
            block.contains("$labels.job") || block.contains("lotus_follow_exporter:up")
        } else {
            block.contains("$labels.instance")
        };
        assert!(names_target, "{name}: names the instance (or job)");
        assert!(block.contains("$value"), "{name}: names the value");
        if block.contains("cluster_follow_") {
            assert!(
                block.contains("$labels.cluster_name"),
                "{name}: names the follower"
            );
        }
    }
}
