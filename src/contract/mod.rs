//! The contract every check implements: [`Check`] runs under a deadline and returns a
//! [`Section`]; a section carries its check results and its verdict, and renders itself into
//! neutral builders ([`metrics::Families`], [`views::StatusDoc`], [`views::TextReport`],
//! [`views::HtmlPage`], [`views::PlanView`]). Nothing above the checks names one: the collector,
//! the snapshot, `/probe` and the renderers loop over sections.
//!
//! A check's `run` never renders; its section's methods never do I/O.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::host::process::ProcessTable;

pub mod limits;
pub mod metrics;
pub mod probe;
pub mod result;
pub mod values;
pub mod views;

pub use limits::{Label, Text};
pub use metrics::{bool_value, Families};
pub use probe::{ProbeError, Prober};
pub use result::*;
pub use views::{HtmlPage, PlanView, StatusDoc, TextReport};

/// A future a check returns (boxed, so checks can sit behind one trait object).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What every check of one round shares: the deadline and the process table read once.
#[derive(Debug, Clone)]
pub struct Round {
    /// Every check returns by then (its calls are cut short, and say "timed out").
    pub deadline: Instant,
    /// The process table, read once per round; the error when it could not be read.
    pub processes: Result<Arc<ProcessTable>, String>,
    /// When the round started (wall clock), for `last_check`.
    pub taken_at: SystemTime,
}

/// One check: runs under the round's deadline and returns its section.
pub trait Check: Send + Sync + 'static {
    /// The check's name in the registry (`lotus`, `follow`, `ports`, `kubo`).
    fn name(&self) -> &'static str;

    /// Run once, by `round.deadline`. Strings from backends are bounded before they enter the
    /// section (through [`Label`] and [`Text`], or the check's own bound).
    fn run<'a>(&'a self, round: &'a Round) -> BoxFuture<'a, Box<dyn Section>>;

    /// The section of a round that did not finish in time: every check of it timed out.
    fn timed_out(&self, round: &Round, elapsed: Duration) -> Box<dyn Section>;

    /// What it watches, in words, for the start-up log (`Lotus at ... (address from ...)`,
    /// `2 followers found: ...`); found by `round.deadline`, without asking any daemon.
    /// `None` when there is nothing to say.
    fn watching<'a>(&'a self, _round: &'a Round) -> BoxFuture<'a, Option<String>> {
        Box::pin(async { None })
    }
}

/// A daemon a section watches whose coming and going is logged once per change (Lotus, each
/// follower): [`Section::watched`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// Who, in words, unique within the section (`Lotus at http://127.0.0.1:1234/rpc/v1`,
    /// `follower mycluster`).
    pub subject: String,
    /// It answers as it should.
    pub up: bool,
    /// Its state in one word (`running`, `stopped`, `error`).
    pub state: &'static str,
    /// Why it is not up (empty when it is).
    pub reason: String,
}

/// What every section is besides its own methods, given to every `Clone` section: a way to be
/// found by type (the registry's joins, tests) and copied (a round's sections are shared by
/// every scrape that joined it).
pub trait SectionBase: Send + Sync + 'static {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn clone_section(&self) -> Box<dyn Section>;
}

impl<T: Section + Clone> SectionBase for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn clone_section(&self) -> Box<dyn Section> {
        Box::new(self.clone())
    }
}

/// What one check found in one round, judged and rendered by itself.
pub trait Section: SectionBase + std::fmt::Debug {
    /// The name of the check that made it (see [`Check::name`]).
    fn check(&self) -> &'static str;

    /// Every check result of the section, in a stable order.
    fn results(&self) -> Vec<&CheckResult>;

    /// The section's health and the reasons for it, without its failed checks (the snapshot
    /// adds those): the only place the section is judged.
    fn health(&self) -> (Health, Vec<String>);

    /// Write its metric families.
    fn metrics(&self, out: &mut Families);

    /// Write its keys of the `/status` document.
    fn status(&self, out: &mut StatusDoc);

    /// Write its lines of the `check` report; `verdict` is the snapshot's verdict on it.
    fn text(&self, verdict: &SectionVerdict, out: &mut TextReport);

    /// Write its summary badge and body of the status page; the badge's colour is `verdict`'s
    /// health (the snapshot's verdict on it), never a judgement of its own.
    fn html(&self, verdict: &SectionVerdict, out: &mut HtmlPage);

    /// Write its part of the `ports` command (nothing by default).
    fn plan(&self, _out: &mut PlanView) {}

    /// For `/probe`: did the probed target answer (`probe_success`)? `None` when the section
    /// has no such notion.
    fn up(&self) -> Option<bool> {
        None
    }

    /// The daemons it watches, each up or down with the reason (none by default).
    fn watched(&self) -> Vec<Watched> {
        Vec::new()
    }
}

impl Clone for Box<dyn Section> {
    fn clone(&self) -> Self {
        self.clone_section()
    }
}

/// The verdict on one section: its health (its own judgement, made worse by any failed check)
/// and every reason for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionVerdict {
    pub check: &'static str,
    pub health: Health,
    pub reasons: Vec<String>,
}

impl SectionVerdict {
    /// Judge a section: its own health, at least degraded when one of its checks failed or
    /// timed out (the failure is a reason).
    pub fn of(section: &dyn Section) -> SectionVerdict {
        let (mut health, mut reasons) = section.health();
        let failed = grouped_errors(section.results());
        if !failed.is_empty() && health == Health::Healthy {
            health = Health::Degraded;
        }
        for line in failed {
            if !reasons.contains(&line) {
                reasons.push(line);
            }
        }
        SectionVerdict {
            check: section.check(),
            health,
            reasons,
        }
    }
}

/// The registry's typed joins, run on every assembled round: facts one check hands another
/// (follower APIs to the port plan, the Lotus port's listener to Lotus). `latest[i]` is the
/// newest *finished* section of check `i` (this round's, or an earlier round's when this one's
/// did not finish), so a slow check does not empty what another check derives from it.
pub type JoinFn = fn(sections: &mut [Box<dyn Section>], latest: &[Option<Arc<dyn Section>>]);

/// A join that hands nothing over (a registry of one check).
pub fn no_join(_: &mut [Box<dyn Section>], _: &[Option<Arc<dyn Section>>]) {}

/// The checks to run, in the order their sections are shown, and the joins between them.
#[derive(Clone)]
pub struct Registry {
    pub checks: Vec<Arc<dyn Check>>,
    pub join: JoinFn,
}

impl Registry {
    /// A registry of one check, with nothing to join (`/probe`).
    pub fn single(check: Arc<dyn Check>) -> Registry {
        Registry {
            checks: vec![check],
            join: no_join,
        }
    }
}
