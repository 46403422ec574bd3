//! The Lotus check behind the contract: run, bound before anything leaves the check, and the
//! section of a round that did not finish.

use std::time::Duration;

use super::bound::bound_lotus;
use super::{LotusCheck, LotusReport};
use crate::contract::{BoxFuture, Check, Round, Section};
use crate::secret::Scrubber;

/// The check's name in the registry.
pub const NAME: &str = "lotus";

impl Check for LotusCheck {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run<'a>(&'a self, round: &'a Round) -> BoxFuture<'a, Box<dyn Section>> {
        Box::pin(async move {
            let connection = self.connection_now(round.deadline).await;
            let mut report = self
                .report_on(&connection, round.deadline, round.processes.clone())
                .await;
            // Answers were scrubbed when read; this is the second line of defence (and the bound).
            match connection.scrubbers.as_slice() {
                [] => bound_lotus(&mut report, &Scrubber::default()),
                scrubbers => {
                    for scrubber in scrubbers {
                        bound_lotus(&mut report, scrubber);
                    }
                }
            }
            report.api_tcp = connection.local_tcp_api(self.host_checks);
            report.api_source = connection.api_source.clone();
            Box::new(report) as Box<dyn Section>
        })
    }

    fn timed_out(&self, round: &Round, elapsed: Duration) -> Box<dyn Section> {
        let mut report = LotusReport::timed_out(self.api_address(), round.taken_at, elapsed);
        report.api_tcp = self.local_tcp_api();
        report.api_source = self.api_source();
        report.thresholds = self.thresholds.clone();
        Box::new(report)
    }
}
