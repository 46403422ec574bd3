//! The `ports` section of `/status`.
//!
//! STUB: to be replaced by the ports check (issue 3).

use serde_json::Value;

use crate::ports::PortsReport;

pub fn render(_report: &PortsReport) -> Value {
    Value::Array(Vec::new())
}
