//! Incremental counter for the NDJSON `/pins` stream: count pins by this peer's TrackerStatus,
//! and keep the pin freshness figures, one line at a time, never holding more than one partial
//! line.
//!
//! The stream is what ipfs-cluster's `StreamResponse` writes: one `GlobalPinInfo` JSON object per
//! line (Go's `json.Encoder`, which ends every object with `\n`). Each line is counted by
//! `peer_map[<own peer id>].status`, or by the single entry when the map holds exactly one (a
//! follower only ever reports itself). A line whose map has neither is counted as `undefined`,
//! the TrackerStatus for "no information". Beside the counts, in constant memory whatever the
//! number of pins: the newest `created` of any pin, the oldest per-peer `timestamp` of the pins
//! in each of [`AGE_STATES`], and the largest `attempt_count` (see `pin_line.rs` for how each
//! field is read, and what counts as unknown).
//!
//! # Caveats
//! A status string this exporter does not know (a newer ipfs-cluster) is counted under its own
//! name, up to [`MAX_DISTINCT_STATUSES`] names, then as `undefined`, so a misbehaving peer cannot
//! blow up the label set.

use std::collections::BTreeMap;

use super::pin_line;
use super::times::UnixNanos;

/// Every TrackerStatus a pin can have (ipfs-cluster `api/types.go trackerStatusString`); the
/// filter-only composites `error` and `queued` are not among them.
pub const TRACKER_STATES: [&str; 13] = [
    "undefined",
    "cluster_error",
    "pin_error",
    "unpin_error",
    "pinned",
    "pinning",
    "unpinning",
    "unpinned",
    "remote",
    "pin_queued",
    "unpin_queued",
    "sharded",
    "unexpectedly_unpinned",
];

/// The operation states: served from the pin tracker's memory, cheap enough for every scrape
/// (ipfs-cluster `pintracker/stateless StatusAll`).
pub const OPERATION_STATES: [&str; 7] = [
    "pin_queued",
    "pinning",
    "pin_error",
    "unpin_queued",
    "unpinning",
    "unpin_error",
    "cluster_error",
];

/// The states that mean a pin operation failed (the filter composite `error`).
/// In the cluster pinset, not pinned on the IPFS daemon, no operation running (ipfs-cluster
/// PR #1537; `pin_error` before it): pins lost under the follower. Only the full listing has it.
pub const UNEXPECTEDLY_UNPINNED: &str = "unexpectedly_unpinned";

pub const ERROR_STATES: [&str; 3] = ["pin_error", "unpin_error", "cluster_error"];

/// The states whose oldest per-peer `timestamp` is kept: how long the oldest pin has waited in
/// the queue, been pinning, or been failing since its last attempt.
pub const AGE_STATES: [&str; 3] = ["pin_queued", "pinning", "pin_error"];

/// The states a pin waits in before it is pinned: one that stays too long is stuck
/// (`ClusterFollowPinsStuck`).
pub const WAITING_STATES: [&str; 2] = ["pin_queued", "pinning"];

/// At most this many distinct status names are kept; further unknown ones count as `undefined`.
pub const MAX_DISTINCT_STATUSES: usize = 32;

/// Why a pin stream could not be counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinStreamError {
    #[error("pin line {line} is longer than the cap of {cap} bytes")]
    LineTooLong { line: u64, cap: usize },
    #[error("pin line {line} is not a pin status object ({reason}): {excerpt}")]
    BadLine {
        line: u64,
        reason: String,
        excerpt: String,
    },
}

/// What a finished stream held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinCounts {
    /// Pins per TrackerStatus string (only statuses seen; callers add the zeros they need).
    pub by_status: BTreeMap<String, u64>,
    /// Number of pins (non-empty lines) counted.
    pub pins: u64,
    /// Body bytes fed to the counter.
    pub bytes: u64,
    /// The most bytes the counter ever held between chunks (one partial line at most).
    pub max_buffered: usize,
    /// The newest `created` of the pins counted; `None` when no pin had a known one.
    pub newest_created: Option<UnixNanos>,
    /// The oldest own `timestamp` among the pins in each of [`AGE_STATES`] (same order);
    /// `None` where no pin in that state had a known one.
    pub oldest: [Option<UnixNanos>; AGE_STATES.len()],
    /// The largest own `attempt_count` of the pins counted; `None` when no pin had one.
    pub attempts_max: Option<u64>,
}

impl PinCounts {
    /// The oldest own `timestamp` per state of [`AGE_STATES`], only the states that have one.
    pub fn oldest_by_state(&self) -> impl Iterator<Item = (&'static str, UnixNanos)> + '_ {
        AGE_STATES
            .iter()
            .zip(self.oldest)
            .filter_map(|(state, at)| Some((*state, at?)))
    }
}

/// Counts a `/pins` NDJSON stream fed in arbitrary chunks.
#[derive(Debug)]
pub struct PinCounter {
    own_peer: Option<String>,
    line_cap: usize,
    partial: Vec<u8>,
    counts: PinCounts,
}

impl PinCounter {
    /// A counter attributing each pin to `own_peer` (this follower's cluster peer id), with at
    /// most `line_cap` bytes per line.
    pub fn new(own_peer: Option<String>, line_cap: usize) -> PinCounter {
        PinCounter {
            own_peer,
            line_cap,
            partial: Vec::new(),
            counts: PinCounts::default(),
        }
    }

    /// Feed the next chunk of the body; complete lines are counted at once.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), PinStreamError> {
        self.counts.bytes += chunk.len() as u64;
        if !self.partial.is_empty() {
            match memchr(chunk) {
                Some(end) => {
                    self.buffer(&chunk[..end])?;
                    let line = std::mem::take(&mut self.partial);
                    self.count_line(&line)?;
                    chunk = &chunk[end + 1..];
                }
                None => return self.buffer(chunk),
            }
        }
        while let Some(end) = memchr(chunk) {
            if end > self.line_cap {
                return Err(self.too_long());
            }
            self.count_line(&chunk[..end])?;
            chunk = &chunk[end + 1..];
        }
        self.buffer(chunk)
    }

    /// End of stream: count a last line without its newline and return the totals.
    pub fn finish(mut self) -> Result<PinCounts, PinStreamError> {
        let line = std::mem::take(&mut self.partial);
        self.count_line(&line)?;
        Ok(self.counts)
    }

    /// The most bytes held between chunks so far.
    pub fn max_buffered(&self) -> usize {
        self.counts.max_buffered
    }

    fn buffer(&mut self, bytes: &[u8]) -> Result<(), PinStreamError> {
        if self.partial.len() + bytes.len() > self.line_cap {
            return Err(self.too_long());
        }
        self.partial.extend_from_slice(bytes);
        self.counts.max_buffered = self.counts.max_buffered.max(self.partial.len());
        Ok(())
    }

    fn too_long(&self) -> PinStreamError {
        PinStreamError::LineTooLong {
            line: self.counts.pins + 1,
            cap: self.line_cap,
        }
    }

    fn count_line(&mut self, line: &[u8]) -> Result<(), PinStreamError> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let number = self.counts.pins + 1;
        if number == 1 && line.trim_ascii_start().starts_with(b"[") {
            return Err(PinStreamError::BadLine {
                line: number,
                reason: "a JSON array (pre-1.0 ipfs-cluster?), not one pin status object a line"
                    .to_string(),
                excerpt: excerpt(line),
            });
        }
        let parsed = pin_line::read(line, self.own_peer.as_deref()).map_err(|e| {
            PinStreamError::BadLine {
                line: number,
                reason: e.to_string(),
                excerpt: excerpt(line),
            }
        })?;
        if !parsed.has_peer_map {
            return Err(PinStreamError::BadLine {
                line: number,
                reason: "no peer_map".to_string(),
                excerpt: excerpt(line),
            });
        }
        let counts = &mut self.counts;
        counts.pins += 1;
        if let Some(created) = parsed.created {
            counts.newest_created = Some(counts.newest_created.map_or(created, |n| n.max(created)));
        }
        let status = parsed
            .own
            .as_ref()
            .map(|own| own.status.as_ref())
            .filter(|s| !s.is_empty())
            .unwrap_or("undefined");
        if let Some(own) = &parsed.own {
            if let Some(attempts) = own.attempt_count {
                counts.attempts_max =
                    Some(counts.attempts_max.map_or(attempts, |m| m.max(attempts)));
            }
            let slot = AGE_STATES.iter().position(|s| *s == status);
            if let (Some(slot), Some(at)) = (slot, own.timestamp) {
                let oldest = &mut counts.oldest[slot];
                *oldest = Some(oldest.map_or(at, |o| o.min(at)));
            }
        }
        // Counted without allocating, but for the first pin of each status.
        if let Some(n) = counts.by_status.get_mut(status) {
            *n += 1;
        } else {
            let known = TRACKER_STATES.contains(&status);
            let name = if known || counts.by_status.len() < MAX_DISTINCT_STATUSES {
                status
            } else {
                "undefined"
            };
            *counts.by_status.entry(name.to_string()).or_insert(0) += 1;
        }
        Ok(())
    }
}

fn memchr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == b'\n')
}

/// The first 120 bytes of a line, for error messages.
pub fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 120;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    let mut out: String = text.chars().filter(|c| !c.is_control()).collect();
    if bytes.len() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin_line(peer: &str, status: &str) -> String {
        format!(
            "{{\"cid\":\"bafy\",\"name\":\"n\",\"peer_map\":{{\"{peer}\":{{\"peername\":\"h\",\"status\":\"{status}\",\"error\":\"\"}}}}}}\n"
        )
    }

    fn count_in_chunks(body: &[u8], chunk: usize, own: Option<&str>) -> PinCounts {
        let mut counter = PinCounter::new(own.map(String::from), 64 * 1024);
        for piece in body.chunks(chunk) {
            counter.push(piece).unwrap();
        }
        counter.finish().unwrap()
    }

    #[test]
    fn counts_by_own_status_whatever_the_chunk_boundaries() {
        let body: String = [
            pin_line("P1", "pinned"),
            pin_line("P1", "pin_error"),
            pin_line("P1", "pinned"),
            "\n".to_string(),
            pin_line("P1", "pin_queued"),
        ]
        .concat();
        for chunk in 1..=body.len() {
            let counts = count_in_chunks(body.as_bytes(), chunk, Some("P1"));
            assert_eq!(counts.pins, 4, "chunk {chunk}");
            assert_eq!(counts.by_status["pinned"], 2, "chunk {chunk}");
            assert_eq!(counts.by_status["pin_error"], 1);
            assert_eq!(counts.by_status["pin_queued"], 1);
            assert_eq!(counts.bytes, body.len() as u64);
        }
    }

    #[test]
    fn picks_own_entry_among_several() {
        let line =
            "{\"peer_map\":{\"A\":{\"status\":\"pin_error\"},\"ME\":{\"status\":\"pinned\"}}}\n";
        let counts = count_in_chunks(line.as_bytes(), 7, Some("ME"));
        assert_eq!(counts.by_status["pinned"], 1);
        let counts = count_in_chunks(line.as_bytes(), 7, Some("OTHER"));
        assert_eq!(counts.by_status["undefined"], 1);
    }

    #[test]
    fn single_entry_is_used_when_own_id_is_absent() {
        let counts = count_in_chunks(pin_line("X", "remote").as_bytes(), 5, Some("ME"));
        assert_eq!(counts.by_status["remote"], 1);
        let counts = count_in_chunks(pin_line("X", "remote").as_bytes(), 5, None);
        assert_eq!(counts.by_status["remote"], 1);
    }

    #[test]
    fn last_line_without_newline_is_counted() {
        let line = pin_line("P", "pinned");
        let counts = count_in_chunks(line.trim_end().as_bytes(), 3, None);
        assert_eq!(counts.pins, 1);
    }

    #[test]
    fn empty_body_counts_nothing() {
        let counts = PinCounter::new(None, 10).finish().unwrap();
        assert_eq!(counts.pins, 0);
        assert!(counts.by_status.is_empty());
    }

    #[test]
    fn buffer_never_exceeds_one_line() {
        let line = pin_line("P", "pinned");
        let mut counter = PinCounter::new(Some("P".into()), 64 * 1024);
        let mut total = 0usize;
        // 100k pins fed in 8 KiB pieces that cut lines anywhere.
        let mut pending = Vec::new();
        for _ in 0..100_000 {
            pending.extend_from_slice(line.as_bytes());
            if pending.len() >= 8192 {
                counter.push(&pending[..8192]).unwrap();
                total += 8192;
                pending.drain(..8192);
            }
        }
        counter.push(&pending).unwrap();
        total += pending.len();
        assert!(
            counter.max_buffered() < line.len(),
            "{}",
            counter.max_buffered()
        );
        let counts = counter.finish().unwrap();
        assert_eq!(counts.by_status["pinned"], 100_000);
        assert_eq!(counts.bytes, total as u64);
    }

    #[test]
    fn malformed_lines_are_errors_with_their_number() {
        let cases: [(&str, &str); 6] = [
            (
                "{\"peer_map\":{}}\nnot json\n",
                "pin line 2 is not a pin status object",
            ),
            ("{\"count\":3,\"results\":[]}\n", "no peer_map"),
            ("[1,2]\n", "pin line 1"),
            (
                "[{\"cid\":{\"/\":\"Qm\"},\"peer_map\":{}}]\n",
                "JSON array (pre-1.0 ipfs-cluster?)",
            ),
            ("[\n  {\n", "JSON array (pre-1.0 ipfs-cluster?)"),
            ("{\"peer_map\":{\"a\":{\"status\":1}}}\n", "pin line 1"),
        ];
        for (body, expected) in cases {
            let mut counter = PinCounter::new(None, 1024);
            let err = counter
                .push(body.as_bytes())
                .and_then(|()| counter.finish().map(|_| ()))
                .unwrap_err();
            assert!(err.to_string().contains(expected), "{body:?}: {err}");
        }
    }

    #[test]
    fn overlong_lines_are_refused_within_and_across_chunks() {
        let long = format!("{{\"peer_map\":{{}},\"name\":\"{}\"}}\n", "x".repeat(200));
        let mut counter = PinCounter::new(None, 100);
        assert!(matches!(
            counter.push(long.as_bytes()),
            Err(PinStreamError::LineTooLong { line: 1, cap: 100 })
        ));
        let mut counter = PinCounter::new(None, 100);
        let result = long.as_bytes().chunks(30).try_for_each(|c| counter.push(c));
        assert!(matches!(result, Err(PinStreamError::LineTooLong { .. })));
    }

    #[test]
    fn keeps_the_newest_created_the_oldest_wait_per_state_and_the_most_attempts() {
        let line = |status: &str, created: &str, timestamp: &str, attempts: u32| {
            format!(
                "{{\"cid\":\"bafy\",\"created\":\"{created}\",\"peer_map\":{{\"P1\":{{\"status\":\"{status}\",\"timestamp\":\"{timestamp}\",\"error\":\"\",\"attempt_count\":{attempts}}}}}}}\n"
            )
        };
        let zero = "0001-01-01T00:00:00Z";
        let body: String = [
            line("pinned", "2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z", 0),
            line(
                "pin_queued",
                "2025-03-01T00:00:00.25Z",
                "2025-03-02T00:00:00Z",
                0,
            ),
            line(
                "pin_queued",
                "2025-02-01T00:00:00Z",
                "2025-03-01T12:00:00+02:00",
                0,
            ),
            line("pinning", zero, "2025-03-03T00:00:00Z", 1),
            line("pin_error", "2025-01-15T00:00:00Z", zero, 7),
            line("pinned", "2025-03-01T00:00:00Z", "2025-03-01T00:00:00Z", 2),
        ]
        .concat();
        let at = |text| crate::checks::follow::times::parse_go_time(text);
        for chunk in [1, 7, body.len()] {
            let counts = count_in_chunks(body.as_bytes(), chunk, Some("P1"));
            assert_eq!(counts.pins, 6);
            assert_eq!(counts.newest_created, at("2025-03-01T00:00:00.25Z"));
            assert_eq!(
                counts.oldest_by_state().collect::<Vec<_>>(),
                vec![
                    ("pin_queued", at("2025-03-01T10:00:00Z").unwrap()),
                    ("pinning", at("2025-03-03T00:00:00Z").unwrap()),
                ],
                "pin_error's only time is Go's zero time: unknown, no oldest"
            );
            assert_eq!(counts.attempts_max, Some(7));
        }
    }

    #[test]
    fn no_pins_no_freshness_figures() {
        let counts = count_in_chunks(b"", 1, None);
        assert_eq!(counts.newest_created, None);
        assert_eq!(counts.oldest_by_state().count(), 0);
        assert_eq!(counts.attempts_max, None);
        let counts = count_in_chunks(pin_line("P", "pinned").as_bytes(), 3, Some("P"));
        assert_eq!(counts.newest_created, None, "no created field");
        assert_eq!(counts.attempts_max, None);
    }

    #[test]
    fn unknown_statuses_are_bounded() {
        let mut counter = PinCounter::new(None, 1024);
        for i in 0..100 {
            counter
                .push(pin_line("P", &format!("weird{i}")).as_bytes())
                .unwrap();
        }
        counter.push(pin_line("P", "pinned").as_bytes()).unwrap();
        let counts = counter.finish().unwrap();
        assert!(counts.by_status.len() <= MAX_DISTINCT_STATUSES + 2);
        assert_eq!(counts.by_status["pinned"], 1);
        assert_eq!(counts.pins, 101);
    }
}
