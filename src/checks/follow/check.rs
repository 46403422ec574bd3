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
}
