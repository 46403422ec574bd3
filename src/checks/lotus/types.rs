//! Lotus API shapes, read liberally: numbers may arrive as strings or floats, lists as `null`,
//! optional fields may be missing. Each reader is a pure function over a JSON value.

use std::collections::BTreeSet;

use serde_json::Value;

/// A JSON answer that does not have the documented shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{method} answered with an unexpected shape: {what}")]
pub struct ShapeError {
    pub method: &'static str,
    pub what: String,
}

pub(crate) fn shape(method: &'static str, what: impl Into<String>) -> ShapeError {
    ShapeError {
        method,
        what: what.into(),
    }
}

/// The answer as a JSON object, or the shape error saying it is not one.
pub(crate) fn object<'a>(
    method: &'static str,
    v: &'a Value,
) -> Result<&'a serde_json::Map<String, Value>, ShapeError> {
    v.as_object().ok_or_else(|| shape(method, "not an object"))
}

/// The string field `name` of an answer's object, or the shape error `no NAME string`.
pub(crate) fn string_field(
    method: &'static str,
    obj: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<String, ShapeError> {
    obj.get(name)
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| shape(method, format!("no {name} string")))
}

/// `Filecoin.Version`.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    /// The full version string (`1.34.1+mainnet+git.8a7c1f9`).
    pub version: String,
    pub block_delay_seconds: Option<u64>,
    pub agent: Option<String>,
}

/// The release, build type and commit packed into Lotus's version string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionParts {
    /// `1.34.1` (what Lotus's own `lotus_info{version}` carries, without build metadata).
    pub release: String,
    /// `mainnet`, `calibnet`, `2k`, ... when the build says.
    pub build_type: Option<String>,
    /// The commit hash, without the `git` prefix.
    pub commit: Option<String>,
}

/// Split `1.34.1+mainnet+git.8a7c1f9` into release, build type and commit.
pub fn split_version(version: &str) -> VersionParts {
    let mut parts = version.trim().split('+');
    let release = parts.next().unwrap_or_default().to_string();
    let mut build_type = None;
    let mut commit = None;
    for part in parts {
        if let Some(hash) = part.strip_prefix("git") {
            let hash = hash.trim_start_matches('.');
            if !hash.is_empty() {
                commit = Some(hash.to_string());
            }
        } else if !part.is_empty() && build_type.is_none() {
            build_type = Some(part.to_string());
        }
    }
    VersionParts {
        release,
        build_type,
        commit,
    }
}

/// Lotus's own network names: the build type or the state network name, normalised
/// (`+mainnet` and `testnetnet` give `mainnet`; `+calibnet` and `calibrationnet` give `calibrationnet`).
pub fn normalise_network(name: &str) -> String {
    match name.trim() {
        "mainnet" | "testnetnet" => "mainnet".to_string(),
        "calibnet" | "calibrationnet" => "calibrationnet".to_string(),
        other => other.to_string(),
    }
}

pub fn parse_version(v: &Value) -> Result<Version, ShapeError> {
    const M: &str = "Filecoin.Version";
    let obj = object(M, v)?;
    Ok(Version {
        version: string_field(M, obj, "Version")?,
        block_delay_seconds: obj.get("BlockDelay").and_then(flex_u64).filter(|d| *d > 0),
        agent: obj.get("Agent").and_then(Value::as_str).map(String::from),
    })
}

/// The head (or genesis) tipset, reduced to what we judge.
#[derive(Debug, Clone, PartialEq)]
pub struct TipSet {
    pub height: u64,
    /// The smallest block timestamp (Lotus `MinTimestamp`), unix seconds.
    pub min_timestamp: Option<u64>,
}

pub fn parse_tipset(method: &'static str, v: &Value) -> Result<TipSet, ShapeError> {
    let obj = v
        .as_object()
        .ok_or_else(|| shape(method, "not a tipset object"))?;
    let blocks = obj.get("Blocks").and_then(Value::as_array);
    let height = obj
        .get("Height")
        .and_then(flex_u64)
        .or_else(|| {
            blocks
                .and_then(|b| b.first())
                .and_then(|b| b.get("Height"))
                .and_then(flex_u64)
        })
        .ok_or_else(|| shape(method, "no Height"))?;
    let min_timestamp = blocks.and_then(|blocks| {
        blocks
            .iter()
            .filter_map(|b| b.get("Timestamp").and_then(flex_u64))
            .min()
    });
    Ok(TipSet {
        height,
        min_timestamp,
    })
}

/// Sync stage names, in Lotus's `SyncStateStage` order (`api/api_full.go`).
pub const SYNC_STAGES: [&str; 7] = [
    "idle",
    "header sync",
    "persisting headers",
    "message sync",
    "complete",
    "error",
    "fetching messages",
];

/// Index of the `error` stage in [`SYNC_STAGES`].
pub const STAGE_ERROR: usize = 5;

/// `Filecoin.SyncState`: how many workers sit in each stage, and error messages.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncWorkers {
    /// Count per stage, indexed like [`SYNC_STAGES`].
    pub per_stage: [u64; 7],
    /// Workers whose stage number Lotus does not document (counted nowhere else).
    pub unknown_stage: u64,
    /// Messages of workers in the error stage (at most [`crate::contract::limits::MAX_LIST`]).
    pub errors: Vec<crate::contract::Text>,
}

pub fn parse_sync_state(v: &Value) -> Result<SyncWorkers, ShapeError> {
    const M: &str = "Filecoin.SyncState";
    let obj = object(M, v)?;
    let mut workers = SyncWorkers::default();
    let syncs = match obj.get("ActiveSyncs") {
        None | Some(Value::Null) => return Ok(workers),
        Some(Value::Array(syncs)) => syncs,
        Some(_) => return Err(shape(M, "ActiveSyncs is not a list")),
    };
    for sync in syncs {
        match sync.get("Stage").and_then(stage_index) {
            Some(stage) => {
                workers.per_stage[stage] += 1;
                if stage == STAGE_ERROR {
                    let message = sync.get("Message").and_then(Value::as_str).unwrap_or("");
                    if workers.errors.len() < crate::contract::limits::MAX_LIST {
                        workers.errors.push(crate::contract::Text::new(message));
                    }
                }
            }
            None => workers.unknown_stage += 1,
        }
    }
    Ok(workers)
}

/// A stage as Lotus encodes it (an integer), or by name as some proxies re-encode it.
fn stage_index(v: &Value) -> Option<usize> {
    if let Some(n) = flex_u64(v) {
        return usize::try_from(n).ok().filter(|n| *n < SYNC_STAGES.len());
    }
    let name = v.as_str()?.trim().to_ascii_lowercase();
    SYNC_STAGES.iter().position(|s| *s == name)
}

/// `Filecoin.NetPeers`: the number of unique peer IDs (Lotus lists one entry per connection).
pub fn parse_unique_peers(v: &Value) -> Result<u64, ShapeError> {
    const M: &str = "Filecoin.NetPeers";
    let peers = match v {
        Value::Null => return Ok(0),
        Value::Array(peers) => peers,
        _ => return Err(shape(M, "not a list")),
    };
    let ids = peers
        .iter()
        .map(|p| {
            p.get("ID")
                .and_then(Value::as_str)
                .ok_or_else(|| shape(M, "an entry has no ID string"))
        })
        .collect::<Result<BTreeSet<&str>, _>>()?;
    Ok(ids.len() as u64)
}

/// A plain string answer (`Session`, `StateNetworkName`, `WalletDefaultAddress`).
pub fn parse_string(method: &'static str, v: &Value) -> Result<String, ShapeError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| shape(method, "not a string"))
}

/// `Filecoin.WalletList`: addresses (`null` = none).
pub fn parse_address_list(v: &Value) -> Result<Vec<String>, ShapeError> {
    const M: &str = "Filecoin.WalletList";
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|a| parse_string(M, a))
            .collect::<Result<_, _>>(),
        _ => Err(shape(M, "not a list")),
    }
}

/// `Filecoin.AuthVerify`: the token's permissions.
pub fn parse_permissions(v: &Value) -> Result<Vec<String>, ShapeError> {
    const M: &str = "Filecoin.AuthVerify";
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(|p| parse_string(M, p)).collect(),
        _ => Err(shape(M, "not a list of permissions")),
    }
}

/// `Filecoin.WalletBalance`: an attoFIL decimal string (or, liberally, a JSON integer).
pub fn parse_attofil(v: &Value) -> Result<AttoFil, ShapeError> {
    const M: &str = "Filecoin.WalletBalance";
    let text = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        // A float with no fraction (`1.5e18`) still names a whole number of attoFIL.
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e38 => format!("{f:.0}"),
            _ => return Err(shape(M, "not a whole number of attoFIL")),
        },
        _ => return Err(shape(M, "not an attoFIL decimal string")),
    };
    AttoFil::parse(&text).ok_or_else(|| shape(M, format!("{text:?} is not an attoFIL amount")))
}

/// An exact amount of attoFIL (1 FIL = 10^18 attoFIL, Lotus `FilecoinPrecision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttoFil {
    pub negative: bool,
    pub magnitude: u128,
}

/// attoFIL per FIL (Lotus `build/buildconstants/params_shared_vals.go`, `FilecoinPrecision`).
const ATTO_PER_FIL: u128 = 1_000_000_000_000_000_000;

impl AttoFil {
    /// Parse a decimal integer string (`"-12"`, `"0"`, `"1500000000000000000"`).
    pub fn parse(text: &str) -> Option<AttoFil> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let magnitude = digits.parse::<u128>().ok()?;
        Some(AttoFil {
            negative: negative && magnitude != 0,
            magnitude,
        })
    }

    /// The exact decimal attoFIL string.
    pub fn to_attofil_string(self) -> String {
        if self.negative {
            format!("-{}", self.magnitude)
        } else {
            self.magnitude.to_string()
        }
    }

    /// The amount in FIL as the nearest f64: the integer split is exact, and the decimal text is
    /// rounded once, correctly, by the float parser.
    pub fn to_fil(self) -> f64 {
        let whole = self.magnitude / ATTO_PER_FIL;
        let fraction = self.magnitude % ATTO_PER_FIL;
        let sign = if self.negative { "-" } else { "" };
        format!("{sign}{whole}.{fraction:018}")
            .parse::<f64>()
            .unwrap_or(f64::NAN)
    }
}

/// A non-negative integer sent as a number, a float with no fraction, or a decimal string.
pub fn flex_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
                .map(|f| f as u64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
                    .map(|f| f as u64)
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_lotus_version_strings() {
        let parts = split_version("1.34.1+mainnet+git.8a7c1f9");
        assert_eq!(parts.release, "1.34.1");
        assert_eq!(parts.build_type.as_deref(), Some("mainnet"));
        assert_eq!(parts.commit.as_deref(), Some("8a7c1f9"));
        let dev = split_version("v1.36.2-dev+calibnet+git8a7c1f9");
        assert_eq!(dev.release, "v1.36.2-dev");
        assert_eq!(dev.build_type.as_deref(), Some("calibnet"));
        assert_eq!(dev.commit.as_deref(), Some("8a7c1f9"));
        let bare = split_version("1.20.0");
        assert_eq!((bare.build_type, bare.commit), (None, None));
    }

    #[test]
    fn normalises_network_names_like_lotus() {
        assert_eq!(normalise_network("testnetnet"), "mainnet");
        assert_eq!(normalise_network("mainnet"), "mainnet");
        assert_eq!(normalise_network("calibnet"), "calibrationnet");
        assert_eq!(normalise_network("calibrationnet"), "calibrationnet");
        assert_eq!(normalise_network("butterflynet"), "butterflynet");
    }

    #[test]
    fn reads_version_with_string_or_float_block_delay() {
        let v = parse_version(
            &json!({"Version": "1.0", "APIVersion": 131840, "BlockDelay": "30", "Agent": "lotus"}),
        )
        .unwrap();
        assert_eq!(v.block_delay_seconds, Some(30));
        let v = parse_version(&json!({"Version": "1.0", "BlockDelay": 30.0})).unwrap();
        assert_eq!(v.block_delay_seconds, Some(30));
        let v = parse_version(&json!({"Version": "1.0", "BlockDelay": 0})).unwrap();
        assert_eq!(v.block_delay_seconds, None);
        assert!(parse_version(&json!({"APIVersion": 1})).is_err());
        assert!(parse_version(&json!([1])).is_err());
    }

    #[test]
    fn reads_tipsets_liberally() {
        let ts = parse_tipset(
            "Filecoin.ChainHead",
            &json!({"Cids": [], "Blocks": [{"Timestamp": 200}, {"Timestamp": "100"}], "Height": "4863283"}),
        )
        .unwrap();
        assert_eq!(
            ts,
            TipSet {
                height: 4863283,
                min_timestamp: Some(100)
            }
        );
        let ts = parse_tipset(
            "Filecoin.ChainHead",
            &json!({"Blocks": null, "Height": 5.0}),
        )
        .unwrap();
        assert_eq!(
            ts,
            TipSet {
                height: 5,
                min_timestamp: None
            }
        );
        assert!(parse_tipset("Filecoin.ChainHead", &json!({"Height": -1})).is_err());
        assert!(parse_tipset("Filecoin.ChainHead", &json!("x")).is_err());
    }

    #[test]
    fn counts_sync_workers_by_stage() {
        let state = json!({"ActiveSyncs": [
            {"WorkerID": 1, "Stage": 4}, {"WorkerID": 2, "Stage": 4},
            {"WorkerID": 3, "Stage": "5", "Message": "boom"}, {"WorkerID": 4, "Stage": "message sync"},
            {"WorkerID": 5, "Stage": 99}
        ], "VMApplied": 1});
        let workers = parse_sync_state(&state).unwrap();
        assert_eq!(workers.per_stage, [0, 0, 0, 1, 2, 1, 0]);
        assert_eq!(workers.unknown_stage, 1);
        assert_eq!(workers.errors, vec!["boom"]);
        assert_eq!(
            parse_sync_state(&json!({"ActiveSyncs": null}))
                .unwrap()
                .per_stage,
            [0; 7]
        );
        assert!(parse_sync_state(&json!({"ActiveSyncs": 3})).is_err());
    }

    #[test]
    fn counts_unique_peers_not_connections() {
        let peers = json!([{"ID": "a", "Addrs": []}, {"ID": "a", "Addrs": null}, {"ID": "b"}]);
        assert_eq!(parse_unique_peers(&peers).unwrap(), 2);
        assert_eq!(parse_unique_peers(&Value::Null).unwrap(), 0);
        assert!(parse_unique_peers(&json!({})).is_err());
        assert!(parse_unique_peers(&json!([1, 2, 3])).is_err());
    }

    #[test]
    // The long literal is the exact decimal on purpose: the compiler rounds it to the nearest
    // f64, which is what the conversion must produce.
    #[allow(clippy::excessive_precision)]
    fn converts_attofil_exactly() {
        let cases = [
            ("0", 0.0),
            ("1000000000000000000", 1.0),
            ("1500000000000000000", 1.5),
            ("1", 1e-18),
            ("-2500000000000000000", -2.5),
            ("123456789012345678901234567", 123456789.012345678901234567),
        ];
        for (text, fil) in cases {
            let amount = AttoFil::parse(text).unwrap();
            assert_eq!(amount.to_fil(), fil, "{text}");
            assert_eq!(amount.to_attofil_string(), text);
        }
        assert_eq!(
            parse_attofil(&json!(1000000000000000000u64))
                .unwrap()
                .to_fil(),
            1.0
        );
        for bad in [
            "",
            "-",
            "1.5",
            "abc",
            "1e18",
            "99999999999999999999999999999999999999999",
        ] {
            assert!(AttoFil::parse(bad).is_none(), "{bad}");
        }
        assert!(parse_attofil(&json!(1.5)).is_err());
        assert_eq!(parse_attofil(&json!(1.5e18)).unwrap().to_fil(), 1.5);
        assert_eq!(
            parse_attofil(&json!(-2e18)).unwrap().to_attofil_string(),
            "-2000000000000000000"
        );
    }

    #[test]
    fn reads_flexible_integers() {
        assert_eq!(flex_u64(&json!(5)), Some(5));
        assert_eq!(flex_u64(&json!(5.0)), Some(5));
        assert_eq!(flex_u64(&json!(" 7 ")), Some(7));
        assert_eq!(flex_u64(&json!("7.0")), Some(7));
        assert_eq!(flex_u64(&json!(5.5)), None);
        assert_eq!(flex_u64(&json!(-1)), None);
        assert_eq!(flex_u64(&json!(null)), None);
    }
}
