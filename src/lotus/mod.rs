//! The Lotus check (STUB, being written).

use crate::snapshot::CheckResult;

#[derive(Debug, Clone, Default)]
pub struct LotusReport {
    pub checks: Vec<CheckResult>,
}
