//! `port_*` metrics from the port plan.
//!
//! STUB: to be replaced by the ports check (issue 3).

use super::Families;
use crate::ports::PortsReport;

pub fn render(_report: &PortsReport, _out: &mut Families) {}
