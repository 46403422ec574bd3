//! The follow check behind the contract: every follower's report and the host-level figures
//! as one section, bounded before it leaves the check.

use std::time::Duration;

use super::bound::bound_follow;
use super::{FollowCheck, FollowHost, FollowReport};
use crate::contract::{BoxFuture, Check, Round, Section};

/// The check's name in the registry.
pub const NAME: &str = "follow";

/// What the follow check found in one round: one report per follower, and the figures about
/// the host (the binary, discovery).
#[derive(Debug, Clone, Default)]
pub struct FollowSection {
    pub followers: Vec<FollowReport>,
    pub host: FollowHost,
}

impl FollowSection {
    /// A fact of the Kubo check (the join in `checks/joins.rs`): the IPFS daemon the follower
    /// `cluster_name` uses did not answer in time either, `why`. A follower whose `/id` timed
    /// out is then waiting on it, not hung itself (see `verdict::waiting_on_ipfs`).
    pub fn waiting_on_ipfs(&mut self, cluster_name: &str, why: &str) {
        for report in self
            .followers
            .iter_mut()
            .filter(|f| f.cluster_name == cluster_name)
        {
            super::verdict::waiting_on_ipfs(report, why);
        }
    }
}

impl Check for FollowCheck {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run<'a>(&'a self, round: &'a Round) -> BoxFuture<'a, Box<dyn Section>> {
        Box::pin(async move {
            let (mut followers, mut host) =
                self.reports(round.deadline, round.processes.clone()).await;
            bound_follow(&mut followers, &mut host);
            Box::new(FollowSection { followers, host }) as Box<dyn Section>
        })
    }

    fn timed_out(&self, _round: &Round, elapsed: Duration) -> Box<dyn Section> {
        Box::new(FollowSection {
            followers: Vec::new(),
            host: FollowHost::timed_out(elapsed),
        })
    }

    /// The followers discovery finds now (no API is asked), with where each was found.
    fn watching<'a>(&'a self, round: &'a Round) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let procs = match (&round.processes, self.config.discover_processes) {
                (Ok(table), true) => table.clone(),
                _ => Default::default(),
            };
            let (found, check) = self.discover(round.deadline, procs).await;
            let mut line = match found.followers.len() {
                0 => "no ipfs-cluster follower found".to_string(),
                n => format!(
                    "{n} ipfs-cluster follower{} found: {}",
                    if n == 1 { "" } else { "s" },
                    found
                        .followers
                        .iter()
                        .map(|f| format!("{} ({}, {})", f.name, f.source.label(), f.api_display()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            line.push_str(&format!(
                " (config folder {}, process discovery {})",
                self.config.config_dir.display(),
                if self.config.discover_processes {
                    "on"
                } else {
                    "off"
                }
            ));
            if let Some(problem) = check.status.failure() {
                line.push_str(&format!("; discovery failed: {problem}"));
            }
            Some(line)
        })
    }
}
