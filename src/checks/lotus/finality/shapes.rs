//! What the finality section finds (plain report types) and the pure readers of the F3 and v2
//! finality answers, each a function over a JSON value.

use serde_json::Value;

use crate::checks::lotus::types::{self, flex_u64, shape, ShapeError};

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
pub(crate) const MAX_EPOCH: u64 = 1 << 53;

/// The epochs of history Lotus's EC finality calculator reads back from the head
/// (`policy.ChainFinality` + 5, lotus `chain/ecfinality/cache.go`). On a younger chain its walk
/// reaches genesis's parent (not a block header) and fails; v2 `ChainGetTipSetFinalityStatus`
/// logs that at debug level only and answers `ecFinalityThresholdDepth: -1`, which there means
/// "not computed", not "a degraded chain" (seen on a real Lotus v1.36.2 devnet).
pub const EC_CALCULATOR_WINDOW: u64 = 905;

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
    /// `F3GetLatestCertificate` answered `null`: F3 has produced no certificate yet.
    pub no_certificate: bool,
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
            no_certificate: false,
        }
    }

    /// F3's bootstrap epoch, when the head is known to be before it: F3 is not yet activated,
    /// and nothing about it is expected to run, finalize or certify.
    pub fn activates_at(&self, head: Option<u64>) -> Option<u64> {
        let bootstrap = self.manifest.as_ref()?.bootstrap_epoch;
        (head? < bootstrap).then_some(bootstrap)
    }

    /// Epochs since F3's bootstrap epoch without a certificate: the fallback for a finality lag
    /// that cannot exist yet (an F3 activated long ago that never certified anything). `None`
    /// once a certificate exists, before the bootstrap, or where that is unknown.
    pub fn uncertified_epochs(&self, head: Option<u64>) -> Option<u64> {
        let bootstrap = self.manifest.as_ref()?.bootstrap_epoch;
        let head = head?;
        (self.no_certificate && self.latest_instance.is_none() && head >= bootstrap)
            .then(|| head - bootstrap)
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

/// An epoch: a non-negative integer no chain can exceed.
pub(crate) fn epoch(v: &Value) -> Option<u64> {
    flex_u64(v).filter(|e| *e <= MAX_EPOCH)
}

/// A tipset's height, refused above 2^53.
pub(crate) fn finalized_epoch(method: &'static str, v: &Value) -> Result<u64, ShapeError> {
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
    let obj = types::object(M, v)?;
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
    let obj = types::object(M, v)?;
    let network_name = types::string_field(M, obj, "NetworkName")?;
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
    let obj = types::object(M, v)?;
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
    let head = tipset("head")?;
    // -1 below the calculator's window is its failure to compute, not a measurement: unknown.
    let young = head.is_some_and(|h| h < EC_CALCULATOR_WINDOW);
    let depth = depth.filter(|d| !(*d == -1 && young));
    Ok(ChainFinality {
        source: None,
        finalized_height: tipset("finalizedTipSet")?,
        finality_lag_epochs: None,
        ec_threshold_depth: depth,
        ec_finalized_height: tipset("ecFinalizedTipSet")?,
        f3_finalized_height: tipset("f3FinalizedTipSet")?,
        status_head_height: head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert!(parse_finality_status(&json!({"ecFinalityThresholdDepth": -1})).is_ok());
        assert!(parse_finality_status(&json!({"ecFinalityThresholdDepth": -2})).is_err());
    }

    #[test]
    fn minus_one_on_a_chain_younger_than_the_calculator_window_is_unknown() {
        // A real Lotus v1.36.2 devnet at epoch 14: the calculator could not walk 905 epochs.
        let young = |height: u64, depth: i64| {
            parse_finality_status(&json!({
                "ecFinalityThresholdDepth": depth,
                "ecFinalizedTipSet": null,
                "f3FinalizedTipSet": null,
                "finalizedTipSet": {"Cids": [], "Blocks": [], "Height": 0},
                "head": {"Cids": [], "Blocks": [], "Height": height}
            }))
            .unwrap()
            .ec_threshold_depth
        };
        assert_eq!(young(14, -1), None);
        assert_eq!(young(EC_CALCULATOR_WINDOW - 1, -1), None);
        assert_eq!(young(EC_CALCULATOR_WINDOW, -1), Some(-1));
        assert_eq!(young(14, 3), Some(3));
    }
}
