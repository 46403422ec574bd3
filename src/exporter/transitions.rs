//! State changes worth a log line: Lotus or a follower going down or coming back is logged
//! once, when a scrape first sees it, with the reason; a scrape that sees what the previous one
//! saw logs nothing. The first scrape logs what it finds (up at INFO, down at WARN), a daemon no
//! longer watched (a follower gone from discovery) is said once at INFO.
//!
//! The sections say what they watch ([`crate::contract::Section::watched`]); this never names
//! a check.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::contract::{Section, Watched};

/// The last state seen of every watched daemon, by check and subject.
#[derive(Debug, Default)]
pub struct Transitions {
    seen: Mutex<BTreeMap<(&'static str, String), Watched>>,
}

/// One log line to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub level: log::Level,
    pub message: String,
}

impl Transitions {
    /// Compare what these sections watch with what was seen before, log each change once, and
    /// return the changes (for tests).
    pub fn observe(&self, sections: &[Box<dyn Section>]) -> Vec<Change> {
        let mut seen = crate::host::lock(&self.seen);
        let mut changes = Vec::new();
        for section in sections {
            let check = section.check();
            let now = section.watched();
            for watched in &now {
                let key = (check, watched.subject.clone());
                let before = seen.get(&key);
                if before.is_some_and(|b| b.up == watched.up) {
                    continue;
                }
                changes.push(change(before.is_some(), watched));
                seen.insert(key, watched.clone());
            }
            // Only a section that ran to its end may say a daemon is gone: one cut short by
            // the deadline lists nothing.
            let finished = section
                .results()
                .iter()
                .all(|r| r.status != crate::contract::CheckStatus::TimedOut);
            if finished {
                let gone: Vec<_> = seen
                    .keys()
                    .filter(|(c, subject)| {
                        *c == check && !now.iter().any(|w| &w.subject == subject)
                    })
                    .cloned()
                    .collect();
                for key in gone {
                    seen.remove(&key);
                    changes.push(Change {
                        level: log::Level::Info,
                        message: format!("{} is no longer watched", key.1),
                    });
                }
            }
        }
        drop(seen);
        for change in &changes {
            log::log!(change.level, "{}", change.message);
        }
        changes
    }
}

fn change(seen_before: bool, watched: &Watched) -> Change {
    let (level, message) = match (watched.up, seen_before) {
        (true, false) => (
            log::Level::Info,
            format!("{} is up ({})", watched.subject, watched.state),
        ),
        (true, true) => (
            log::Level::Info,
            format!("{} is up again ({})", watched.subject, watched.state),
        ),
        (false, _) => (
            log::Level::Warn,
            format!(
                "{} is down ({}): {}",
                watched.subject,
                watched.state,
                if watched.reason.is_empty() {
                    "no reason given"
                } else {
                    &watched.reason
                }
            ),
        ),
    };
    Change { level, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{
        CheckResult, Families, Health, HtmlPage, SectionVerdict, StatusDoc, TextReport,
    };

    #[derive(Debug, Clone)]
    struct Fake(Vec<Watched>);

    impl Section for Fake {
        fn check(&self) -> &'static str {
            "fake"
        }
        fn results(&self) -> Vec<&CheckResult> {
            Vec::new()
        }
        fn health(&self) -> (Health, Vec<String>) {
            (Health::Healthy, Vec::new())
        }
        fn metrics(&self, _: &mut Families) {}
        fn status(&self, _: &mut StatusDoc) {}
        fn text(&self, _: &SectionVerdict, _: &mut TextReport) {}
        fn html(&self, _: &SectionVerdict, _: &mut HtmlPage) {}
        fn watched(&self) -> Vec<Watched> {
            self.0.clone()
        }
    }

    fn lotus(up: bool, reason: &str) -> Vec<Box<dyn Section>> {
        vec![Box::new(Fake(vec![Watched {
            subject: "Lotus at http://127.0.0.1:1234/rpc/v1".into(),
            up,
            state: if up { "running" } else { "stopped" },
            reason: reason.into(),
        }]))]
    }

    fn messages(changes: Vec<Change>) -> Vec<String> {
        changes
            .into_iter()
            .map(|c| format!("{} {}", c.level, c.message))
            .collect()
    }

    #[test]
    fn each_change_is_said_once_with_its_reason() {
        let t = Transitions::default();
        assert_eq!(
            messages(t.observe(&lotus(true, ""))),
            ["INFO Lotus at http://127.0.0.1:1234/rpc/v1 is up (running)"]
        );
        assert!(t.observe(&lotus(true, "")).is_empty(), "no change, no line");
        assert_eq!(
            messages(t.observe(&lotus(false, "lotus_version: connection refused"))),
            ["WARN Lotus at http://127.0.0.1:1234/rpc/v1 is down (stopped): lotus_version: connection refused"]
        );
        assert!(t.observe(&lotus(false, "another reason")).is_empty());
        assert_eq!(
            messages(t.observe(&lotus(true, ""))),
            ["INFO Lotus at http://127.0.0.1:1234/rpc/v1 is up again (running)"]
        );
        assert_eq!(
            messages(t.observe(&[Box::new(Fake(Vec::new())) as Box<dyn Section>])),
            ["INFO Lotus at http://127.0.0.1:1234/rpc/v1 is no longer watched"]
        );
    }
}
