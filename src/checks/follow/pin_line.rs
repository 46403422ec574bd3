//! One line of the `/pins` stream read in place: the parts of a `GlobalPinInfo`
//! (ipfs-cluster `api/types.go`) the counter uses, borrowed from the line, with no allocation
//! per pin (strings with JSON escapes are the exception) and only one `peer_map` entry kept.
//!
//! Read: `created` (the pin's creation time, when it entered the cluster pinset) and, of
//! `peer_map[<own peer id>]` (or the single entry, when the map holds exactly one: a follower
//! only reports itself), `status`, `timestamp` (when that status was entered: for an operation
//! state the operation's last phase change or error, for a pin at rest its creation) and
//! `attempt_count`. Every other field is skipped unread.
//!
//! Liberal: a missing or non-string time, Go's zero time (`0001-01-01T00:00:00Z`) and an
//! unreadable time are unknown (`None`); `attempt_count` may be a number or a string of digits,
//! and anything else is unknown. A missing or empty `status` is `undefined`. Only a line that
//! is not a JSON object, has no `peer_map` object, or whose `status` is not a string is refused.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::times::{parse_go_time, UnixNanos};

/// The visitor methods that take any JSON value but a string as unknown (`Ok(None)`),
/// consuming arrays and objects whole.
macro_rules! any_other_is_unknown {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    };
}

/// What one pin line says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PinLine<'a> {
    /// `created`, when known.
    pub created: Option<UnixNanos>,
    /// `peer_map` was there (an object; `null` or absent is `false`).
    pub has_peer_map: bool,
    /// This peer's entry of `peer_map` (see the module doc); `None` when none is this peer's.
    pub own: Option<PeerEntry<'a>>,
}

/// One `PinInfoShort` of `peer_map`, the fields the counter uses.
#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
pub struct PeerEntry<'a> {
    #[serde(default, borrow)]
    pub status: Cow<'a, str>,
    #[serde(default, deserialize_with = "loose_time")]
    pub timestamp: Option<UnixNanos>,
    #[serde(default, deserialize_with = "loose_count")]
    pub attempt_count: Option<u64>,
}

/// Read one line, attributing `peer_map` entries to `own` (this follower's cluster peer id).
pub fn read<'a>(line: &'a [u8], own: Option<&str>) -> Result<PinLine<'a>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    let parsed = LineSeed { own }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(parsed)
}

struct LineSeed<'s> {
    own: Option<&'s str>,
}

impl<'de> DeserializeSeed<'de> for LineSeed<'_> {
    type Value = PinLine<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<PinLine<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LineSeed<'_> {
    type Value = PinLine<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GlobalPinInfo object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PinLine<'de>, A::Error> {
        let mut line = PinLine::default();
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match key.0.as_ref() {
                "created" => line.created = map.next_value::<LooseTime>()?.0,
                "peer_map" => {
                    let picked = map.next_value_seed(PeerMapSeed { own: self.own })?;
                    line.has_peer_map = picked.is_some();
                    line.own = picked.flatten();
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(line)
    }
}

/// `peer_map`: `null` is `None`; an object is `Some(own entry, if any)`.
struct PeerMapSeed<'s> {
    own: Option<&'s str>,
}

impl<'de> DeserializeSeed<'de> for PeerMapSeed<'_> {
    type Value = Option<Option<PeerEntry<'de>>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for PeerMapSeed<'_> {
    type Value = Option<Option<PeerEntry<'de>>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a peer_map object")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = 0usize;
        let mut own = None;
        let mut first = None;
        while let Some(peer) = map.next_key::<Str<'de>>()? {
            entries += 1;
            let entry = map.next_value::<PeerEntry<'de>>()?;
            if self.own == Some(peer.0.as_ref()) {
                own = Some(entry);
            } else if entries == 1 {
                first = Some(entry);
            }
        }
        Ok(Some(own.or(if entries == 1 { first } else { None })))
    }
}

/// A string borrowed from the line when it has no escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A time that is unknown (`None`) unless it is a readable RFC 3339 string after 1970.
struct LooseTime(Option<UnixNanos>);

impl<'de> Deserialize<'de> for LooseTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        loose_time(d).map(LooseTime)
    }
}

fn loose_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UnixNanos>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<UnixNanos>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an RFC 3339 time")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(parse_go_time(v))
        }
        any_other_is_unknown!();
    }
    d.deserialize_any(V)
}

fn loose_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a count")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(u64::try_from(v).ok())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok((v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 1e15).then_some(v as u64))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.trim().parse().ok())
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_real_line_of_ipfs_cluster_1_1_6() {
        // A pin_error line as a v1.1.6 follower streams it (fields in Go struct order).
        let line = br#"{"cid":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku","name":"b","allocations":[],"origins":[],"created":"2026-12-07T06:59:01.512345678Z","metadata":null,"peer_map":{"12D3KooWMe":{"peername":"host","ipfs_peer_id":"12D3KooWKubo","ipfs_peer_addresses":["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWKubo"],"status":"pin_error","timestamp":"2026-12-07T08:00:05.25+01:00","error":"context deadline exceeded","attempt_count":3,"priority_pin":false}}}"#;
        let read = read(line, Some("12D3KooWMe")).unwrap();
        assert_eq!(
            read.created,
            parse_go_time("2026-12-07T06:59:01.512345678Z")
        );
        assert!(read.has_peer_map);
        let own = read.own.unwrap();
        assert_eq!(own.status, "pin_error");
        assert!(matches!(own.status, Cow::Borrowed(_)), "no allocation");
        assert_eq!(own.timestamp, parse_go_time("2026-12-07T07:00:05.25Z"));
        assert_eq!(own.attempt_count, Some(3));
    }

    #[test]
    fn missing_zero_and_odd_fields_are_unknown_not_errors() {
        /// A line, and its `created`, own `timestamp` and `attempt_count` as read.
        type Case<'a> = (&'a str, Option<UnixNanos>, Option<UnixNanos>, Option<u64>);
        let cases: [Case; 5] = [
            (
                r#"{"peer_map":{"P":{"status":"pinned"}}}"#,
                None,
                None,
                None,
            ),
            (
                r#"{"created":"0001-01-01T00:00:00Z","peer_map":{"P":{"status":"pinned","timestamp":"0001-01-01T00:00:00Z","attempt_count":"2"}}}"#,
                None,
                None,
                Some(2),
            ),
            (
                r#"{"created":null,"peer_map":{"P":{"status":"pinned","timestamp":1735689600,"attempt_count":-1}}}"#,
                None,
                None,
                None,
            ),
            (
                r#"{"created":{"t":1},"peer_map":{"P":{"status":"pinned","timestamp":[1],"attempt_count":{"n":1}}}}"#,
                None,
                None,
                None,
            ),
            (
                r#"{"created":"2025-01-01T00:00:00Z","peer_map":{"P":{"status":"pinned","timestamp":"2025-01-01T00:00:00\u005a","attempt_count":4.0}}}"#,
                Some(1_735_689_600_000_000_000),
                Some(1_735_689_600_000_000_000),
                Some(4),
            ),
        ];
        for (line, created, timestamp, attempts) in cases {
            let read = read(line.as_bytes(), None).unwrap();
            assert_eq!(read.created, created, "{line}");
            let own = read.own.unwrap();
            assert_eq!(own.timestamp, timestamp, "{line}");
            assert_eq!(own.attempt_count, attempts, "{line}");
        }
    }

    #[test]
    fn picks_the_own_entry_or_the_only_one() {
        let two = br#"{"peer_map":{"A":{"status":"pin_error"},"ME":{"status":"pinned"}}}"#;
        assert_eq!(read(two, Some("ME")).unwrap().own.unwrap().status, "pinned");
        assert_eq!(read(two, Some("X")).unwrap().own, None);
        let one = br#"{"peer_map":{"A":{"status":"remote"}}}"#;
        assert_eq!(read(one, Some("ME")).unwrap().own.unwrap().status, "remote");
        let none = br#"{"peer_map":null}"#;
        assert!(!read(none, None).unwrap().has_peer_map);
        let empty = br#"{"peer_map":{}}"#;
        let read_empty = read(empty, None).unwrap();
        assert!(read_empty.has_peer_map && read_empty.own.is_none());
    }

    #[test]
    fn refuses_what_is_not_a_pin_object() {
        for line in [
            &b"[1,2]"[..],
            b"not json",
            br#"{"peer_map":{"a":{"status":1}}}"#,
            br#"{"peer_map":{}} trailing"#,
            br#"{"peer_map":[]}"#,
        ] {
            assert!(
                read(line, None).is_err(),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
