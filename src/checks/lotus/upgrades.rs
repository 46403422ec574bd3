//! Network upgrades (`lotus_upgrades`): the schedule of upgrade heights and the network version,
//! asked once per Lotus session, and the next scheduled upgrade with its countdown.
//!
//! - The schedule is `Filecoin.StateGetNetworkParams`' `ForkUpgradeParams` (Lotus `api/types.go`:
//!   one `abi.ChainEpoch` per `Upgrade<Name>Height` field), read by pattern, not by a list of
//!   names: a new network version adds a field, and a placeholder name is renamed once the
//!   upgrade is named (`UpgradeXxHeight`). `BlockDelaySecs` beside it gives the epoch length.
//! - The network version is `Filecoin.StateNetworkVersion([null])` (the head). It changes only
//!   at an upgrade height, so it is asked once per session and again only once the head has
//!   reached the next scheduled upgrade (a few epochs late at most); without a schedule, hourly.
//! - A height that is negative (an upgrade run at genesis, as on devnets) or more than a year
//!   ahead of the head is not scheduled: Lotus writes `9999999999` (mainnet),
//!   `999999999999999` (calibnet) or `MaxInt64 - 1` for an upgrade without a date. It gets no
//!   countdown.
//! - The countdown is the upgrade epoch's time (`head timestamp + (epoch - head) * block
//!   delay`, which null rounds do not move) minus now: negative when the clock has passed it
//!   while this node's head has not.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::answers::status_of;
use super::rpc::{timed, Timed};
use super::served::Asker;
use super::types::{flex_u64, object, shape, ShapeError};
use crate::contract::{CheckResult, CheckStatus, Label};

/// The `check` label of this section.
pub const UPGRADES_CHECK: &str = "lotus_upgrades";

/// An upgrade due in less than this is soon: the node's release must support it
/// (`LotusUpgradeSoon` compares `lotus_upgrade_next_seconds < 259200`, the same 72 hours).
pub const UPGRADE_SOON_SECONDS: i64 = 72 * 60 * 60;

/// Further ahead than this, an upgrade height is a placeholder, not a date (a year).
const MAX_SCHEDULED_AHEAD_SECONDS: u64 = 366 * 24 * 60 * 60;

/// The epoch length used to tell a placeholder when the node gives none (mainnet's 30 s).
const PLACEHOLDER_BLOCK_DELAY: u64 = 30;

/// The network version read this close below an upgrade is read again (the head and the version
/// were read by two calls a moment apart).
const REREAD_MARGIN_EPOCHS: u64 = 5;

/// Without a schedule, the network version is asked again after this many epochs (an hour at
/// 30 s epochs).
const REREAD_WITHOUT_SCHEDULE_EPOCHS: u64 = 120;

/// Most upgrade fields read from one answer (mainnet has 33).
const MAX_UPGRADES: usize = 256;

/// One scheduled network upgrade: its name (`FireHorse` from `UpgradeFireHorseHeight`) and height.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    pub name: String,
    pub height: i64,
}

/// `Filecoin.StateGetNetworkParams`, reduced to what the countdown needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schedule {
    /// Every `Upgrade<Name>Height` field, in field-name order.
    pub upgrades: Vec<Upgrade>,
    /// `BlockDelaySecs` (`None` when absent or 0).
    pub block_delay_seconds: Option<u64>,
}

/// What is remembered per Lotus session.
#[derive(Debug, Clone, Default)]
pub struct UpgradeCache {
    schedule: Option<Schedule>,
    network_version: Option<u64>,
    /// The version holds while the head is below this height; `None`: ask again.
    version_holds_below: Option<u64>,
    /// The head height of the last round that had one.
    last_head: Option<u64>,
}

impl UpgradeCache {
    /// True when the network version must be asked this round.
    fn version_stale(&self) -> bool {
        match (
            self.network_version,
            self.version_holds_below,
            self.last_head,
        ) {
            (None, _, _) | (_, None, _) => true,
            (Some(_), Some(below), Some(head)) => head >= below,
            (Some(_), Some(_), None) => false,
        }
    }
}

/// This round's calls (`None`: answered from the session's memory).
pub struct UpgradeRound {
    params: Option<Timed<Value>>,
    version: Option<Timed<Value>>,
}

/// The next scheduled upgrade.
#[derive(Debug, Clone, PartialEq)]
pub struct NextUpgrade {
    /// `FireHorse`, as the field `UpgradeFireHorseHeight` names it.
    pub name: Label,
    pub epoch: u64,
    /// Seconds until its epoch by the head's timestamp and the block delay (negative: the
    /// clock passed it, this node's head did not); `None` without a head timestamp or delay.
    pub seconds: Option<i64>,
}

/// The upgrade figures of one round. `None`: not measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpgradeReport {
    pub network_version: Option<u64>,
    /// The next scheduled upgrade above the head; `None` when none is scheduled or unknown.
    pub next: Option<NextUpgrade>,
}

/// The head as the round saw it, and the block delay `Filecoin.Version` gave.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeadNow {
    pub height: Option<u64>,
    pub timestamp: Option<u64>,
    pub version_block_delay: Option<u64>,
    /// Unix seconds now.
    pub now: u64,
}

/// Ask what this session does not know yet, concurrently.
pub async fn collect(asker: &Asker<'_>, cache: &UpgradeCache, deadline: Instant) -> UpgradeRound {
    let ask_params = cache.schedule.is_none();
    let ask_version = cache.version_stale();
    let (params, version) = tokio::join!(
        async {
            match ask_params {
                true => Some(
                    timed(asker.call("Filecoin.StateGetNetworkParams", json!([]), deadline)).await,
                ),
                false => None,
            }
        },
        async {
            match ask_version {
                true => Some(
                    timed(asker.call("Filecoin.StateNetworkVersion", json!([null]), deadline))
                        .await,
                ),
                false => None,
            }
        },
    );
    UpgradeRound { params, version }
}

/// Read `ForkUpgradeParams` and `BlockDelaySecs` from a `StateGetNetworkParams` answer.
pub fn parse_schedule(v: &Value) -> Result<Schedule, ShapeError> {
    const M: &str = "Filecoin.StateGetNetworkParams";
    let params = object(M, v)?;
    let forks = match params.get("ForkUpgradeParams") {
        Some(Value::Object(forks)) => forks,
        Some(Value::Null) | None => return Err(shape(M, "no ForkUpgradeParams object")),
        Some(_) => return Err(shape(M, "ForkUpgradeParams is not an object")),
    };
    let upgrades = forks
        .iter()
        .filter_map(|(field, height)| {
            let name = field.strip_prefix("Upgrade")?.strip_suffix("Height")?;
            let height = flex_i64(height)?;
            (!name.is_empty()).then(|| Upgrade {
                name: name.to_string(),
                height,
            })
        })
        .take(MAX_UPGRADES)
        .collect();
    Ok(Schedule {
        upgrades,
        block_delay_seconds: params
            .get("BlockDelaySecs")
            .and_then(flex_u64)
            .filter(|d| *d > 0),
    })
}

/// `Filecoin.StateNetworkVersion`: a small non-negative integer (a number, or a string).
pub fn parse_network_version(v: &Value) -> Result<u64, ShapeError> {
    flex_u64(v).filter(|nv| *nv < 1 << 16).ok_or_else(|| {
        shape(
            "Filecoin.StateNetworkVersion",
            "not a network version number",
        )
    })
}

/// An integer that may be negative, sent as a number, a float with no fraction or a string.
fn flex_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            })
        }
        _ => None,
    }
}

/// The next upgrade above `head` that is scheduled (not a placeholder), with its countdown.
pub fn next_upgrade(schedule: &Schedule, head: &HeadNow) -> Option<NextUpgrade> {
    let height = head.height?;
    let delay = schedule.block_delay_seconds.or(head.version_block_delay);
    let most_ahead = MAX_SCHEDULED_AHEAD_SECONDS / delay.unwrap_or(PLACEHOLDER_BLOCK_DELAY).max(1);
    let next = schedule
        .upgrades
        .iter()
        .filter_map(|u| u64::try_from(u.height).ok().map(|h| (h, u)))
        .filter(|(h, _)| *h > height && h - height <= most_ahead)
        .min_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.name.cmp(&y.name)))?;
    let (epoch, upgrade) = next;
    let seconds = match (head.timestamp, delay) {
        (Some(timestamp), Some(delay)) => {
            let at = i128::from(timestamp) + i128::from(epoch - height) * i128::from(delay);
            i64::try_from(at - i128::from(head.now)).ok()
        }
        _ => None,
    };
    Some(NextUpgrade {
        name: Label::new(&upgrade.name),
        epoch,
        seconds,
    })
}

/// Judge this round's answers against the session's memory: the check, the figures, and what
/// to remember.
pub fn judge(
    round: UpgradeRound,
    cache: &UpgradeCache,
    head: &HeadNow,
) -> (CheckResult, UpgradeReport, UpgradeCache) {
    let mut next_cache = cache.clone();
    let mut statuses = Vec::new();
    let mut duration = Duration::ZERO;
    if let Some((answer, took)) = round.params {
        duration = duration.max(took);
        match answer.map(|v| parse_schedule(&v)) {
            Ok(Ok(schedule)) => {
                next_cache.schedule = Some(schedule);
                statuses.push(CheckStatus::Ok);
            }
            Ok(Err(shape)) => statuses.push(CheckStatus::Failed(shape.to_string())),
            Err(e) => statuses.push(status_of(&e)),
        }
    }
    if let Some((answer, took)) = round.version {
        duration = duration.max(took);
        next_cache.network_version = None;
        next_cache.version_holds_below = None;
        match answer.map(|v| parse_network_version(&v)) {
            Ok(Ok(version)) => {
                next_cache.network_version = Some(version);
                next_cache.version_holds_below = head
                    .height
                    .map(|h| holds_below(next_cache.schedule.as_ref(), h));
                statuses.push(CheckStatus::Ok);
            }
            Ok(Err(shape)) => statuses.push(CheckStatus::Failed(shape.to_string())),
            Err(e) => statuses.push(status_of(&e)),
        }
    }
    if head.height.is_some() {
        next_cache.last_head = head.height;
    }
    let report = UpgradeReport {
        network_version: next_cache.network_version,
        next: next_cache
            .schedule
            .as_ref()
            .and_then(|s| next_upgrade(s, head)),
    };
    let status = combined(statuses);
    (
        CheckResult::new(UPGRADES_CHECK, status, duration),
        report,
        next_cache,
    )
}

/// The height below which a network version read at `head` still holds: the first scheduled
/// upgrade above it (a few epochs of margin), or an hour on without a schedule.
fn holds_below(schedule: Option<&Schedule>, head: u64) -> u64 {
    let Some(schedule) = schedule else {
        return head.saturating_add(REREAD_WITHOUT_SCHEDULE_EPOCHS);
    };
    let from = head.saturating_sub(REREAD_MARGIN_EPOCHS);
    schedule
        .upgrades
        .iter()
        .filter_map(|u| u64::try_from(u.height).ok())
        .filter(|h| *h > from)
        .min()
        .unwrap_or(u64::MAX)
}

/// One status for the two calls: a failure if either failed, skipped if both were not served
/// (or nothing at all was asked: everything came from memory, which is Ok).
fn combined(statuses: Vec<CheckStatus>) -> CheckStatus {
    let mut failures: Vec<String> = statuses
        .iter()
        .filter_map(|s| match s {
            CheckStatus::Failed(why) => Some(why.clone()),
            CheckStatus::TimedOut => Some("timed out".to_string()),
            _ => None,
        })
        .collect();
    // Both calls refused for one reason (Lotus down) say it once.
    failures.dedup();
    if !failures.is_empty() {
        if failures == ["timed out"] {
            return CheckStatus::TimedOut;
        }
        return CheckStatus::Failed(failures.join("; "));
    }
    let skipped: Vec<&str> = statuses
        .iter()
        .filter_map(|s| match s {
            CheckStatus::Skipped(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    if !skipped.is_empty() && skipped.len() == statuses.len() {
        return CheckStatus::Skipped(skipped.join("; "));
    }
    CheckStatus::Ok
}

/// The verdict's reason when the next upgrade is due within 72 hours (or overdue): the upgrade
/// and the release this node runs, which the operator checks against the upgrade's release.
pub fn soon_reason(report: &UpgradeReport, release: Option<&str>) -> Option<String> {
    let next = report.next.as_ref()?;
    let seconds = next.seconds?;
    if seconds >= UPGRADE_SOON_SECONDS {
        return None;
    }
    let when = if seconds >= 0 {
        format!("due in {}", in_words(seconds.unsigned_abs()))
    } else {
        format!(
            "past due by the clock by {} while this node's head is below it",
            in_words(seconds.unsigned_abs())
        )
    };
    Some(format!(
        "network upgrade {} at epoch {} is {when} (under 72 h): this node runs Lotus {}; make sure that release supports the upgrade",
        next.name,
        next.epoch,
        release.unwrap_or("(release unknown)")
    ))
}

/// `2d3h`, `5h20m`, `45m`: a countdown to the minute.
pub fn in_words(seconds: u64) -> String {
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, h) => format!("{h}h{minutes}m"),
        (d, h) => format!("{d}d{h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::lotus::rpc::RpcError;

    /// Mainnet's schedule as Lotus v1.36 has it (`build/buildconstants/params_mainnet.go`):
    /// FireHorse at 6052800, Xx a placeholder.
    fn mainnet_params() -> Value {
        json!({
            "NetworkName": "mainnet",
            "BlockDelaySecs": 30,
            "ConsensusMinerMinPower": "10995116277760",
            "PreCommitChallengeDelay": 150,
            "ForkUpgradeParams": {
                "UpgradeSmokeHeight": 51000,
                "BreezeGasTampingDuration": 120,
                "UpgradeGoldenWeekHeight": 5348280,
                "UpgradeFireHorseHeight": "6052800",
                "UpgradeXxHeight": 9999999999i64,
                "UpgradeCalibrationDragonFixHeight": -3,
            },
            "Eip155ChainID": 314,
            "GenesisTimestamp": 1598306400
        })
    }

    fn head_at(height: u64) -> HeadNow {
        let timestamp = 1_598_306_400 + height * 30;
        HeadNow {
            height: Some(height),
            timestamp: Some(timestamp),
            version_block_delay: None,
            now: timestamp + 10,
        }
    }

    #[test]
    fn every_upgrade_height_is_read_by_pattern_numbers_or_strings() {
        let schedule = parse_schedule(&mainnet_params()).unwrap();
        let names: Vec<&str> = schedule.upgrades.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "CalibrationDragonFix",
                "FireHorse",
                "GoldenWeek",
                "Smoke",
                "Xx"
            ]
        );
        assert_eq!(schedule.block_delay_seconds, Some(30));
        assert!(parse_schedule(&json!({"NetworkName": "x"})).is_err());
        assert!(parse_schedule(&json!({"ForkUpgradeParams": []})).is_err());
        assert!(parse_schedule(&json!("x")).is_err());
        assert_eq!(parse_network_version(&json!(28)).unwrap(), 28);
        assert_eq!(parse_network_version(&json!("28")).unwrap(), 28);
        assert!(parse_network_version(&json!(-1)).is_err());
        assert!(parse_network_version(&json!({})).is_err());
    }

    #[test]
    fn the_next_upgrade_is_the_first_scheduled_one_above_the_head() {
        let schedule = parse_schedule(&mainnet_params()).unwrap();
        // 100 epochs before FireHorse: 3000 s by the head's time, 10 s of which have passed.
        let next = next_upgrade(&schedule, &head_at(6_052_700)).unwrap();
        assert_eq!(next.name, "FireHorse");
        assert_eq!(next.epoch, 6_052_800);
        assert_eq!(next.seconds, Some(2990));
        // At FireHorse's epoch it has run; Xx is a placeholder: nothing scheduled.
        assert_eq!(next_upgrade(&schedule, &head_at(6_052_800)), None);
        // Without a head nothing is known; without a timestamp, no countdown.
        assert_eq!(next_upgrade(&schedule, &HeadNow::default()), None);
        let mut head = head_at(6_000_000);
        head.timestamp = None;
        assert_eq!(next_upgrade(&schedule, &head).unwrap().seconds, None);
        // A behind node: the epoch is past by the clock.
        let mut behind = head_at(6_052_700);
        behind.now += 4000;
        assert_eq!(
            next_upgrade(&schedule, &behind).unwrap().seconds,
            Some(-1010)
        );
    }

    #[test]
    fn placeholders_and_negative_heights_are_not_scheduled() {
        for placeholder in [9_999_999_999i64, 999_999_999_999_999, i64::MAX - 1, -30] {
            let schedule = Schedule {
                upgrades: vec![Upgrade {
                    name: "Xx".into(),
                    height: placeholder,
                }],
                block_delay_seconds: Some(30),
            };
            assert_eq!(
                next_upgrade(&schedule, &head_at(6_000_000)),
                None,
                "{placeholder}"
            );
        }
        // On a 4 s devnet a year is more epochs: 200 epochs ahead is scheduled.
        let devnet = Schedule {
            upgrades: vec![Upgrade {
                name: "Xx".into(),
                height: 200,
            }],
            block_delay_seconds: Some(4),
        };
        let head = HeadNow {
            height: Some(10),
            timestamp: Some(1000),
            version_block_delay: None,
            now: 1000,
        };
        assert_eq!(next_upgrade(&devnet, &head).unwrap().seconds, Some(760));
    }

    #[test]
    fn the_version_is_asked_again_only_once_the_head_reaches_the_next_upgrade() {
        let cache = UpgradeCache::default();
        assert!(cache.version_stale());
        let round = UpgradeRound {
            params: Some((Ok(mainnet_params()), Duration::ZERO)),
            version: Some((Ok(json!(27)), Duration::ZERO)),
        };
        let (check, report, cache) = judge(round, &cache, &head_at(6_052_700));
        assert_eq!(check.status, CheckStatus::Ok);
        assert_eq!(report.network_version, Some(27));
        assert_eq!(report.next.as_ref().map(|n| n.epoch), Some(6_052_800));
        assert!(!cache.version_stale());
        // Next rounds, below the upgrade: from memory.
        let quiet = || UpgradeRound {
            params: None,
            version: None,
        };
        let (check, report, cache) = judge(quiet(), &cache, &head_at(6_052_799));
        assert_eq!(check.status, CheckStatus::Ok);
        assert_eq!(report.network_version, Some(27));
        let (_, _, cache) = judge(quiet(), &cache, &head_at(6_052_800));
        assert!(cache.version_stale(), "the head reached the upgrade");
        let round = UpgradeRound {
            params: None,
            version: Some((Ok(json!(28)), Duration::ZERO)),
        };
        let (_, report, cache) = judge(round, &cache, &head_at(6_052_801));
        assert_eq!(report.network_version, Some(28));
        assert_eq!(report.next, None);
        // Read a moment after the upgrade: asked again for a few epochs, then it holds.
        assert!(cache.version_stale());
        let round = UpgradeRound {
            params: None,
            version: Some((Ok(json!(28)), Duration::ZERO)),
        };
        let (_, _, cache) = judge(round, &cache, &head_at(6_052_806));
        assert!(!cache.version_stale());
        assert_eq!(cache.version_holds_below, Some(9_999_999_999));
    }

    #[test]
    fn methods_not_served_are_skipped_and_failures_fail() {
        let not_served = |method| RpcError::MethodNotFound {
            method,
            evidence: "JSON-RPC -32601".into(),
        };
        let round = UpgradeRound {
            params: Some((
                Err(not_served("Filecoin.StateGetNetworkParams")),
                Duration::ZERO,
            )),
            version: Some((
                Err(not_served("Filecoin.StateNetworkVersion")),
                Duration::ZERO,
            )),
        };
        let (check, report, _) = judge(round, &UpgradeCache::default(), &head_at(1));
        assert!(matches!(check.status, CheckStatus::Skipped(_)), "{check:?}");
        assert_eq!(report, UpgradeReport::default());
        let round = UpgradeRound {
            params: Some((Ok(json!({"ForkUpgradeParams": 3})), Duration::ZERO)),
            version: Some((Ok(json!(28)), Duration::ZERO)),
        };
        let (check, report, _) = judge(round, &UpgradeCache::default(), &head_at(1));
        let why = check.status.failure().unwrap();
        assert!(why.contains("ForkUpgradeParams"), "{why}");
        assert_eq!(report.network_version, Some(28), "what answered is kept");
    }

    #[test]
    fn an_upgrade_under_72_hours_is_a_reason_naming_it_and_the_release() {
        let schedule = parse_schedule(&mainnet_params()).unwrap();
        let report = |height| UpgradeReport {
            network_version: Some(27),
            next: next_upgrade(&schedule, &head_at(height)),
        };
        // 8000 epochs = 66h40m ahead.
        let reason = soon_reason(&report(6_044_800), Some("1.33.0")).unwrap();
        assert_eq!(reason, "network upgrade FireHorse at epoch 6052800 is due in 2d18h (under 72 h): this node runs Lotus 1.33.0; make sure that release supports the upgrade");
        // 9000 epochs = 75 h: not yet.
        assert_eq!(soon_reason(&report(6_043_800), Some("1.33.0")), None);
        assert_eq!(soon_reason(&UpgradeReport::default(), None), None);
    }
}
