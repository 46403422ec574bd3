//! The finality section of the Lotus check: F3 (Fast Finality) and the node's own finalized
//! tipset, asked concurrently with the rest of the Lotus check under the same deadline.
//!
//! Two sub-checks:
//! - `lotus_f3`: `Filecoin.F3IsRunning`, `F3GetLatestCertificate` and `F3GetProgress` every
//!   scrape; `F3GetManifest` once per Lotus session (like the genesis constants).
//! - `lotus_chain_finality`: `Filecoin.ChainGetTipSetFinalityStatus` on the `/rpc/v2` endpoint
//!   beside the configured one; where the node does not serve it (HTTP 404, "method not found"
//!   in any form), v1 `Filecoin.ChainGetFinalizedTipSet`; where that is missing too, skipped.
//!   Which of them the node serves is learned once per session.
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

use super::rpc::{RpcClient, RpcError, RpcPath};
use super::types::{self, flex_u64, shape, ShapeError};
use crate::snapshot::{CheckResult, CheckStatus};

/// The `check` label of the F3 sub-check.
pub const F3_CHECK: &str = "lotus_f3";
/// The `check` label of the chain finality sub-check.
pub const CHAIN_CHECK: &str = "lotus_chain_finality";

/// GPBFT phase names by number (go-f3 `gpbft.Phase`).
pub const PHASES: [&str; 7] = [
    "INITIAL",
    "QUALITY",
    "CONVERGE",
    "PREPARE",
    "COMMIT",
    "DECIDE",
    "TERMINATED",
];

/// The highest epoch an answer may carry (2^53, as for the head).
const MAX_EPOCH: u64 = 1 << 53;

/// Lotus's `EF3Disabled` (`api/api_errors.go`: `FirstUserCode` 2 + 2).
const F3_DISABLED_CODE: i64 = 4;

/// What F3 is doing on the node, in words (`/status` `lotus.f3.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum F3State {
    Running,
    /// Enabled but not running (before the bootstrap epoch, starting, or stopped).
    NotRunning,
    /// Disabled on this node (lite node, `LOTUS_DISABLE_F3_SUBSYSTEM`, a network without F3).
    Disabled,
    /// The node serves none of the F3 methods (an older Lotus, a gateway).
    NotServed,
    Unknown,
}

impl F3State {
    pub fn as_str(self) -> &'static str {
        match self {
            F3State::Running => "running",
            F3State::NotRunning => "not running",
            F3State::Disabled => "disabled",
            F3State::NotServed => "not served",
            F3State::Unknown => "unknown",
        }
    }
}

/// `Filecoin.F3GetManifest`, reduced to what is exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct F3Manifest {
    /// The F3 network name (`filecoin` on mainnet), not the chain's.
    pub network_name: String,
    pub bootstrap_epoch: u64,
}

/// `Filecoin.F3GetProgress` while F3 runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct F3Progress {
    pub instance: u64,
    pub round: u64,
    /// Phase number, see [`PHASES`].
    pub phase: u64,
}

impl F3Progress {
    /// The phase's name, `UNKNOWN` for a number go-f3 does not define.
    pub fn phase_name(&self) -> &'static str {
        usize::try_from(self.phase)
            .ok()
            .and_then(|p| PHASES.get(p).copied())
            .unwrap_or("UNKNOWN")
    }
}

/// What F3 looks like. `None` means unknown, never zero.
#[derive(Debug, Clone, PartialEq)]
pub struct F3Report {
    pub state: F3State,
    pub manifest: Option<F3Manifest>,
    /// `GPBFTInstance` of the latest certificate.
    pub latest_instance: Option<u64>,
    /// The epoch the latest certificate finalized (the last `ECChain` entry).
    pub finalized_height: Option<u64>,
    /// Head height minus `finalized_height`; negative when the head is below what F3 finalized.
    pub finality_lag_epochs: Option<i64>,
    pub progress: Option<F3Progress>,
}

impl F3Report {
    /// Nothing known.
    pub fn unknown() -> F3Report {
        F3Report {
            state: F3State::Unknown,
            manifest: None,
            latest_instance: None,
            finalized_height: None,
            finality_lag_epochs: None,
            progress: None,
        }
    }

    /// `Some(true)` running, `Some(false)` enabled but not running, `None` disabled or unknown.
    pub fn running(&self) -> Option<bool> {
        match self.state {
            F3State::Running => Some(true),
            F3State::NotRunning => Some(false),
            _ => None,
        }
    }
}

/// Where the node's finalized tipset was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalitySource {
    /// `ChainGetTipSetFinalityStatus` on `/rpc/v2` (Lotus v1.35.1+).
    V2Status,
    /// `ChainGetFinalizedTipSet` on v1 (Lotus v1.34.0+): F3's finalized tipset, else head - 900.
    V1Finalized,
}

impl FinalitySource {
    pub fn as_str(self) -> &'static str {
        match self {
            FinalitySource::V2Status => "ChainGetTipSetFinalityStatus",
            FinalitySource::V1Finalized => "ChainGetFinalizedTipSet",
        }
    }
}

/// The node's own view of finality. `None` means unknown, never zero.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChainFinality {
    pub source: Option<FinalitySource>,
    /// The node's "finalized" tipset height (v2 `finalizedTipSet`, else v1).
    pub finalized_height: Option<u64>,
    /// Head minus `finalized_height` (the v2 answer's own head when it gave one).
    pub finality_lag_epochs: Option<i64>,
    /// v2 `ecFinalityThresholdDepth`; -1 when the EC calculator's threshold is not met.
    pub ec_threshold_depth: Option<i64>,
    /// v2 `ecFinalizedTipSet` height (`None` when null).
    pub ec_finalized_height: Option<u64>,
    /// v2 `f3FinalizedTipSet` height (`None` when null: F3 unavailable or over 900 behind).
    pub f3_finalized_height: Option<u64>,
    /// v2 `head` height, the head the status was computed against.
    pub status_head_height: Option<u64>,
}

/// What is learned once per Lotus session.
#[derive(Debug, Clone, Default)]
pub struct FinalityCache {
    /// The session it was learned in (`None`: not known, e.g. a gateway without `Session`).
    pub session: Option<String>,
    /// The manifest, or why there is none to ask for this session (disabled, not served).
    manifest: Option<Result<F3Manifest, String>>,
    /// Which finality call the node serves.
    route: Option<Route>,
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
type Timed = (Result<Value, RpcError>, Duration);

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
pub async fn collect(
    client: &RpcClient,
    cache: &FinalityCache,
    deadline: Instant,
) -> FinalityRound {
    let call = |method: &'static str| timed(client.call(method, json!([]), deadline));
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
        chain_round(client, cache.route.clone(), deadline),
    );
    FinalityRound {
        is_running,
        certificate,
        progress,
        manifest,
        chain,
    }
}

async fn chain_round(client: &RpcClient, route: Option<Route>, deadline: Instant) -> ChainRound {
    let begun = std::time::Instant::now();
    let v2_path = match &route {
        None => client.v2(),
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
        let answer = client.call_at(path, method, json!([]), deadline).await;
        let not_served = matches!(&answer, Err(e) if e.is_not_served());
        round.v2 = Some(answer);
        if !not_served {
            round.duration = begun.elapsed();
            return round;
        }
    }
    let method = "Filecoin.ChainGetFinalizedTipSet";
    round.v1 = Some(client.call(method, json!([]), deadline).await);
    round.duration = begun.elapsed();
    round
}

async fn timed(future: impl std::future::Future<Output = Result<Value, RpcError>>) -> Timed {
    let begun = std::time::Instant::now();
    let result = future.await;
    (result, begun.elapsed())
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
            Ok(None) => {}
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
        Some(Err(e)) if e.is_not_served() => v2_missing = Some(e.to_string()),
        Some(Err(e)) => return (chain, done(failure_of(&e))),
        None => {}
    }
    let status = match round.v1 {
        Some(Ok(value)) => {
            cache.route = Some(Route::V1);
            match finalized_epoch("Filecoin.ChainGetFinalizedTipSet", &value) {
                Ok(height) => {
                    chain.finalized_height = Some(height);
                    chain.source = Some(FinalitySource::V1Finalized);
                    CheckStatus::Ok
                }
                Err(e) => shape_failure(e),
            }
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

fn failure_of(error: &RpcError) -> CheckStatus {
    match error {
        RpcError::TimedOut(_) => CheckStatus::TimedOut,
        other => CheckStatus::Failed(other.to_string()),
    }
}

fn shape_failure(error: ShapeError) -> CheckStatus {
    CheckStatus::Failed(error.to_string())
}

/// An epoch: a non-negative integer no chain can exceed.
fn epoch(v: &Value) -> Option<u64> {
    flex_u64(v).filter(|e| *e <= MAX_EPOCH)
}

/// A tipset's height, refused above 2^53.
fn finalized_epoch(method: &'static str, v: &Value) -> Result<u64, ShapeError> {
    let height = types::parse_tipset(method, v)?.height;
    if height > MAX_EPOCH {
        return Err(shape(method, format!("height {height} is above 2^53")));
    }
    Ok(height)
}

/// `F3GetLatestCertificate`: `(GPBFTInstance, last ECChain epoch)`, `None` for `null`.
pub fn parse_certificate(v: &Value) -> Result<Option<(u64, u64)>, ShapeError> {
    const M: &str = "Filecoin.F3GetLatestCertificate";
    if v.is_null() {
        return Ok(None);
    }
    let obj = v
        .as_object()
        .ok_or_else(|| shape(M, "not a certificate object"))?;
    let instance = obj
        .get("GPBFTInstance")
        .and_then(flex_u64)
        .ok_or_else(|| shape(M, "no GPBFTInstance"))?;
    let chain = obj
        .get("ECChain")
        .and_then(Value::as_array)
        .ok_or_else(|| shape(M, "no ECChain list"))?;
    let last = chain.last().ok_or_else(|| shape(M, "ECChain is empty"))?;
    let finalized = last
        .get("Epoch")
        .and_then(epoch)
        .ok_or_else(|| shape(M, "the last ECChain entry has no Epoch"))?;
    Ok(Some((instance, finalized)))
}

/// `F3GetProgress`: `None` for the all-zero answer of an F3 that is not running.
pub fn parse_progress(v: &Value) -> Result<Option<F3Progress>, ShapeError> {
    const M: &str = "Filecoin.F3GetProgress";
    let obj = v.as_object().ok_or_else(|| shape(M, "not an object"))?;
    let field = |name: &str| {
        obj.get(name)
            .and_then(flex_u64)
            .ok_or_else(|| shape(M, format!("no {name}")))
    };
    let progress = F3Progress {
        instance: field("ID")?,
        round: field("Round")?,
        phase: field("Phase")?,
    };
    let idle = progress.instance == 0 && progress.round == 0 && progress.phase == 0;
    Ok((!idle).then_some(progress))
}

/// `F3GetManifest`: the F3 network name and bootstrap epoch.
pub fn parse_manifest(v: &Value) -> Result<F3Manifest, ShapeError> {
    const M: &str = "Filecoin.F3GetManifest";
    let obj = v.as_object().ok_or_else(|| shape(M, "not an object"))?;
    let network_name = obj
        .get("NetworkName")
        .and_then(Value::as_str)
        .ok_or_else(|| shape(M, "no NetworkName string"))?
        .to_string();
    let bootstrap_epoch = obj
        .get("BootstrapEpoch")
        .and_then(epoch)
        .ok_or_else(|| shape(M, "no BootstrapEpoch"))?;
    Ok(F3Manifest {
        network_name,
        bootstrap_epoch,
    })
}

/// v2 `ChainGetTipSetFinalityStatus`.
pub fn parse_finality_status(v: &Value) -> Result<ChainFinality, ShapeError> {
    const M: &str = "Filecoin.ChainGetTipSetFinalityStatus";
    let obj = v.as_object().ok_or_else(|| shape(M, "not an object"))?;
    let tipset = |name: &str| match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(ts) => finalized_epoch(M, ts).map(Some),
    };
    let depth = match obj.get("ecFinalityThresholdDepth") {
        None | Some(Value::Null) => None,
        Some(d) => Some(
            d.as_i64()
                .or_else(|| d.as_str().and_then(|s| s.trim().parse().ok()))
                .filter(|d| *d >= -1)
                .ok_or_else(|| shape(M, "ecFinalityThresholdDepth is not an integer >= -1"))?,
        ),
    };
    Ok(ChainFinality {
        source: None,
        finalized_height: tipset("finalizedTipSet")?,
        finality_lag_epochs: None,
        ec_threshold_depth: depth,
        ec_finalized_height: tipset("ecFinalizedTipSet")?,
        f3_finalized_height: tipset("f3FinalizedTipSet")?,
        status_head_height: tipset("head")?,
    })
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

    fn certificate(instance: u64, epochs: &[u64]) -> Value {
        let chain: Vec<Value> = epochs
            .iter()
            .map(|e| json!({"Key": [{"/": "bafy"}], "Commitments": "AAAA", "Epoch": e, "PowerTable": {"/": "bafy"}}))
            .collect();
        json!({"GPBFTInstance": instance, "ECChain": chain, "Signers": [1], "Signature": "x"})
    }

    #[test]
    fn the_finalized_epoch_is_the_last_ec_chain_entry() {
        let cert = certificate(446663, &[5691140, 5691145]);
        assert_eq!(parse_certificate(&cert).unwrap(), Some((446663, 5691145)));
        assert_eq!(parse_certificate(&Value::Null).unwrap(), None);
        assert!(parse_certificate(&certificate(1, &[])).is_err());
        assert!(parse_certificate(&json!({"ECChain": []})).is_err());
    }

    #[test]
    fn zero_progress_is_not_instance_zero() {
        let idle = json!({"ID": 0, "Round": 0, "Phase": 0, "Input": null});
        assert_eq!(parse_progress(&idle).unwrap(), None);
        let busy = json!({"ID": 1413, "Round": 1, "Phase": 4, "Input": []});
        let p = parse_progress(&busy).unwrap().unwrap();
        assert_eq!((p.instance, p.round, p.phase), (1413, 1, 4));
        assert_eq!(p.phase_name(), "COMMIT");
        assert!(parse_progress(&json!({"ID": 1})).is_err());
    }

    #[test]
    fn reads_the_manifest_and_the_v2_status() {
        let m = parse_manifest(
            &json!({"NetworkName": "filecoin", "BootstrapEpoch": 4920480, "EC": {"Finality": 900}}),
        )
        .unwrap();
        assert_eq!(m.network_name, "filecoin");
        assert_eq!(m.bootstrap_epoch, 4920480);
        let status = json!({
            "ecFinalityThresholdDepth": -1,
            "ecFinalizedTipSet": null,
            "f3FinalizedTipSet": {"Cids": [], "Blocks": [], "Height": 5700024},
            "finalizedTipSet": {"Cids": [], "Blocks": [], "Height": 5700024},
            "head": {"Cids": [], "Blocks": [], "Height": 5700030}
        });
        let chain = parse_finality_status(&status).unwrap();
        assert_eq!(chain.ec_threshold_depth, Some(-1));
        assert_eq!(chain.ec_finalized_height, None);
        assert_eq!(chain.finalized_height, Some(5700024));
        assert_eq!(chain.status_head_height, Some(5700030));
        assert!(parse_finality_status(&json!({"ecFinalityThresholdDepth": -2})).is_err());
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
            round(ok(json!(true)), ok(certificate(7, &[100, 105])), timed_out),
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
    fn disabled_is_read_from_the_code_or_the_message() {
        assert!(says_disabled(Some(4), "f3 is disabled"));
        assert!(says_disabled(None, "F3 is disabled"));
        assert!(!says_disabled(Some(4), "actor not found"));
        assert!(!says_disabled(Some(1), "f3 is not running"));
    }
}
