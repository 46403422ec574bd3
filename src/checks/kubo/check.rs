//! The Kubo check behind the contract: its run, and the section of a round that did not finish.

use std::time::Duration;

use super::KuboCheck;
use crate::contract::{BoxFuture, Check, Round, Section};

/// The check's name in the registry.
pub const NAME: &str = "kubo";

impl Check for KuboCheck {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Every string of the section is a `Label` or a `Text`: bounded when built, nothing left
    /// to cut here.
    fn run<'a>(&'a self, round: &'a Round) -> BoxFuture<'a, Box<dyn Section>> {
        Box::pin(async move { Box::new(self.section(round.deadline).await) as Box<dyn Section> })
    }

    fn timed_out(&self, round: &Round, elapsed: Duration) -> Box<dyn Section> {
        Box::new(self.unfinished(elapsed, round.taken_at))
    }
}
