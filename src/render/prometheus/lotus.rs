//! `lotus_*` metrics from the Lotus report.

use super::Families;
use crate::lotus::LotusReport;

pub fn render(_report: &LotusReport, _out: &mut Families) {}
