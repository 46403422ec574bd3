//! Times as ipfs-cluster writes them: Go's `time.Time` in JSON, RFC 3339 with up to nine
//! fractional digits and the writer's own zone offset (`2026-12-07T08:01:02.123456789+01:00`,
//! `2025-01-01T00:00:00Z`), read into Unix nanoseconds without allocating.
//!
//! Go's zero time (`0001-01-01T00:00:00Z`, what an unset `created` or `timestamp` marshals to)
//! means "unknown": it reads as `None`, as anything before 1970 or unreadable does, never as a
//! time.

/// Nanoseconds since the Unix epoch, UTC.
pub type UnixNanos = i64;

/// Read an RFC 3339 date-time (`T` or `t` or a space between date and time, `Z`/`z` or
/// `±hh:mm`, optional fraction of any length, digits past nanoseconds dropped). `None` for
/// anything else, for Go's zero time and for times before 1970 (no pin is that old: a clock
/// or a writer at fault).
pub fn parse_go_time(text: &str) -> Option<UnixNanos> {
    let b = text.trim().as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    // 60: a leap second, as RFC 3339 allows; taken as the next second's start.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos: i64 = 0;
    if rest.first() == Some(&b'.') {
        let fraction = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if fraction == 0 {
            return None;
        }
        for (i, c) in rest[1..=fraction].iter().enumerate() {
            if i < 9 {
                nanos = nanos * 10 + i64::from(c - b'0');
            }
        }
        for _ in fraction..9 {
            nanos *= 10;
        }
        rest = &rest[1 + fraction..];
    }
    let offset_seconds = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    if seconds < 0 {
        return None;
    }
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Unix nanoseconds as Unix seconds (a float, as Prometheus takes them).
pub fn seconds(nanos: UnixNanos) -> f64 {
    nanos as f64 / 1e9
}

/// Unix nanoseconds as a `SystemTime`.
pub fn system_time(nanos: UnixNanos) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos.max(0) as u64)
}

/// Unix nanoseconds as RFC 3339 in UTC with nanoseconds (`2025-01-01T00:00:00.500000000Z`).
pub fn rfc3339_nanos(nanos: UnixNanos) -> String {
    humantime::format_rfc3339_nanos(system_time(nanos)).to_string()
}

/// How long before `now` the time `nanos` was, in whole seconds (`3h 12m 5s`); `None` when it
/// is after `now` (a clock ahead of the exporter's).
pub fn age(nanos: UnixNanos, now: std::time::SystemTime) -> Option<String> {
    let waited = now.duration_since(system_time(nanos)).ok()?;
    Some(humantime::format_duration(std::time::Duration::from_secs(waited.as_secs())).to_string())
}

fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the date (proleptic Gregorian; H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_go_times_in_every_shape_ipfs_cluster_writes() {
        let cases: [(&str, i64); 7] = [
            ("1970-01-01T00:00:00Z", 0),
            ("2025-01-01T00:00:00Z", 1_735_689_600_000_000_000),
            ("2025-01-01T00:00:00.5Z", 1_735_689_600_500_000_000),
            ("2025-01-01T00:00:00.123456789Z", 1_735_689_600_123_456_789),
            // Digits past nanoseconds are dropped.
            ("2025-01-01T00:00:00.1234567891Z", 1_735_689_600_123_456_789),
            // time.Now() in a zone east of UTC, as a follower writes its operation times.
            ("2025-01-01T01:00:00+01:00", 1_735_689_600_000_000_000),
            (
                "2024-12-31T19:30:00.000000001-04:30",
                1_735_689_600_000_000_001,
            ),
        ];
        for (text, nanos) in cases {
            assert_eq!(parse_go_time(text), Some(nanos), "{text}");
        }
        assert_eq!(
            parse_go_time("2024-02-29T12:00:00Z"),
            Some(1_709_208_000_000_000_000)
        );
    }

    #[test]
    fn zero_time_and_garbage_are_unknown() {
        for text in [
            "0001-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "",
            "2025-01-01",
            "2025-01-01T00:00:00",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:00:00.Z",
            "2025-01-01T00:00:00+0100",
            "2025-01-01T00:00:00Zjunk",
            "yesterday at noon, roughly",
            "2025-01-01T00:00:00\u{e9}",
        ] {
            assert_eq!(parse_go_time(text), None, "{text:?}");
        }
    }

    #[test]
    fn seconds_keep_sub_microsecond_precision_for_today() {
        let nanos = parse_go_time("2026-12-07T07:01:02.123456789Z").unwrap();
        assert!((seconds(nanos) - 1_796_626_862.123_457).abs() < 1e-6);
        assert_eq!(
            system_time(nanos)
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
            nanos as u128
        );
    }
}
