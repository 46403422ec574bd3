//! The contract of a check that can be run on demand against one target (`/probe`, the
//! blackbox_exporter pattern): modules by name, and a fresh check per target.

use std::sync::Arc;
use std::time::Duration;

use super::Check;

/// Why a probe request cannot be served (answered 400 with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("target parameter is missing (/probe?target=<lotus api>&module=lotus)")]
    MissingTarget,
    #[error("unknown module {0:?} (modules: {1})")]
    UnknownModule(String, String),
    #[error("target {target:?} cannot be used: {reason}")]
    BadTarget { target: String, reason: String },
}

/// Builds a check of one target with one module.
pub trait Prober: Send + Sync {
    /// The module used when a request names none.
    fn default_module(&self) -> &str;

    /// The module names, sorted.
    fn modules(&self) -> Vec<String>;

    /// The module's upper bound on a probe (`None`: `--collector.timeout`).
    fn timeout(&self, module: &str) -> Option<Duration>;

    /// A check of `target` with `module`, or why the request cannot be served.
    fn check(&self, target: &str, module: &str) -> Result<Arc<dyn Check>, ProbeError>;
}
