//! The finality section of the Lotus check: F3 (Fast Finality) and the node's own finalized
//! tipset, asked concurrently with the rest of the Lotus check under the same deadline.
//!
//! Two sub-checks:
//! - `lotus_f3`: `Filecoin.F3IsRunning`, `F3GetLatestCertificate` and `F3GetProgress` every
//!   scrape; `F3GetManifest` once per Lotus session (like the genesis constants).
//! - `lotus_chain_finality`: `Filecoin.ChainGetTipSetFinalityStatus` on the `/rpc/v2` endpoint
//!   beside the configured one (only where it can be derived: the configured path ends in
//!   `/rpc/vN`); where that endpoint refuses (HTTP 404 or "method not found" in any form, a
//!   reverse proxy's 403, 405, 410 or 501, a page that is not JSON-RPC), v1
//!   `Filecoin.ChainGetFinalizedTipSet`, as for a node without v2, said once at INFO; where that
//!   is missing too, skipped. Which of them the node serves is learned once per session.
//!
//! F3 disabled (error code 4, "f3 is disabled"), a method not served, a node without `/rpc/v2`:
//! skipped, never failed. F3 enabled but not running is a figure (`running = false`), not a
//! failure; a `null` certificate (none yet) leaves the finalized figures unknown.
//!
//! # Caveats
//! - The finalized epoch of a certificate is the **last** entry of `ECChain` (the first is the
//!   base the previous instance finalized), as Lotus's own `cert.ECChain.Head()`.
//! - `F3GetProgress` answers all zeros when F3 is not running: `ID 0` is no instance, so progress
//!   is unknown then, never "instance 0".
//! - Nothing here judges health: an F3 stall is usually network-wide, not this node's fault.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

mod shapes;

pub use shapes::*;

use crate::checks::lotus::rpc::{timed, RpcError, RpcPath};
use crate::checks::lotus::served::Asker;
use crate::checks::lotus::types::{shape, ShapeError};
use crate::contract::{CheckResult, CheckStatus};

/// The `check` label of the F3 sub-check.
pub const F3_CHECK: &str = "lotus_f3";
/// The `check` label of the chain finality sub-check.
pub const CHAIN_CHECK: &str = "lotus_chain_finality";

/// Lotus's `EF3Disabled` (`api/api_errors.go`: `FirstUserCode` 2 + 2).
const F3_DISABLED_CODE: i64 = 4;

/// What is learned once per Lotus session.
#[derive(Debug, Clone, Default)]
pub struct FinalityCache {
    /// The session it was learned in (`None`: not known, e.g. a gateway without `Session`).
    pub session: Option<String>,
    /// The manifest, or why there is none to ask for this session (disabled, not served).
    manifest: Option<Result<F3Manifest, String>>,
    /// Which finality call the node serves.
    route: Option<Route>,
    /// Why the v1 call is used, when `/rpc/v2` refused (said once).
    fallback: Option<String>,
}

impl FinalityCache {
    /// True when which finality call the node serves is not known yet (this session).
    pub fn route_unknown(&self) -> bool {
        self.route.is_none()
    }

    /// Why finality is read from v1, when `/rpc/v2` refused.
    pub fn fallback_note(&self) -> Option<&str> {
        self.fallback.as_deref()
    }
}

/// Which finality call the node serves.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    V2(RpcPath),
    V1,
    /// Neither: the reason (how the node said so).
    Neither(String),
}

/// One call's outcome and how long it took.
type Timed = crate::checks::lotus::rpc::Timed<Value>;

/// The finality calls' raw outcomes, before judging.
pub struct FinalityRound {
    is_running: Timed,
    certificate: Timed,
    progress: Timed,
    /// `None`: settled for this session (in the cache).
    manifest: Option<Timed>,
    chain: ChainRound,
}

/// The chain finality calls of one round.
struct ChainRound {
    v2_path: Option<RpcPath>,
    v2: Option<Result<Value, RpcError>>,
    v1: Option<Result<Value, RpcError>>,
    /// Cached: the node serves neither call.
    neither: Option<String>,
    duration: Duration,
}

/// Ask every finality question of this round concurrently, before `deadline`.
pub async fn collect(asker: &Asker<'_>, cache: &FinalityCache, deadline: Instant) -> FinalityRound {
    let call = |method: &'static str| timed(asker.call(method, json!([]), deadline));
    let (is_running, certificate, progress, manifest, chain) = tokio::join!(
        call("Filecoin.F3IsRunning"),
        call("Filecoin.F3GetLatestCertificate"),
        call("Filecoin.F3GetProgress"),
        async {
            match cache.manifest {
                Some(_) => None,
                None => Some(call("Filecoin.F3GetManifest").await),
            }
        },
        chain_round(asker, cache.route.clone(), deadline),
    );
    FinalityRound {
        is_running,
        certificate,
        progress,
        manifest,
        chain,
    }
}

async fn chain_round(asker: &Asker<'_>, route: Option<Route>, deadline: Instant) -> ChainRound {
    let begun = std::time::Instant::now();
    let v2_path = match &route {
        None => asker.client().v2(),
        Some(Route::V2(path)) => Some(path.clone()),
        Some(_) => None,
    };
    let mut round = ChainRound {
        v2_path: v2_path.clone(),
        v2: None,
        v1: None,
        neither: None,
        duration: Duration::ZERO,
    };
    if let Some(Route::Neither(reason)) = route {
        round.neither = Some(reason);
        return round;
    }
    if let Some(path) = &v2_path {
        let method = "Filecoin.ChainGetTipSetFinalityStatus";
        let answer = asker.call_at(path, method, json!([]), deadline).await;
        let refused = matches!(&answer, Err(e) if e.is_endpoint_refusal());
        round.v2 = Some(answer);
        if !refused {
            round.duration = begun.elapsed();
            return round;
        }
    }
    let method = "Filecoin.ChainGetFinalizedTipSet";
    round.v1 = Some(asker.call(method, json!([]), deadline).await);
    round.duration = begun.elapsed();
    round
}

/// What the round found: the F3 report, the chain finality, their two check results, and the
/// cache to keep for `session`. Lags are filled in by [`set_lags`] once the head is known.
pub fn judge(
    round: FinalityRound,
    cached: &FinalityCache,
    session: Option<&str>,
) -> (F3Report, ChainFinality, Vec<CheckResult>, FinalityCache) {
    let mut cache = cached.clone();
    if session.is_some() {
        cache.session = session.map(String::from);
    }
    let (f3, f3_check) = judge_f3(
        round.is_running,
        round.certificate,
        round.progress,
        round.manifest,
        &mut cache,
    );
    let (chain, chain_check) = judge_chain(round.chain, &mut cache);
    (f3, chain, vec![f3_check, chain_check], cache)
}

/// One F3 call's outcome, classified.
enum Answer {
    Value(Value),
    Disabled(String),
    NotRunning,
    NotServed(String),
    Failed(CheckStatus),
}

fn classify(result: Result<Value, RpcError>) -> Answer {
    match result {
        Ok(value) => Answer::Value(value),
        Err(e @ RpcError::MethodNotFound { .. }) => Answer::NotServed(e.to_string()),
        Err(RpcError::Remote { code, message, .. }) if says_disabled(code, &message) => {
            let code = code.map_or(String::new(), |c| format!(", JSON-RPC code {c}"));
            Answer::Disabled(format!("F3 is disabled on this node (\"{message}\"{code})"))
        }
        Err(RpcError::Remote { message, .. })
            if message.to_ascii_lowercase().contains("not running") =>
        {
            Answer::NotRunning
        }
        Err(RpcError::TimedOut(_)) => Answer::Failed(CheckStatus::TimedOut),
        Err(other) => Answer::Failed(CheckStatus::Failed(other.to_string())),
    }
}

/// Lotus's `ErrF3Disabled`: code 4 saying "disabled", or "f3 is disabled" with any code or none.
fn says_disabled(code: Option<i64>, message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("f3 is disabled")
        || (code == Some(F3_DISABLED_CODE) && message.contains("disabled"))
}

fn judge_f3(
    is_running: Timed,
    certificate: Timed,
    progress: Timed,
    manifest: Option<Timed>,
    cache: &mut FinalityCache,
) -> (F3Report, CheckResult) {
    let duration = [
        Some(is_running.1),
        Some(certificate.1),
        Some(progress.1),
        manifest.as_ref().map(|m| m.1),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or_default();
    let answers = [
        classify(is_running.0),
        classify(certificate.0),
        classify(progress.0),
    ];
    let manifest = manifest.map(|m| classify(m.0));
    let disabled = answers.iter().chain(manifest.iter()).find_map(|a| match a {
        Answer::Disabled(reason) => Some(reason.clone()),
        _ => None,
    });
    let mut report = F3Report::unknown();
    if let Some(reason) = disabled {
        report.state = F3State::Disabled;
        cache.manifest = Some(Err(reason.clone()));
        let result = CheckResult::new(F3_CHECK, CheckStatus::Skipped(reason), duration);
        return (report, result);
    }
    let mut failures: Vec<CheckStatus> = Vec::new();
    let mut fail = |status: CheckStatus| failures.push(status);
    let [is_running, certificate, progress] = answers;
    let not_served: Vec<String> = [&is_running, &certificate, &progress]
        .iter()
        .filter_map(|a| match a {
            Answer::NotServed(reason) => Some(reason.clone()),
            _ => None,
        })
        .collect();
    let running = match is_running {
        Answer::Value(v) => match v.as_bool() {
            Some(running) => Some(running),
            None => {
                fail(shape_failure(shape(
                    "Filecoin.F3IsRunning",
                    "not a boolean",
                )));
                None
            }
        },
        Answer::NotRunning => Some(false),
        Answer::Failed(status) => {
            fail(status);
            None
        }
        Answer::Disabled(_) | Answer::NotServed(_) => None,
    };
    match certificate {
        Answer::Value(v) => match parse_certificate(&v) {
            Ok(Some((instance, epoch))) => {
                report.latest_instance = Some(instance);
                report.finalized_height = Some(epoch);
            }
            Ok(None) => report.no_certificate = true,
            Err(e) => fail(shape_failure(e)),
        },
        Answer::Failed(status) => fail(status),
        _ => {}
    }
    match progress {
        Answer::Value(v) => match parse_progress(&v) {
            Ok(p) => report.progress = p.filter(|_| running != Some(false)),
            Err(e) => fail(shape_failure(e)),
        },
        Answer::Failed(status) => fail(status),
        _ => {}
    }
    match manifest {
        Some(Answer::Value(v)) => match parse_manifest(&v) {
            Ok(m) => cache.manifest = Some(Ok(m)),
            Err(e) => fail(shape_failure(e)),
        },
        Some(Answer::NotServed(reason)) => cache.manifest = Some(Err(reason)),
        Some(Answer::Failed(status)) => fail(status),
        Some(Answer::NotRunning) | Some(Answer::Disabled(_)) | None => {}
    }
    report.manifest = cache.manifest.clone().and_then(Result::ok);
    report.state = match running {
        Some(true) => F3State::Running,
        Some(false) => F3State::NotRunning,
        None if not_served.len() == 3 => F3State::NotServed,
        None => F3State::Unknown,
    };
    let status = if !failures.is_empty() {
        combine(failures)
    } else if report.state == F3State::NotServed {
        CheckStatus::Skipped(not_served.join("; "))
    } else {
        CheckStatus::Ok
    };
    (report, CheckResult::new(F3_CHECK, status, duration))
}

fn judge_chain(round: ChainRound, cache: &mut FinalityCache) -> (ChainFinality, CheckResult) {
    let mut chain = ChainFinality::default();
    let done = |status: CheckStatus| CheckResult::new(CHAIN_CHECK, status, round.duration);
    if let Some(reason) = round.neither {
        return (chain, done(CheckStatus::Skipped(reason)));
    }
    let mut v2_missing = None;
    match round.v2 {
        Some(Ok(value)) => {
            if let Some(path) = round.v2_path {
                cache.route = Some(Route::V2(path));
            }
            let status = match parse_finality_status(&value) {
                Ok(parsed) => {
                    chain = parsed;
                    chain.source = Some(FinalitySource::V2Status);
                    CheckStatus::Ok
                }
                Err(e) => shape_failure(e),
            };
            return (chain, done(status));
        }
        Some(Err(e)) if e.is_endpoint_refusal() => v2_missing = Some(e.to_string()),
        Some(Err(e)) => return (chain, done(failure_of(&e))),
        None => {}
    }
    let v1_route = |cache: &mut FinalityCache| {
        cache.route = Some(Route::V1);
        cache.fallback = v2_missing.as_ref().map(|v2| {
            format!("{v2}: chain finality is read from v1 Filecoin.ChainGetFinalizedTipSet instead, as for a node without /rpc/v2 (asked again when Lotus restarts)")
        });
    };
    let status = match round.v1 {
        Some(Ok(value)) => {
            v1_route(cache);
            match finalized_epoch("Filecoin.ChainGetFinalizedTipSet", &value) {
                Ok(height) => {
                    chain.finalized_height = Some(height);
                    chain.source = Some(FinalitySource::V1Finalized);
                    CheckStatus::Ok
                }
                Err(e) => shape_failure(e),
            }
        }
        // A chain younger than 900 epochs without an F3 certificate: Lotus asks for the tipset
        // at head - 900 and answers "height -897 is negative" (lotus chain/store, seen on a real
        // v1.36.2 devnet). Nothing is final yet: the figure is unknown, the call did its job.
        Some(Err(RpcError::Remote { message, .. })) if says_before_finality(&message) => {
            v1_route(cache);
            CheckStatus::Ok
        }
        Some(Err(e)) if e.is_not_served() => {
            let reason = match v2_missing {
                Some(v2) => format!("{v2}; {e}"),
                None => e.to_string(),
            };
            cache.route = Some(Route::Neither(reason.clone()));
            CheckStatus::Skipped(reason)
        }
        Some(Err(e)) => failure_of(&e),
        None => CheckStatus::Failed("no finality call was made".to_string()),
    };
    (chain, done(status))
}

/// Lags against the head (`head`: this round's `ChainHead` height, when valid). The chain lag
/// uses the v2 answer's own head when it gave one: both heights come from one moment.
pub fn set_lags(f3: &mut F3Report, chain: &mut ChainFinality, head: Option<u64>) {
    let lag = |head: Option<u64>, finalized: Option<u64>| match (head, finalized) {
        (Some(head), Some(finalized)) => Some(head as i64 - finalized as i64),
        _ => None,
    };
    f3.finality_lag_epochs = lag(head, f3.finalized_height);
    chain.finality_lag_epochs = lag(chain.status_head_height.or(head), chain.finalized_height);
}

/// Several failures as one status: timed out when every one timed out, else the reasons.
fn combine(failures: Vec<CheckStatus>) -> CheckStatus {
    if failures.iter().all(|f| *f == CheckStatus::TimedOut) {
        return CheckStatus::TimedOut;
    }
    let mut reasons: Vec<String> = Vec::new();
    for reason in failures.iter().filter_map(CheckStatus::failure) {
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    CheckStatus::Failed(reasons.join("; "))
}

/// Lotus's "height -N is negative": the finalized height of a chain younger than finality.
fn says_before_finality(message: &str) -> bool {
    message
        .strip_prefix("height -")
        .and_then(|rest| rest.strip_suffix(" is negative"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn failure_of(error: &RpcError) -> CheckStatus {
    match error {
        RpcError::TimedOut(_) => CheckStatus::TimedOut,
        other => CheckStatus::Failed(other.to_string()),
    }
}

fn shape_failure(error: ShapeError) -> CheckStatus {
    CheckStatus::Failed(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: Value) -> Timed {
        (Ok(v), Duration::ZERO)
    }

    fn err(code: Option<i64>, message: &str) -> Timed {
        let error = RpcError::Remote {
            method: "Filecoin.F3IsRunning",
            code,
            message: message.to_string(),
        };
        (Err(error), Duration::ZERO)
    }

    fn not_served(method: &'static str) -> Result<Value, RpcError> {
        Err(RpcError::MethodNotFound {
            method,
            evidence: "JSON-RPC -32601".into(),
        })
    }

    fn round(is_running: Timed, certificate: Timed, progress: Timed) -> FinalityRound {
        FinalityRound {
            is_running,
            certificate,
            progress,
            manifest: Some(ok(json!({"NetworkName": "filecoin", "BootstrapEpoch": 10}))),
            chain: ChainRound {
                v2_path: None,
                v2: Some(not_served("Filecoin.ChainGetTipSetFinalityStatus")),
                v1: Some(not_served("Filecoin.ChainGetFinalizedTipSet")),
                neither: None,
                duration: Duration::ZERO,
            },
        }
    }

    #[test]
    fn disabled_f3_is_skipped_with_no_figures() {
        let disabled = || err(Some(4), "f3 is disabled");
        let (f3, chain, checks, cache) = judge(
            round(disabled(), disabled(), disabled()),
            &FinalityCache::default(),
            Some("s"),
        );
        assert_eq!(f3.state, F3State::Disabled);
        assert_eq!(f3.running(), None);
        assert_eq!(f3.manifest, None);
        assert!(matches!(&checks[0].status, CheckStatus::Skipped(r) if r.contains("disabled")));
        assert!(matches!(&checks[1].status, CheckStatus::Skipped(_)));
        assert_eq!(chain.finalized_height, None);
        assert!(matches!(cache.route, Some(Route::Neither(_))));
        assert!(matches!(cache.manifest, Some(Err(_))));
    }

    #[test]
    fn not_running_is_a_figure_not_a_failure() {
        let (f3, _, checks, _) = judge(
            round(
                ok(json!(false)),
                err(Some(1), "f3 is not running"),
                ok(json!({"ID": 0, "Round": 0, "Phase": 0, "Input": null})),
            ),
            &FinalityCache::default(),
            None,
        );
        assert_eq!(f3.running(), Some(false));
        assert_eq!((f3.latest_instance, f3.progress), (None, None));
        assert_eq!(f3.manifest.unwrap().network_name, "filecoin");
        assert_eq!(checks[0].status, CheckStatus::Ok);
    }

    #[test]
    fn a_failing_call_fails_the_check_and_keeps_the_rest() {
        let timed_out = (Err(RpcError::TimedOut("timed out".into())), Duration::ZERO);
        let (f3, _, checks, _) = judge(
            round(
                ok(json!(true)),
                ok(json!({"GPBFTInstance": 7, "ECChain": [{"Epoch": 100}, {"Epoch": 105}]})),
                timed_out,
            ),
            &FinalityCache::default(),
            None,
        );
        assert_eq!(f3.running(), Some(true));
        assert_eq!(f3.finalized_height, Some(105));
        assert_eq!(checks[0].status, CheckStatus::TimedOut);
    }

    #[test]
    fn lags_are_head_minus_finalized() {
        let mut f3 = F3Report::unknown();
        f3.finalized_height = Some(95);
        let mut chain = ChainFinality {
            finalized_height: Some(90),
            ..ChainFinality::default()
        };
        set_lags(&mut f3, &mut chain, Some(100));
        assert_eq!(f3.finality_lag_epochs, Some(5));
        assert_eq!(chain.finality_lag_epochs, Some(10));
        chain.status_head_height = Some(101);
        set_lags(&mut f3, &mut chain, Some(90));
        assert_eq!(
            f3.finality_lag_epochs,
            Some(-5),
            "a head below F3's finality"
        );
        assert_eq!(chain.finality_lag_epochs, Some(11));
    }

    #[test]
    fn a_v1_chain_younger_than_finality_has_nothing_final_yet() {
        // Lotus v1.36.2 on a 3-epoch chain without F3: the tipset at head - 900.
        let mut young = round(
            err(Some(4), "f3 is disabled"),
            err(Some(4), "f3 is disabled"),
            err(Some(4), "f3 is disabled"),
        );
        young.chain.v1 = Some(Err(RpcError::Remote {
            method: "Filecoin.ChainGetFinalizedTipSet",
            code: Some(1),
            message: "height -897 is negative".into(),
        }));
        let (_, chain, checks, cache) = judge(young, &FinalityCache::default(), None);
        assert_eq!(checks[1].status, CheckStatus::Ok);
        assert_eq!(chain.finalized_height, None, "unknown, never 0");
        assert!(matches!(cache.route, Some(Route::V1)));
        assert!(says_before_finality("height -1 is negative"));
        assert!(!says_before_finality("height - is negative"));
        assert!(!says_before_finality("height 5 is negative"));
        assert!(!says_before_finality("blockstore: height -3 is negative"));
    }

    #[test]
    fn disabled_is_read_from_the_code_or_the_message() {
        assert!(says_disabled(Some(4), "f3 is disabled"));
        assert!(says_disabled(None, "F3 is disabled"));
        assert!(!says_disabled(Some(4), "actor not found"));
        assert!(!says_disabled(Some(1), "f3 is not running"));
    }
}
