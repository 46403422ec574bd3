//! The typed joins between checks, run on every assembled round: the facts one check found that
//! another judges. Each join reads typed values, never an address turned into text and parsed
//! back.
//!
//! - follow → ports: each follower's TCP API, `/id` swarm addresses and pid become its claims in
//!   the port plan (from the newest finished follow section, so a late follow check does not
//!   empty the plan), as an untrusted user's claims when the follower is known only from that
//!   user's process;
//! - ports → lotus: who listens on the Lotus API's port, when the API is on this host and the
//!   listeners were read.

use std::sync::Arc;

use super::follow::{FollowReport, FollowSection};
use super::lotus::LotusReport;
use super::ports::{self, FollowerClaims, PortsSection};
use crate::contract::{limits, Label, Section};

/// The registry's join (see [`crate::contract::JoinFn`]).
pub fn join(sections: &mut [Box<dyn Section>], latest: &[Option<Arc<dyn Section>>]) {
    let claims: Vec<FollowerClaims> = latest
        .iter()
        .flatten()
        .find_map(|s| s.as_any().downcast_ref::<FollowSection>())
        .map(|follow| follow.followers.iter().map(claims_of).collect())
        .unwrap_or_default();
    if let Some(plan) = find_mut::<PortsSection>(sections) {
        plan.join_followers(&claims);
    }
    let listener = {
        let lotus = find_mut::<LotusReport>(sections).and_then(|l| l.api_tcp.clone());
        let plan = find_mut::<PortsSection>(sections);
        match (lotus, plan) {
            (Some((host, port)), Some(plan)) => api_listener(plan, &host, port),
            _ => None,
        }
    };
    if let Some(lotus) = find_mut::<LotusReport>(sections) {
        lotus.api_listener = listener;
    }
}

fn find_mut<T: Section>(sections: &mut [Box<dyn Section>]) -> Option<&mut T> {
    sections
        .iter_mut()
        .find_map(|s| s.as_any_mut().downcast_mut::<T>())
}

/// What a follower claims in the port plan: its API when it is TCP, and the swarm addresses it
/// reported in `/id`. The follow check found these facts; the ports check judges them.
fn claims_of(report: &FollowReport) -> FollowerClaims {
    FollowerClaims {
        cluster_name: report.cluster_name.clone(),
        api: report.api_tcp.clone(),
        swarm_addresses: report.swarm_addresses.clone(),
        pid: report.pid,
        untrusted_user: report.untrusted_user.clone(),
    }
}

/// Who listens on the Lotus API's port (program names, bounded like every string of a report).
fn api_listener(plan: &PortsSection, host: &str, port: u16) -> Option<Vec<Label>> {
    let listeners = plan.observation.listeners.as_deref()?;
    let ip = host.parse::<std::net::IpAddr>().ok();
    let names = ports::tcp_listeners_for(listeners, ip, port);
    Some(limits::capped(names).into_iter().map(Label::new).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::http_client::Endpoint;

    #[test]
    fn a_followers_claims_carry_its_pid_and_its_tcp_api() {
        let tcp = Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 19094,
        };
        let mut report = FollowReport::for_tests("c", tcp);
        report.pid = Some(42);
        report.swarm_addresses = vec!["/ip4/0.0.0.0/tcp/9096".into()];
        let claims = claims_of(&report);
        assert_eq!(claims.cluster_name, "c");
        assert_eq!(
            claims.pid,
            Some(42),
            "the port plan owns its sockets by this pid"
        );
        assert_eq!(claims.api, Some(("127.0.0.1".to_string(), 19094)));
        assert_eq!(claims.swarm_addresses, report.swarm_addresses);
        let unix = FollowReport::for_tests("d", Endpoint::Unix("/f/api-socket".into()));
        assert_eq!(claims_of(&unix).api, None, "a unix socket claims no port");
    }
}
