//! `/runbook` serves `docs/runbook.md` as a page with one anchor per alert of the shipped rules,
//! where every alert's `runbook_url` points.

use crate::util;

#[tokio::test(flavor = "multi_thread")]
async fn runbook_serves_an_anchor_for_every_alert() {
    let exporter = util::start(&[]).await;
    let page = exporter.get("/runbook").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.headers["content-type"].to_str().unwrap(),
        "text/html; charset=utf-8"
    );
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/alerts/lotus-follow-exporter.rules.yml"
    ))
    .unwrap();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() > 10, "{alerts:?}");
    for alert in alerts {
        let anchor = alert.to_lowercase();
        assert!(
            page.body
                .contains(&format!("<h3 id=\"{anchor}\">{alert}</h3>")),
            "/runbook has no #{anchor}"
        );
    }
    let landing = exporter.get("/").await;
    assert!(
        landing.body.contains("href=\"/runbook\""),
        "{}",
        landing.body
    );
}
