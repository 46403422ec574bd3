//! The ports check behind the contract: what the host's configs and sockets say, made into the
//! port plan once the followers' claims are joined in (see `checks/joins.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::bound::{bound_ports, cap_port_entries, MAX_PORT_ENTRIES};
use super::{assemble_with, FollowerClaims, PortsCheck, PortsObservation, PortsReport};
use crate::contract::{BoxFuture, Check, Round, Section};

/// The check's name in the registry.
pub const NAME: &str = "ports";

/// Set once the port-plan cap has been logged (a scrape every 15 s must not flood the log).
static PORT_CAP_LOGGED: AtomicBool = AtomicBool::new(false);

/// What the ports check found in one round, and the plan made of it.
#[derive(Debug, Clone, Default)]
pub struct PortsSection {
    /// The configs and sockets, before the followers' claims.
    pub observation: PortsObservation,
    /// The plan: the observation with the followers' claims joined in (none until joined).
    pub report: PortsReport,
}

impl PortsSection {
    /// A section of this observation, planned without followers' claims.
    pub fn new(observation: PortsObservation) -> PortsSection {
        let mut section = PortsSection {
            observation,
            report: PortsReport::default(),
        };
        section.join_followers(&[]);
        section
    }

    /// Make the plan again with these followers' claims (the registry's join).
    pub fn join_followers(&mut self, followers: &[FollowerClaims]) {
        let mut report = assemble_with(self.observation.clone(), followers);
        let dropped = cap_port_entries(&mut report.entries);
        if dropped > 0 && !PORT_CAP_LOGGED.swap(true, Ordering::Relaxed) {
            log::warn!(
                "port plan: {dropped} entries beyond {MAX_PORT_ENTRIES} left out (conflicts kept first)"
            );
        }
        self.report = report;
    }
}

impl Check for PortsCheck {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run<'a>(&'a self, round: &'a Round) -> BoxFuture<'a, Box<dyn Section>> {
        Box::pin(async move {
            let table = round.processes.clone().unwrap_or_default();
            let mut observation = self.observe(round.deadline, table).await;
            bound_ports(&mut observation);
            Box::new(PortsSection::new(observation)) as Box<dyn Section>
        })
    }

    fn timed_out(&self, _round: &Round, elapsed: Duration) -> Box<dyn Section> {
        Box::new(PortsSection::new(PortsObservation::timed_out(elapsed)))
    }
}
