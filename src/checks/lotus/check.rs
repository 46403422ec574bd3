//! The Lotus check behind the contract: run, bound before anything leaves the check, and the
//! section of a round that did not finish.

use std::time::Duration;

use super::bound::bound_lotus;
use super::{LotusCheck, LotusReport};
use crate::contract::{BoxFuture, Check, Round, Section};

/// The check's name in the registry.
pub const NAME: &str = "lotus";

impl LotusCheck {
    /// The API's TCP host and port when it is on this host, owned (for the report).
    fn api_tcp(&self) -> Option<(String, u16)> {
        self.local_tcp_api()
            .map(|(host, port)| (host.to_string(), port))
    }
}

impl Check for LotusCheck {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run<'a>(&'a self, round: &'a Round) -> BoxFuture<'a, Box<dyn Section>> {
        Box::pin(async move {
            let mut report = self.report(round.deadline, round.processes.clone()).await;
            bound_lotus(&mut report, &self.scrubber);
            report.api_tcp = self.api_tcp();
            Box::new(report) as Box<dyn Section>
        })
    }

    fn timed_out(&self, round: &Round, elapsed: Duration) -> Box<dyn Section> {
        let mut report =
            LotusReport::timed_out(self.api_address().to_string(), round.taken_at, elapsed);
        report.api_tcp = self.api_tcp();
        report.thresholds = self.thresholds.clone();
        Box::new(report)
    }
}
