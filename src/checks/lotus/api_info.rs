//! Lotus's API-info syntax (`cli/util/apiinfo.go`): `[TOKEN:]ADDRESS`, where the address is a
//! multiaddr (`/ip4/127.0.0.1/tcp/1234/http`) or a URL (`https://node/rpc/v1?token=...`), turned
//! into where to POST JSON-RPC.
//!
//! Two ways to read a URL's path ([`UrlPath`]):
//! - **as given** (`--lotus.api`, `/probe` targets): the URL is the endpoint itself, as curl takes
//!   it (`https://host/filecoin`, `https://host/v1/KEY/rpc` are POSTed to as they are); only a URL
//!   without a path (`http://host:1234`, `http://host:1234/`) gets `/rpc/v1`;
//! - **as Lotus reads API info** (`FULLNODE_API_INFO`, the repo's `api` file): the URL names the
//!   API's root and `/rpc/v1` is added (`APIInfo.DialArgs`, `url.JoinPath(addr, "rpc", "v1")`), so
//!   `https://host/filecoin` is `https://host/filecoin/rpc/v1`. A URL that already ends in
//!   `/rpc/vN` is used as written, with a warning: Lotus v1.39.0 and later refuse it (lotus
//!   #13870), older Lotus added a second `/rpc/v1`.
//!
//! A multiaddr always gets `/rpc/v1`. What is shown of an address ([`RpcTarget::display`]) never
//! carries a secret: `?token=` becomes the bearer token, other query values and path segments
//! that look like keys (16 characters or more with a digit, or 24 or more) are `<redacted>`.

use crate::checks::lotus::rpc::RpcTarget;
use crate::net::http_client::Endpoint;
use crate::net::multiaddr::Multiaddr;
use crate::secret::{Secret, REDACTED};

/// An API-info string split into its token and address (Lotus `cli/util/apiinfo.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiInfo {
    pub token: Option<Secret>,
    pub address: String,
}

impl ApiInfo {
    /// Split `TOKEN:ADDRESS`; a bare multiaddr (`/...`) or URL (`scheme://`) has no token.
    /// With several comma-separated endpoints (`ParseApiInfoMulti`), the first is used.
    pub fn parse(text: &str) -> ApiInfo {
        let text = text.trim();
        let text = text.split(',').next().unwrap_or_default().trim();
        if text.starts_with('/') {
            return ApiInfo {
                token: None,
                address: text.to_string(),
            };
        }
        match text.split_once(':') {
            Some((_, rest)) if rest.starts_with("//") => ApiInfo {
                token: None,
                address: text.to_string(),
            },
            Some((token, address)) => ApiInfo {
                token: Some(Secret::new(token.to_string())).filter(|t| !t.expose().is_empty()),
                address: address.to_string(),
            },
            None => ApiInfo {
                token: None,
                address: text.to_string(),
            },
        }
    }
}

/// How the path of a URL address is read (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPath {
    /// The endpoint itself: used as given; no path at all gets `/rpc/v1`.
    AsGiven,
    /// The API's root, as Lotus reads API info: `/rpc/v1` is added.
    LotusRoot,
}

/// Where to POST JSON-RPC, and a token carried in the address itself (`?token=`, which
/// go-jsonrpc accepts).
#[derive(Debug, Clone)]
pub struct ResolvedApi {
    pub target: RpcTarget,
    pub query_token: Option<Secret>,
    /// The address says https (`https://`, `wss://`, `/https`, `/wss`, `/tls`); the target's TLS
    /// settings are filled in by [`resolve`](super::resolve) (roots, `--lotus.ca-file`).
    pub tls: bool,
    /// Something to tell the operator once (an API-info URL Lotus itself would refuse).
    pub warning: Option<String>,
}

/// The endpoint an address names, its path read as given (`--lotus.api`, `/probe` targets).
pub fn rpc_target(address: &str) -> Result<ResolvedApi, String> {
    rpc_target_as(address, UrlPath::AsGiven)
}

/// Turn an API address (multiaddr or URL) into where to POST JSON-RPC, reading a URL's path
/// by `rule`.
///
/// Errors never repeat the address verbatim when it is not recognisably an address: an API-info
/// string written without its `TOKEN:` separator would otherwise print the token.
pub fn rpc_target_as(address: &str, rule: UrlPath) -> Result<ResolvedApi, String> {
    let address = address.trim();
    if address.is_empty() {
        return Err(
            "the API address is missing (expected TOKEN:MULTIADDR, a multiaddr or an http URL)"
                .to_string(),
        );
    }
    if address.starts_with('/') {
        let multiaddr = Multiaddr::parse(address).map_err(|e| e.to_string())?;
        let endpoint = Endpoint::socket_of(&multiaddr).map_err(|e| e.to_string())?;
        let tls = multiaddr.wants_tls();
        let origin = match &endpoint {
            Endpoint::Unix(path) => format!("unix:{}:", path.display()),
            tcp if tls => format!("https://{tcp}"),
            tcp => format!("http://{tcp}"),
        };
        let target = RpcTarget::new(endpoint, origin, "/rpc/v1".to_string(), String::new());
        return Ok(ResolvedApi {
            target,
            query_token: None,
            tls,
            warning: None,
        });
    }
    url_target(address, rule)
}

fn url_target(url: &str, rule: UrlPath) -> Result<ResolvedApi, String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        "the API address is neither a multiaddr (/ip4/...) nor a URL (http://...); an API-info string is TOKEN:ADDRESS".to_string()
    })?;
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(format!(
            "the {scheme}:// API address carries credentials (user:password@): they are not sent; give a token with --lotus.token-file"
        ));
    }
    let shown = format!("{scheme}://{authority}{}", shown_path(path));
    let (default_port, tls) = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => (80, false),
        "https" | "wss" => (443, true),
        other => {
            return Err(format!(
                "unsupported scheme {other:?} in {shown} (expected http, https, ws or wss)"
            ))
        }
    };
    if authority.is_empty() {
        return Err(format!("cannot read host and port in {shown}"));
    }
    let (host, port) = crate::net::multiaddr::split_host_port(authority, default_port)
        .map_err(|why| format!("cannot read host and port in {shown}: {why}"))?;
    let given = path.trim_end_matches('/');
    let ends_in_version = ends_in_rpc_version(given);
    let mut warning = None;
    let path = match rule {
        _ if given.is_empty() => "/rpc/v1".to_string(),
        UrlPath::AsGiven => given.to_string(),
        UrlPath::LotusRoot if ends_in_version => {
            warning = Some(format!(
                "the API-info URL {shown} ends in /rpc/vN: used as written, but Lotus's own tools (v1.39.0 and later, lotus #13870) refuse it and add the path themselves; write the API's root (without /rpc/vN)"
            ));
            given.to_string()
        }
        UrlPath::LotusRoot => format!("{given}/rpc/v1"),
    };
    let mut query_token = None;
    let mut kept: Vec<&str> = Vec::new();
    let mut secrets: Vec<Secret> = Vec::new();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        match pair.strip_prefix("token=") {
            Some(token) if !token.is_empty() => query_token = Some(Secret::new(token.to_string())),
            Some(_) => {}
            None if pair.is_empty() => {}
            None => {
                match pair.split_once('=') {
                    Some((_, value)) if !value.is_empty() => {
                        secrets.push(Secret::new(value.to_string()))
                    }
                    None if looks_like_a_key(pair) => secrets.push(Secret::new(pair.to_string())),
                    _ => {}
                }
                kept.push(pair);
            }
        }
    }
    secrets.extend(
        path.split('/')
            .filter(|segment| looks_like_a_key(segment))
            .map(|segment| Secret::new(segment.to_string())),
    );
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    let endpoint = Endpoint::Tcp { host, port };
    let shown_scheme = if tls { "https" } else { "http" };
    let origin = format!("{shown_scheme}://{endpoint}");
    let mut target = RpcTarget::new(endpoint, origin, path, query);
    target.secrets = secrets;
    Ok(ResolvedApi {
        target,
        query_token,
        tls,
        warning,
    })
}

/// True when `path` ends in `/rpc/vN` (`/rpc/v0`, `/rpc/v1`, `/rpc/v2`, ...).
pub(crate) fn ends_in_rpc_version(path: &str) -> bool {
    path.rfind("/rpc/v").is_some_and(|at| {
        let version = &path[at + "/rpc/v".len()..];
        !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A path segment that may be an API key (`/v1/KEY/rpc`, `/filecoin/KEY`): 16 characters or
/// more with a digit among them, or 24 or more. Words such as `filecoin-mainnet` stay readable.
fn looks_like_a_key(segment: &str) -> bool {
    let long = segment.chars().count();
    long >= 24 || (long >= 16 && segment.bytes().any(|b| b.is_ascii_digit()))
}

/// A path as shown: key-like segments replaced by `<redacted>`.
pub(crate) fn shown_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if looks_like_a_key(segment) {
                REDACTED
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A query as shown: every value `<redacted>` (`?apikey=<redacted>`).
pub(crate) fn shown_query(query: &str) -> String {
    let Some(pairs) = query.strip_prefix('?') else {
        return String::new();
    };
    let shown: Vec<String> = pairs
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}={REDACTED}"),
            None if looks_like_a_key(pair) => REDACTED.to_string(),
            None => pair.to_string(),
        })
        .collect();
    format!("?{}", shown.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_api_info_like_lotus() {
        // The cases of lotus cli/util/apiinfo_test.go.
        let cases = [
            (
                "eyJhbG.eyJBbGxvdy.qpZpDnaPmjz:/ip4/127.0.0.1/tcp/1234/http",
                Some("eyJhbG.eyJBbGxvdy.qpZpDnaPmjz"),
                "/ip4/127.0.0.1/tcp/1234/http",
            ),
            (
                "opaque-api-key:/dns/host/tcp/443/wss",
                Some("opaque-api-key"),
                "/dns/host/tcp/443/wss",
            ),
            (
                "GLIFAPIKEY:https://api.node.glif.io/rpc/v1",
                Some("GLIFAPIKEY"),
                "https://api.node.glif.io/rpc/v1",
            ),
            ("tok:/ip6/::1/tcp/1234", Some("tok"), "/ip6/::1/tcp/1234"),
            ("/ip4/127.0.0.1/tcp/1234", None, "/ip4/127.0.0.1/tcp/1234"),
            ("wss://host", None, "wss://host"),
        ];
        for (text, token, address) in cases {
            let info = ApiInfo::parse(text);
            assert_eq!(info.token.as_ref().map(Secret::expose), token, "{text}");
            assert_eq!(info.address, address, "{text}");
        }
    }

    #[test]
    fn resolves_rpc_targets() {
        let t = rpc_target("/ip4/127.0.0.1/tcp/1234/http").unwrap().target;
        assert_eq!(
            (t.display.as_str(), t.path.as_str()),
            ("http://127.0.0.1:1234/rpc/v1", "/rpc/v1")
        );
        let t = rpc_target("http://10.0.0.5:1234").unwrap().target;
        assert_eq!(t.display, "http://10.0.0.5:1234/rpc/v1");
        let t = rpc_target("http://node:1234/rpc/v0").unwrap().target;
        assert_eq!(t.path, "/rpc/v0");
        let t = rpc_target("ws://[::1]:1234/rpc/v1/").unwrap().target;
        assert_eq!(
            t.endpoint,
            Endpoint::Tcp {
                host: "::1".into(),
                port: 1234
            }
        );
        for (given, shown) in [
            (
                "https://api.node.glif.io/rpc/v1",
                "https://api.node.glif.io:443/rpc/v1",
            ),
            ("wss://node:8443/rpc/v1", "https://node:8443/rpc/v1"),
            ("/dns/host/tcp/443/wss", "https://host:443/rpc/v1"),
            ("/dns/host/tcp/443/https", "https://host:443/rpc/v1"),
            (
                "/ip4/10.0.0.1/tcp/1234/tls/http",
                "https://10.0.0.1:1234/rpc/v1",
            ),
        ] {
            let resolved = rpc_target(given).unwrap();
            assert!(resolved.tls, "{given}");
            assert_eq!(resolved.target.display, shown);
        }
        assert!(!rpc_target("ws://node:1234").unwrap().tls);
        for (bad, why) in [
            ("ftp://x", "unsupported scheme"),
            ("nonsense", "neither a multiaddr"),
            ("/ip4/1.2.3.4", "names no port"),
            ("http://host:notaport", "cannot read host"),
        ] {
            let err = rpc_target(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn a_url_with_a_path_is_used_as_given_and_only_a_bare_host_gets_rpc_v1() {
        let path = |given: &str| rpc_target(given).unwrap().target.path;
        assert_eq!(path("https://host/filecoin"), "/filecoin");
        assert_eq!(path("https://host/filecoin/"), "/filecoin");
        assert_eq!(path("https://host/v1/abc/rpc"), "/v1/abc/rpc");
        assert_eq!(path("http://proxy/lotus"), "/lotus");
        assert_eq!(path("https://host"), "/rpc/v1");
        assert_eq!(path("https://host/"), "/rpc/v1");
        assert_eq!(path("http://host:1234/rpc/v0"), "/rpc/v0");
        assert_eq!(path("/ip4/127.0.0.1/tcp/1234/http"), "/rpc/v1");
        assert!(rpc_target("https://host/filecoin")
            .unwrap()
            .warning
            .is_none());
    }

    #[test]
    fn api_info_urls_name_the_root_as_lotus_reads_them() {
        let lotus = |given: &str| rpc_target_as(given, UrlPath::LotusRoot).unwrap();
        // lotus cli/util/apiinfo_test.go TestAPIInfoDialArgs, and a root with a path.
        for (given, path) in [
            ("http://host:1234", "/rpc/v1"),
            ("https://api.node.glif.io", "/rpc/v1"),
            ("https://api.node.glif.io/", "/rpc/v1"),
            ("wss://host.example", "/rpc/v1"),
            ("https://host/filecoin", "/filecoin/rpc/v1"),
            ("https://host/filecoin/", "/filecoin/rpc/v1"),
            ("/ip4/127.0.0.1/tcp/1234/http", "/rpc/v1"),
        ] {
            let resolved = lotus(given);
            assert_eq!(resolved.target.path, path, "{given}");
            assert!(resolved.warning.is_none(), "{given}");
        }
        // Lotus v1.39.0+ refuses this (lotus #13870); it is used as written, with a warning.
        let resolved = lotus("https://api.node.glif.io/rpc/v1");
        assert_eq!(resolved.target.path, "/rpc/v1");
        let warning = resolved.warning.unwrap();
        assert!(
            warning.contains("#13870") && warning.contains("without /rpc/vN"),
            "{warning}"
        );
    }

    #[test]
    fn keys_in_the_path_or_the_query_are_used_but_never_shown() {
        let key = "0123456789abcdef0123456789abcdef";
        let resolved = rpc_target(&format!("https://host/v1/{key}/rpc")).unwrap();
        assert_eq!(resolved.target.path, format!("/v1/{key}/rpc"));
        assert_eq!(
            resolved.target.display,
            "https://host:443/v1/<redacted>/rpc"
        );
        assert_eq!(resolved.target.secrets.len(), 1);
        assert_eq!(resolved.target.secrets[0].expose(), key);

        let resolved =
            rpc_target(&format!("https://host/filecoin?apikey={key}&token=TOK")).unwrap();
        assert_eq!(resolved.target.path, "/filecoin");
        assert_eq!(resolved.target.query, format!("?apikey={key}"));
        assert_eq!(
            resolved.target.display,
            "https://host:443/filecoin?apikey=<redacted>"
        );
        assert_eq!(resolved.query_token.unwrap().expose(), "TOK");
        assert!(resolved.target.secrets.iter().any(|s| s.expose() == key));

        // Words stay readable.
        let shown = rpc_target("https://host/filecoin-mainnet/rpc/v1")
            .unwrap()
            .target
            .display;
        assert_eq!(shown, "https://host:443/filecoin-mainnet/rpc/v1");
        // An error about the address does not repeat the key either.
        let err = rpc_target(&format!("ftp://host/{key}")).unwrap_err();
        assert!(!err.contains(key), "{err}");
    }

    #[test]
    fn rpc_versions_are_recognised_at_the_end_of_a_path() {
        assert!(ends_in_rpc_version("/rpc/v1"));
        assert!(ends_in_rpc_version("/lotus/rpc/v0"));
        assert!(!ends_in_rpc_version("/rpc/v"));
        assert!(!ends_in_rpc_version("/rpc/vx"));
        assert!(!ends_in_rpc_version("/filecoin"));
    }

    #[test]
    fn secrets_do_not_print() {
        let info = ApiInfo::parse("SUPERSECRET:/ip4/127.0.0.1/tcp/1234/http");
        assert!(!format!("{info:?}").contains("SUPERSECRET"));
    }
}
