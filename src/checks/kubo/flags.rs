//! The Kubo check's flags (`--kubo.*`) and its settings from them.

use std::path::Path;

use super::discovery;
use crate::net::http_client::Endpoint;
use crate::net::multiaddr::split_host_port;

/// Kubo's default RPC API port (`config/init.go`: `/ip4/127.0.0.1/tcp/5001`).
const DEFAULT_API_PORT: u16 = 5001;

/// Kubo check's flags (flattened into the command line by `checks::Args`).
#[derive(Debug, Clone, clap::Args)]
pub struct KuboArgs {
    /// A Kubo RPC API to watch, `MULTIADDR` (`/ip4/127.0.0.1/tcp/5001`, `/unix/PATH`) or `http://HOST[:PORT]` (repeatable); added to the one Kubo's config (--ports.kubo-config) names and those the followers' service.json name.
    #[arg(long = "kubo.api", value_parser = parse_api, global = true)]
    pub kubo_api: Vec<Endpoint>,
}

/// Parse a `--kubo.api` value: a multiaddr, or an `http://` URL with no path.
pub fn parse_api(text: &str) -> Result<Endpoint, String> {
    let text = text.trim();
    if text.starts_with('/') {
        return discovery::endpoint(text);
    }
    let Some(rest) = text.strip_prefix("http://") else {
        return Err(format!(
            "{text:?} is neither a multiaddr (/ip4/127.0.0.1/tcp/5001) nor an http:// URL (Kubo's RPC API speaks plain HTTP)"
        ));
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(format!(
            "{text:?}: give the API's address only (http://HOST:PORT), the exporter adds /api/v0/id"
        ));
    }
    let (host, port) = split_host_port(authority, DEFAULT_API_PORT)?;
    Ok(Endpoint::Tcp { host, port })
}

/// The Kubo settings: its flags, Kubo's config file (the ports check's, resolved once from
/// `--ports.kubo-config`, `$IPFS_PATH` or `~/.ipfs`) and the follow config folder.
pub fn resolve(args: &KuboArgs, kubo_config: &Path, follow_config_dir: &Path) -> super::KuboConfig {
    super::KuboConfig {
        apis: args.kubo_api.clone(),
        kubo_config: kubo_config.to_path_buf(),
        follow_config_dir: follow_config_dir.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubo_api_takes_a_multiaddr_or_a_plain_http_url() {
        let tcp = |host: &str, port| Endpoint::Tcp {
            host: host.into(),
            port,
        };
        assert_eq!(
            parse_api("/ip4/127.0.0.1/tcp/5001").unwrap(),
            tcp("127.0.0.1", 5001)
        );
        assert_eq!(
            parse_api("http://10.0.0.2:5101/").unwrap(),
            tcp("10.0.0.2", 5101)
        );
        assert_eq!(parse_api("http://[::1]").unwrap(), tcp("::1", 5001));
        for (bad, said) in [
            ("127.0.0.1:5001", "neither a multiaddr"),
            ("https://kubo:5001", "neither a multiaddr"),
            ("http://kubo:5001/api/v0", "address only"),
            ("/ip4/127.0.0.1/udp/5001", "cannot be asked over HTTP"),
        ] {
            let err = parse_api(bad).unwrap_err();
            assert!(err.contains(said), "{bad}: {err}");
        }
    }

    #[test]
    fn kubo_config_and_follow_folder_come_from_the_other_checks_settings() {
        let settings = crate::checks::test_settings(
            &["--kubo.api", "/ip4/127.0.0.1/tcp/5101"],
            &[("HOME", "/home/u"), ("IPFS_PATH", "/srv/ipfs")],
        );
        assert_eq!(
            settings.kubo.kubo_config,
            Path::new("/srv/ipfs/config"),
            "$IPFS_PATH, as the ports check reads it"
        );
        assert_eq!(
            settings.kubo.follow_config_dir,
            Path::new("/home/u/.ipfs-cluster-follow")
        );
        assert_eq!(settings.kubo.apis.len(), 1);
        let named = crate::checks::test_settings(
            &["--ports.kubo-config", "/etc/kubo.json"],
            &[("HOME", "/home/u")],
        );
        assert_eq!(named.kubo.kubo_config, Path::new("/etc/kubo.json"));
    }
}
