//! Reads the Grafana dashboard shipped in `grafana/` for the structure and end-to-end tests.

use serde_json::Value;

/// Where the dashboard lives in the repository.
pub const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/grafana/lotus-follow-exporter.json"
);

/// The datasource reference every panel and query must carry: the `datasource` variable.
pub const DATASOURCE_VARIABLE: &str = "${datasource}";

/// The dashboard as JSON.
pub fn load() -> Value {
    let text = std::fs::read_to_string(PATH).unwrap_or_else(|e| panic!("read {PATH}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{PATH} is not JSON: {e}"))
}

/// Every panel, rows included, with the panels of collapsed rows after their row.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in array(&dashboard["panels"]) {
        out.push(panel);
        out.extend(array(&panel["panels"]));
    }
    out
}

/// `(panel title, PromQL expression)` of every query of every panel.
pub fn queries(dashboard: &Value) -> Vec<(String, String)> {
    panels(dashboard)
        .into_iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or("").to_string();
            array(&panel["targets"])
                .iter()
                .filter_map(|t| t["expr"].as_str())
                .map(move |expr| (title.clone(), expr.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `(variable name, series selector)` of every `label_values(SELECTOR, LABEL)` variable query.
pub fn variable_selectors(dashboard: &Value) -> Vec<(String, String)> {
    array(&dashboard["templating"]["list"])
        .iter()
        .filter_map(|var| {
            let query = var["definition"].as_str()?;
            let inner = query.strip_prefix("label_values(")?.strip_suffix(')')?;
            let (selector, _label) = inner.rsplit_once(',')?;
            let name = var["name"].as_str().unwrap_or("");
            Some((format!("variable {name}"), selector.trim().to_string()))
        })
        .collect()
}

/// The template variable called `name`.
pub fn variable<'a>(dashboard: &'a Value, name: &str) -> Option<&'a Value> {
    array(&dashboard["templating"]["list"])
        .iter()
        .find(|v| v["name"] == name)
}

/// A JSON array's items, or none when the value is not an array.
pub fn array(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or(&[])
}
