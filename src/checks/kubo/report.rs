//! What the Kubo check found in one round: one [`KuboReport`] per Kubo and the discovery's
//! check result, as the [`KuboSection`] every view renders. Every string that came from a
//! Kubo or a file is a [`Label`] or a [`Text`], bounded when built.

use std::time::SystemTime;

use super::discovery::{Kubo, Source};
use crate::contract::{CheckResult, CheckStatus, Health, Label, Text};

/// What one Kubo looked like in one round. `None` means "not measured".
#[derive(Debug, Clone)]
pub struct KuboReport {
    /// The `kubo` label: its API address (`127.0.0.1:5001`, `unix:/path`).
    pub label: Label,
    /// Every place that named it (`--kubo.api`, Kubo's config, a follower's `service.json`).
    pub sources: Vec<Source>,
    /// It answered `POST /api/v0/id` as a Kubo in this round.
    pub up: bool,
    /// `ID` of `/api/v0/id`.
    pub peer_id: Option<Label>,
    /// The release in `AgentVersion` (`0.43.1`).
    pub version: Option<Label>,
    /// `AgentVersion` whole (`kubo/0.43.1/<commit>`).
    pub agent_version: Option<Label>,
    /// Healthy exactly when `up` (see `verdict.rs`).
    pub health: Health,
    /// Why it is not healthy, each naming the Kubo (empty when healthy).
    pub reasons: Vec<Text>,
    /// When the round that asked it started.
    pub last_check: SystemTime,
    /// The `kubo_api` result, its `cluster_name` the Kubo's label.
    pub check: CheckResult,
}

impl KuboReport {
    /// The report of `kubo` before it is asked: down, unhealthy, nothing known.
    pub fn unasked(kubo: &Kubo, status: CheckStatus, last_check: SystemTime) -> KuboReport {
        let mut check = CheckResult::new(super::CHECK_API, status, Default::default());
        check.cluster_name = Some(kubo.label.to_string());
        KuboReport {
            label: kubo.label.clone(),
            sources: kubo.sources.clone(),
            up: false,
            peer_id: None,
            version: None,
            agent_version: None,
            health: Health::Unhealthy,
            reasons: Vec::new(),
            last_check,
            check,
        }
    }

    /// The followers whose `service.json` names this Kubo.
    pub fn followers(&self) -> impl Iterator<Item = &Label> {
        self.sources.iter().filter_map(|s| match s {
            Source::Follower { cluster_name, .. } => Some(cluster_name),
            _ => None,
        })
    }
}

/// What the Kubo check found in one round.
#[derive(Debug, Clone)]
pub struct KuboSection {
    /// One report per Kubo watched, in discovery order (none: nothing to watch).
    pub kubos: Vec<KuboReport>,
    /// `kubo_discovery`: skipped when nothing names a Kubo (not exported, no series), failed
    /// when a file could not be read or understood.
    pub discovery: CheckResult,
}

impl KuboSection {
    /// True when there is nothing to show: no Kubo watched and discovery did not fail.
    pub fn is_empty(&self) -> bool {
        self.kubos.is_empty() && self.discovery.status.failure().is_none()
    }

    /// How many of the Kubos answered as a Kubo.
    pub fn up_count(&self) -> usize {
        self.kubos.iter().filter(|k| k.up).count()
    }
}
