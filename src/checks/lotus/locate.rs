//! Which Lotus to ask and with which token: `--lotus.api`, `FULLNODE_API_INFO` or the repo's
//! `api` file (Lotus's own order, read by [`Sources`], which also follows the files), the
//! wallets and limits, and the reasons a setting cannot be used (reported by the Lotus check on
//! every scrape, never fatal).

use std::path::{Path, PathBuf};

use super::api_info::ApiInfo;
use super::flags::LotusArgs as Flags;
use super::rpc::RpcTarget;
use super::source::Sources;
use super::{LotusConfig, WalletSpec};

/// Lotus's default API address (`node/config/def.go`, `[API] ListenAddress`).
pub const DEFAULT_LOTUS_API: &str = "/ip4/127.0.0.1/tcp/1234/http";

/// The Lotus settings: target, token, wallets and limits, and the files to follow.
pub fn resolve(
    flags: &Flags,
    lotus_path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> LotusConfig {
    let mut sources = Sources::new(flags, lotus_path, env);
    let located = sources.locate(&mut |warning| log::warn!("{warning}"));
    let mut wallets: Vec<WalletSpec> = Vec::new();
    for wallet in &flags.lotus_wallet {
        if !wallets.iter().any(|w| w.address == wallet.address) {
            wallets.push(wallet.clone());
        }
    }
    if wallets.len() > flags.lotus_max_wallets {
        log::warn!(
            "{} wallets given but --lotus.max-wallets is {}: watching the first {}",
            wallets.len(),
            flags.lotus_max_wallets,
            flags.lotus_max_wallets
        );
        wallets.truncate(flags.lotus_max_wallets);
    }
    LotusConfig {
        target: located.target,
        token: located.token,
        api_source: located.api_source,
        sources: sources.follows_files().then_some(sources),
        wallets,
        max_wallets: flags.lotus_max_wallets,
        sync_lag_threshold: flags.lotus_sync_lag_threshold,
        max_body_bytes: flags.lotus_max_body_bytes,
        thresholds: flags.thresholds(),
    }
}

/// The target with its TLS settings when the address says https; `--lotus.ca-file` on a plain
/// http address is said (to `warn`) and ignored.
pub(crate) fn with_tls(
    mut target: RpcTarget,
    tls: bool,
    ca_file: Option<&Path>,
    warn: &mut dyn FnMut(String),
) -> Result<RpcTarget, String> {
    if !tls {
        if let Some(path) = ca_file {
            warn(format!(
                "--lotus.ca-file {} is ignored: the Lotus API {} is plain http",
                path.display(),
                target.display
            ));
        }
        return Ok(target);
    }
    target.tls = Some(crate::net::tls_client::client_config(ca_file)?);
    Ok(target)
}

/// True when a token sent to `target` would travel in clear to another host (plain http, not
/// this host).
pub(super) fn token_in_clear(target: &RpcTarget) -> bool {
    target.tls.is_none() && !target.endpoint.is_local()
}

/// Why the token may not be sent to `target` in clear.
pub(super) fn token_refusal(target: &RpcTarget) -> String {
    format!(
        "the Lotus token would travel in clear over plain http to {} (another host): use https (with --lotus.ca-file for a private CA), run without a token (read methods need none), or accept it with --lotus.allow-token-over-http",
        target.display
    )
}

/// Why the token may not be sent to `target` (plain http to another host), or `None` when it
/// may: over https, to this host, or when `allowed` (`--lotus.allow-token-over-http`, whose
/// warning the caller gives).
pub fn clear_token_refusal(target: &RpcTarget, allowed: bool) -> Option<String> {
    (token_in_clear(target) && !allowed).then(|| token_refusal(target))
}

/// Why `--lotus.token-file` could not be read, with the path actually tried and the fix that
/// fits the error (a missing file is not a permission problem).
pub(super) fn token_file_error(
    path: &Path,
    error: &std::io::Error,
    env: &dyn Fn(&str) -> Option<String>,
) -> String {
    use std::io::ErrorKind;
    let tried = if path.is_absolute() {
        String::new()
    } else {
        let cwd = std::env::current_dir()
            .ok()
            .or_else(|| env("PWD").map(PathBuf::from));
        match cwd {
            Some(cwd) => format!(
                " (relative to the working directory: {})",
                cwd.join(path).display()
            ),
            None => " (relative to the working directory, which cannot be read)".to_string(),
        }
    };
    let shown = path.display();
    match error.kind() {
        ErrorKind::NotFound => format!("--lotus.token-file {shown}{tried} does not exist: check the path (an absolute one is safest under systemd), or create it with lotus auth create-token --perm read"),
        ErrorKind::PermissionDenied => format!("--lotus.token-file {shown}{tried} cannot be read: permission denied (make it readable by the exporter's user, e.g. chown it and chmod 600)"),
        _ => format!("cannot read --lotus.token-file {shown}{tried}: {error}"),
    }
}

/// `HOST:PORT` given where an API-info string or URL belongs (`localhost:1234`): Lotus's own
/// parser would take the host for a token. Returns the hint, naming the host only when it
/// cannot be a token.
pub(super) fn host_port_taken_for_token(info: &ApiInfo) -> Option<String> {
    let token = info.token.as_ref()?.expose();
    let port = info.address.trim();
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err()
    {
        return None;
    }
    let looks_like_host = token == "localhost"
        || token.parse::<std::net::IpAddr>().is_ok()
        || (token.len() <= 253
            && !token.starts_with("eyJ")
            && token.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            }));
    Some(if looks_like_host {
        format!("{token}:{port} is HOST:PORT, not an API-info string (TOKEN:MULTIADDR): write it as the URL http://{token}:{port}")
    } else {
        format!("the address is only a port ({port}): write HOST:PORT as http://HOST:{port}, or an API-info string as TOKEN:/ip4/127.0.0.1/tcp/{port}/http")
    })
}

/// Why a token cannot be sent in an HTTP header, if it cannot.
pub(super) fn token_problem(token: &str) -> Option<&'static str> {
    if token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Some("contains whitespace or control characters")
    } else if !token.is_ascii() {
        Some("contains non-ASCII characters")
    } else {
        None
    }
}

/// The warning for a secret file that group or others can read, if it is one.
pub(super) fn shared_file_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "--lotus.token-file {} is readable by group or others (mode {mode:o}): chmod 600 it",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use crate::checks::test_settings as resolve;
    use crate::net::http_client::Endpoint;

    #[test]
    fn host_and_port_is_not_taken_for_a_token() {
        for (given, hint) in [
            ("localhost:1234", "http://localhost:1234"),
            ("127.0.0.1:1234", "http://127.0.0.1:1234"),
            ("lotus.internal:1234", "http://lotus.internal:1234"),
        ] {
            let c = resolve(&["--lotus.api", given], &[]);
            let reason = c.lotus.target.unwrap_err();
            assert!(reason.contains(hint), "{given}: {reason}");
            assert!(c.lotus.token.is_none(), "{given}");
        }
        // Something that may be a token is never repeated.
        let c = resolve(
            &[
                "--lotus.api",
                "eyJhbGciOiJIUzI1NiJ9.eyJBbGxvdyI6WyJyZWFkIl19.sig:1234",
            ],
            &[],
        );
        let reason = c.lotus.target.unwrap_err();
        assert!(
            !reason.contains("eyJ") && reason.contains("only a port"),
            "{reason}"
        );
        // A real API-info string is still read as one.
        let c = resolve(&["--lotus.api", "tok:/ip4/127.0.0.1/tcp/1234/http"], &[]);
        assert!(c.lotus.target.is_ok() && c.lotus.token.is_some());
    }

    #[test]
    fn the_token_goes_in_clear_only_to_this_host_or_when_allowed() {
        let token = &[("FULLNODE_API_INFO", "TOKEN:http://10.0.0.5:1234")][..];
        let c = resolve(&[], token);
        let err = c.lotus.target.unwrap_err();
        assert!(
            err.contains("in clear") && err.contains("--lotus.allow-token-over-http"),
            "{err}"
        );
        assert!(!err.contains("TOKEN"), "{err}");
        let c = resolve(&["--lotus.allow-token-over-http"], token);
        assert!(c.lotus.target.is_ok());
        let c = resolve(&[], &[("FULLNODE_API_INFO", "TOKEN:http://127.0.0.1:1234")]);
        assert!(c.lotus.target.is_ok());
        let c = resolve(&[], &[("FULLNODE_API_INFO", "http://10.0.0.5:1234")]);
        assert!(c.lotus.target.is_ok(), "no token, nothing to protect");
        // A CA file, so that the test does not depend on this machine's trusted roots.
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let cert = rcgen::generate_simple_self_signed(vec!["ca".to_string()]).unwrap();
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        let ca = ca.to_str().unwrap();
        for info in [
            "TOKEN:https://10.0.0.5/rpc/v1",
            "TOKEN:wss://10.0.0.5:8443/rpc/v1",
        ] {
            let c = resolve(&["--lotus.ca-file", ca], &[("FULLNODE_API_INFO", info)]);
            let target = c.lotus.target.unwrap();
            assert!(
                target.tls.is_some() && target.display.starts_with("https://"),
                "{info}"
            );
            assert_eq!(c.lotus.token.unwrap().expose(), "TOKEN");
        }
    }

    #[test]
    fn a_ca_file_that_cannot_be_read_fails_the_https_target() {
        let c = resolve(
            &[
                "--lotus.api",
                "https://node:8443",
                "--lotus.ca-file",
                "/nonexistent/ca.pem",
            ],
            &[],
        );
        let err = c.lotus.target.unwrap_err();
        assert!(err.contains("--lotus.ca-file /nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn lotus_address_defaults_in_lotus_order() {
        let repo = tempfile::tempdir().unwrap();
        let repo_path = repo.path().to_str().unwrap();
        let c = resolve(&["--lotus.path", repo_path], &[]);
        assert!(
            c.lotus.api_source.starts_with("default: no "),
            "{}",
            c.lotus.api_source
        );
        assert_eq!(
            c.lotus.target.unwrap().display,
            "http://127.0.0.1:1234/rpc/v1"
        );

        std::fs::write(repo.path().join("api"), "/ip4/127.0.0.1/tcp/4321/http\n").unwrap();
        std::fs::write(repo.path().join("token"), "ADMIN-TOKEN").unwrap();
        let c = resolve(&["--lotus.path", repo_path], &[]);
        assert!(c.lotus.api_source.ends_with("/api"));
        assert_eq!(
            c.lotus.target.unwrap().display,
            "http://127.0.0.1:4321/rpc/v1"
        );
        assert!(
            c.lotus.token.is_none(),
            "the admin token in the repo must never be picked up"
        );

        let c = resolve(
            &["--lotus.path", repo_path],
            &[("FULLNODE_API_INFO", "RTOKEN:/ip4/10.1.1.1/tcp/1234/http")],
        );
        assert_eq!(c.lotus.api_source, "FULLNODE_API_INFO");
        assert_eq!(c.lotus.token.unwrap().expose(), "RTOKEN");

        let c = resolve(
            &[
                "--lotus.path",
                repo_path,
                "--lotus.api",
                "/ip4/10.2.2.2/tcp/1/http",
            ],
            &[("FULLNODE_API_INFO", "X:/ip4/10.1.1.1/tcp/1234/http")],
        );
        assert_eq!(c.lotus.api_source, "--lotus.api");
        assert!(c.lotus.token.is_none());
    }

    /// The configuration with `--lotus.token-file` naming a file that holds `content`.
    fn with_token_file(content: &str) -> crate::checks::Settings {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, content).unwrap();
        resolve(
            &["--lotus.token-file", token.to_str().unwrap()],
            &[("HOME", "/nonexistent")],
        )
    }

    #[test]
    fn token_file_is_read_and_its_failures_are_named() {
        let c = with_token_file("READTOKEN\n");
        assert_eq!(c.lotus.token.unwrap().expose(), "READTOKEN");

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let c = resolve(
            &["--lotus.token-file", missing.to_str().unwrap()],
            &[("HOME", "/nonexistent")],
        );
        let err = c.lotus.target.unwrap_err();
        assert!(
            err.contains("--lotus.token-file") && err.contains("missing does not exist"),
            "{err}"
        );
    }

    #[test]
    fn secrets_in_addresses_are_never_echoed() {
        let resolve_api = |api: &str| resolve(&["--lotus.api", api], &[]).lotus;
        let with_userinfo = resolve_api("http://user:hunter2@127.0.0.1:1234/rpc/v1");
        let err = with_userinfo.target.unwrap_err();
        assert!(
            err.contains("carries credentials") && !err.contains("hunter2"),
            "{err}"
        );

        let token_only = resolve_api("eyJhbGciOiJIUzI1NiJ9.SECRETPART");
        let err = token_only.target.unwrap_err();
        assert!(
            err.contains("neither a multiaddr") && !err.contains("SECRETPART"),
            "{err}"
        );

        let query = resolve_api("http://127.0.0.1:1234/rpc/v1?token=SECRETQ");
        let target = query.target.unwrap();
        assert_eq!(target.display, "http://127.0.0.1:1234/rpc/v1");
        assert_eq!(target.path, "/rpc/v1");
        assert_eq!(
            query.token.unwrap().expose(),
            "SECRETQ",
            "go-jsonrpc's ?token= becomes the bearer token"
        );

        let empty = resolve_api("TOKEN:");
        assert!(empty.target.unwrap_err().contains("address is missing"));
    }

    #[test]
    fn tokens_that_cannot_be_sent_are_refused_by_source() {
        let c = with_token_file("two words");
        let err = c.lotus.target.unwrap_err();
        assert!(
            err.contains("--lotus.token-file")
                && err.contains("whitespace")
                && !err.contains("two words"),
            "{err}"
        );
        assert!(c.lotus.token.is_none());
    }

    #[test]
    fn local_endpoints() {
        assert!(Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 1
        }
        .is_local());
        assert!(Endpoint::Tcp {
            host: "localhost".into(),
            port: 1
        }
        .is_local());
        assert!(Endpoint::Tcp {
            host: "::1".into(),
            port: 1
        }
        .is_local());
        assert!(!Endpoint::Tcp {
            host: "10.0.0.1".into(),
            port: 1
        }
        .is_local());
        assert!(Endpoint::Unix("/x".into()).is_local());
    }
}
