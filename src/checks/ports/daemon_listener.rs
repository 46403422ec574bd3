//! What the running Lotus daemon really listens on, set against where the plan claims its API:
//! when the daemon holds no socket on the claimed port but holds others, the port's reason says
//! where it does listen (its API is among them), so a claim from a file the daemon overrides
//! (an `--api` or `LOTUS_API_LISTENADDRESS` this user could not read) does not pass unnoticed.
//!
//! Only sockets whose owner this user can see are counted: where the daemon's are hidden (its
//! `/proc/<pid>/fd` is another user's), nothing is said.

use std::net::IpAddr;

use super::{Listener, PortEntry, SERVICE_LOTUS};
use crate::net::multiaddr::Transport;

/// At most this many of the daemon's listening sockets are named (libp2p adds a few per address
/// family; the rest are counted).
pub const MAX_NAMED_LISTENERS: usize = 8;

/// Add to the entry of the Lotus API's claim a note when the daemon `pid` (the `lotus daemon` of
/// the plan's repo) holds no listener there while it holds other TCP listeners.
pub fn note_daemon_elsewhere(
    entries: &mut [PortEntry],
    listeners: Option<&[Listener]>,
    pid: Option<u32>,
) {
    let (Some(listeners), Some(pid)) = (listeners, pid) else {
        return;
    };
    let held =
        |l: &&Listener| l.protocol == Transport::Tcp && l.holders.iter().any(|h| h.pid == pid);
    let its: Vec<&Listener> = listeners.iter().filter(held).collect();
    if its.is_empty() {
        return;
    }
    for entry in entries.iter_mut() {
        let claims_api = entry.protocol == Transport::Tcp
            && entry
                .claims
                .iter()
                .any(|c| c.service == SERVICE_LOTUS && c.role == "api");
        if !claims_api || its.iter().any(|l| l.port == entry.port) {
            continue;
        }
        let mut sockets: Vec<String> = its.iter().map(|l| socket(l.address, l.port)).collect();
        sockets.sort();
        sockets.dedup();
        let more = sockets.len().saturating_sub(MAX_NAMED_LISTENERS);
        sockets.truncate(MAX_NAMED_LISTENERS);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let note = format!(
            "lotus daemon (pid {pid}) does not listen on this port; it listens on tcp {}{more} \
             (its API is one of them)",
            sockets.join(", ")
        );
        entry.reason = Some(match entry.reason.take() {
            Some(reason) => format!("{reason}; {note}"),
            None => note,
        });
    }
}

/// `127.0.0.1:1234`, `[::]:1234`.
fn socket(address: IpAddr, port: u16) -> String {
    match address {
        IpAddr::V4(ip) => format!("{ip}:{port}"),
        IpAddr::V6(ip) => format!("[{ip}]:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::ports::listeners::Holder;
    use crate::checks::ports::test_claim;

    fn listener(address: &str, port: u16, pid: u32) -> Listener {
        Listener {
            protocol: Transport::Tcp,
            address: address.parse().unwrap(),
            port,
            holders: vec![Holder {
                pid,
                program: "lotus".into(),
                service: Some(SERVICE_LOTUS.into()),
            }],
        }
    }

    fn entry(port: u16, listening: bool) -> PortEntry {
        PortEntry {
            port,
            protocol: Transport::Tcp,
            claims: vec![test_claim(
                SERVICE_LOTUS,
                "api",
                Transport::Tcp,
                "127.0.0.1",
                port,
            )],
            listeners: Some(if listening {
                vec!["lotus".into()]
            } else {
                vec![]
            }),
            conflict: false,
            reason: None,
            untrusted: Default::default(),
            untrusted_collisions: Vec::new(),
        }
    }

    #[test]
    fn a_daemon_listening_elsewhere_is_said_on_the_claimed_port() {
        let listeners = [
            listener("0.0.0.0", 40001, 42),
            listener("::", 40001, 42),
            listener("127.0.0.1", 1235, 42),
            listener("127.0.0.1", 9999, 7),
        ];
        let mut entries = [entry(1234, false)];
        note_daemon_elsewhere(&mut entries, Some(&listeners), Some(42));
        assert_eq!(
            entries[0].reason.as_deref(),
            Some("lotus daemon (pid 42) does not listen on this port; it listens on tcp 0.0.0.0:40001, 127.0.0.1:1235, [::]:40001 (its API is one of them)")
        );
        assert!(!entries[0].conflict, "a note, not a conflict");
    }

    #[test]
    fn nothing_is_said_where_the_daemon_listens_or_cannot_be_seen() {
        let here = [
            listener("127.0.0.1", 1234, 42),
            listener("0.0.0.0", 40001, 42),
        ];
        let mut entries = [entry(1234, true)];
        note_daemon_elsewhere(&mut entries, Some(&here), Some(42));
        assert_eq!(entries[0].reason, None);
        // Its sockets hidden (another user's), no daemon, or the tables not read: silent.
        let hidden = [Listener {
            holders: vec![],
            ..listener("127.0.0.1", 1235, 42)
        }];
        for (listeners, pid) in [
            (Some(&hidden[..]), Some(42)),
            (Some(&here[1..]), None),
            (None, Some(42)),
        ] {
            let mut entries = [entry(1234, false)];
            note_daemon_elsewhere(&mut entries, listeners, pid);
            assert_eq!(entries[0].reason, None);
        }
    }

    #[test]
    fn many_sockets_are_counted_beyond_the_named() {
        let listeners: Vec<Listener> = (0..20)
            .map(|i| listener("0.0.0.0", 41000 + i, 42))
            .collect();
        let mut entries = [entry(1234, false)];
        entries[0].reason = Some("held by x".into());
        note_daemon_elsewhere(&mut entries, Some(&listeners), Some(42));
        let reason = entries[0].reason.clone().unwrap();
        assert!(
            reason.starts_with("held by x; lotus daemon (pid 42)"),
            "{reason}"
        );
        assert!(reason.contains("and 12 more"), "{reason}");
    }
}
