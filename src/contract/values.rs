//! What every part of the command line shares: the parser of durations, and what every check's
//! settings may start from besides its own flags.

use std::path::PathBuf;
use std::time::Duration;

/// What every check's settings may start from besides its own flags.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The exporter user's home (`$HOME`, else `/`): where the daemons' default folders are.
    pub home: PathBuf,
    /// `--web.listen-address`: the exporter's own claims in the port plan.
    pub listen_addresses: Vec<String>,
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration =
        humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 5s, 500ms, 1m)"))?;
    if duration.is_zero() {
        return Err("must be greater than zero".to_string());
    }
    Ok(duration)
}
