//! The pin-stream counter as it was before the freshness fields (main at a175c32,
//! `src/checks/follow/pins.rs`, status counts only), kept for the `pins/count per 1k` row of
//! `inprocess.rs`: the new counter is measured against it side by side, in one run.
//! Not used by the exporter.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

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
}

/// Counts a `/pins` NDJSON stream fed in arbitrary chunks.
#[derive(Debug)]
pub struct PinCounter {
    own_peer: Option<String>,
    line_cap: usize,
    partial: Vec<u8>,
    counts: PinCounts,
}

#[derive(Deserialize)]
struct PinLine {
    #[serde(default)]
    peer_map: Option<HashMap<String, PeerStatus>>,
}

#[derive(Deserialize)]
struct PeerStatus {
    #[serde(default)]
    status: String,
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
        let parsed: PinLine =
            serde_json::from_slice(line).map_err(|e| PinStreamError::BadLine {
                line: number,
                reason: e.to_string(),
                excerpt: excerpt(line),
            })?;
        let Some(peer_map) = parsed.peer_map else {
            return Err(PinStreamError::BadLine {
                line: number,
                reason: "no peer_map".to_string(),
                excerpt: excerpt(line),
            });
        };
        let status = self.status_of(&peer_map);
        self.counts.pins += 1;
        *self.counts.by_status.entry(status).or_insert(0) += 1;
        Ok(())
    }

    fn status_of(&self, peer_map: &HashMap<String, PeerStatus>) -> String {
        let entry = self
            .own_peer
            .as_ref()
            .and_then(|own| peer_map.get(own))
            .or_else(|| {
                (peer_map.len() == 1)
                    .then(|| peer_map.values().next())
                    .flatten()
            });
        let status = entry.map(|e| e.status.as_str()).unwrap_or("undefined");
        let known = TRACKER_STATES.contains(&status) || self.counts.by_status.contains_key(status);
        if known || self.counts.by_status.len() < MAX_DISTINCT_STATUSES {
            status.to_string()
        } else {
            "undefined".to_string()
        }
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
