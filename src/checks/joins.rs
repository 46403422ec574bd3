//! The typed joins between checks, run on every assembled round: the facts one check found that
//! another judges. Each join reads typed values, never an address turned into text and parsed
//! back.
//!
//! - follow → ports: each follower's TCP API, `/id` swarm addresses and pid become its claims in
//!   the port plan (from the newest finished follow section, so a late follow check does not
//!   empty the plan), as an untrusted user's claims when the follower is known only from that
//!   user's process;
//! - ports → lotus: who listens on the Lotus API's port, when the API is on this host and the
//!   listeners were read;
//! - kubo → follow: a follower whose `/id` timed out while its Kubo timed out too is waiting on
//!   that Kubo (ipfs-cluster asks its IPFS daemon before answering `/id`), not hung itself. Its
//!   Kubo is the one its `service.json` names; for a follower whose `service.json` names none
//!   (configured from a URL), any Kubo watched on this host.

use std::sync::Arc;

use super::follow::{FollowReport, FollowSection};
use super::kubo::KuboSection;
use super::lotus::LotusReport;
use super::ports::{self, FollowerClaims, PortsSection};
use crate::contract::{limits, CheckStatus, Label, Section};

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
    let waits: Vec<(String, String)> = match (
        find::<KuboSection>(sections),
        find::<FollowSection>(sections),
    ) {
        (Some(kubo), Some(follow)) => follow
            .followers
            .iter()
            .filter_map(|f| {
                let why = hung_kubo_of(kubo, &f.cluster_name)?;
                Some((f.cluster_name.clone(), why))
            })
            .collect(),
        _ => Vec::new(),
    };
    if let Some(follow) = find_mut::<FollowSection>(sections) {
        for (cluster_name, why) in waits {
            follow.waiting_on_ipfs(&cluster_name, &why);
        }
    }
}

/// The Kubo that follower `cluster_name` uses, in words, when it timed out in this round: the
/// one its `service.json` names, or, when none names it, the first watched Kubo that timed out.
fn hung_kubo_of(kubo: &KuboSection, cluster_name: &str) -> Option<String> {
    let hung = |k: &&crate::checks::kubo::KuboReport| k.check.status == CheckStatus::TimedOut;
    let linked: Vec<_> = kubo
        .kubos
        .iter()
        .filter(|k| k.followers().any(|f| f.as_str() == cluster_name))
        .collect();
    if linked.is_empty() {
        let first = kubo.kubos.iter().find(hung)?;
        return Some(format!(
            "Kubo {} on this host timed out too (its service.json names no Kubo; taken to be that one)",
            first.label
        ));
    }
    let own = linked.into_iter().find(hung)?;
    Some(format!(
        "Kubo {}, which its service.json names, timed out too",
        own.label
    ))
}

fn find<T: Section>(sections: &[Box<dyn Section>]) -> Option<&T> {
    sections.iter().find_map(|s| s.as_any().downcast_ref::<T>())
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

    /// A Kubo section of these (label, timed out, followers naming it) Kubos.
    fn kubos(list: &[(&str, bool, &[&str])]) -> KuboSection {
        use crate::checks::kubo::discovery::{Kubo, Source};
        use crate::contract::{CheckResult, Label, Text};
        let kubos = list
            .iter()
            .map(|(label, hung, followers)| {
                let kubo = Kubo {
                    endpoint: Endpoint::Unix(label.into()),
                    label: Label::new(label),
                    aliases: Vec::new(),
                    sources: followers
                        .iter()
                        .map(|f| Source::Follower {
                            cluster_name: Label::new(f),
                            service_json: Text::new("service.json"),
                        })
                        .collect(),
                };
                let status = if *hung {
                    CheckStatus::TimedOut
                } else {
                    CheckStatus::Ok
                };
                crate::checks::kubo::KuboReport::unasked(&kubo, status, std::time::UNIX_EPOCH)
            })
            .collect();
        KuboSection {
            kubos,
            discovery: CheckResult::new("kubo_discovery", CheckStatus::Ok, Default::default()),
        }
    }

    #[test]
    fn a_follower_waits_on_its_own_kubo_or_on_any_when_it_names_none() {
        let section = kubos(&[("up", false, &["a"]), ("hung", true, &["b"])]);
        assert_eq!(hung_kubo_of(&section, "a"), None, "its own Kubo answers");
        assert!(hung_kubo_of(&section, "b")
            .unwrap()
            .starts_with("Kubo hung, which its service.json names"));
        assert!(hung_kubo_of(&section, "unlinked")
            .unwrap()
            .starts_with("Kubo hung on this host timed out too"));
        let all_up = kubos(&[("up", false, &[])]);
        assert_eq!(hung_kubo_of(&all_up, "unlinked"), None);
    }
}
