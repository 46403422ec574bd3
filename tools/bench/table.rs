//! The result table: rows printed as they come, the final markdown table, and every figure as JSON.

use std::path::Path;

use serde_json::{json, Map, Value};

/// One line of the table: section, measurement, value, target and verdict (`PASS`, `FAIL` or `info`).
pub type Row = [String; 5];

/// Every row and every raw figure of a run (or of an isolated child run, merged back).
#[derive(Default)]
pub struct Table {
    pub rows: Vec<Row>,
    pub results: Map<String, Value>,
    /// A child run prints its rows to stderr (the parent prints them again when merging).
    pub to_stderr: bool,
}

impl Table {
    /// Adds a row and prints it at once, in fixed-width columns.
    pub fn row(
        &mut self,
        section: &str,
        measurement: &str,
        value: &str,
        target: &str,
        verdict: &str,
    ) {
        let line = format!("  {section:<12} {measurement:<56} {value:<44} {target:<20} {verdict}");
        if self.to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
        self.rows
            .push([section, measurement, value, target, verdict].map(str::to_string));
    }

    /// An informational row (no target).
    pub fn info(&mut self, section: &str, measurement: &str, value: &str) {
        self.row(section, measurement, value, "", "info");
    }

    /// A row judged against `target`.
    pub fn judged(
        &mut self,
        section: &str,
        measurement: &str,
        value: &str,
        target: &str,
        pass: bool,
    ) {
        self.row(
            section,
            measurement,
            value,
            target,
            if pass { "PASS" } else { "FAIL" },
        );
    }

    /// Records a raw figure for the JSON output.
    pub fn result(&mut self, key: impl Into<String>, value: Value) {
        self.results.insert(key.into(), value);
    }

    /// A recorded figure's field as a number (`None` when absent).
    pub fn figure(&self, key: &str, field: &str) -> Option<f64> {
        self.results.get(key)?.get(field)?.as_f64()
    }

    /// Rows whose verdict is FAIL.
    pub fn failed(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| r[4] == "FAIL").collect()
    }

    /// The header of the live rows.
    pub fn print_header() {
        println!(
            "  {:<12} {:<56} {:<44} {:<20} result",
            "section", "measurement", "value", "target"
        );
    }

    /// Every row as a markdown table (the shape BENCHMARKS.md keeps).
    pub fn print_markdown(&self) {
        println!("| section | measurement | value | target | result |");
        println!("|---|---|---|---|---|");
        for row in &self.rows {
            println!("| {} |", row.join(" | "));
        }
    }

    /// Rows and figures as one JSON document, plus whatever `extra` holds.
    pub fn to_json(&self, extra: Map<String, Value>) -> Value {
        let mut out = json!({"rows": self.rows, "results": self.results});
        if let Some(object) = out.as_object_mut() {
            object.extend(extra);
        }
        out
    }

    /// Writes `to_json` to `path`.
    pub fn write_json(&self, path: &Path, extra: Map<String, Value>) -> Result<(), String> {
        let text = serde_json::to_string_pretty(&self.to_json(extra)).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
    }

    /// Merges a child run's JSON (rows printed again, figures added).
    pub fn merge(&mut self, child: &Value) {
        for row in child["rows"].as_array().into_iter().flatten() {
            let cell = |i: usize| row.get(i).and_then(Value::as_str).unwrap_or("");
            self.row(cell(0), cell(1), cell(2), cell(3), cell(4));
        }
        if let Some(results) = child["results"].as_object() {
            self.results.extend(results.clone());
        }
    }
}

/// Milliseconds as the table writes them: two decimals under 10 ms, one above.
pub fn ms(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.1} ms")
    } else {
        format!("{x:.2} ms")
    }
}

/// A number as Python's `{:g}`: up to six significant digits, trailing zeros dropped.
pub fn short(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let digits = 5 - x.abs().log10().floor().clamp(-4.0, 5.0) as i32;
    let text = format!("{x:.*}", digits.max(0) as usize);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_like_python_g() {
        assert_eq!(short(1.0), "1");
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(4.0 / 3.0), "1.33333");
        assert_eq!(short(2.0 / 3.0), "0.666667");
    }

    #[test]
    fn ms_switches_precision_at_ten() {
        assert_eq!(ms(9.876), "9.88 ms");
        assert_eq!(ms(203.84), "203.8 ms");
    }
}
