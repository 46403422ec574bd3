//! Lotus's API-info syntax (`cli/util/apiinfo.go`): `[TOKEN:]ADDRESS`, where the address is a
//! multiaddr (`/ip4/127.0.0.1/tcp/1234/http`) or a URL (`https://node/rpc/v1?token=...`), turned
//! into where to POST JSON-RPC.

use crate::checks::lotus::rpc::RpcTarget;
use crate::net::http_client::Endpoint;
use crate::net::multiaddr::Multiaddr;
use crate::secret::Secret;

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

/// Where to POST JSON-RPC, and a token carried in the address itself (`?token=`, which
/// go-jsonrpc accepts).
#[derive(Debug, Clone)]
pub struct ResolvedApi {
    pub target: RpcTarget,
    pub query_token: Option<Secret>,
    /// The address says https (`https://`, `wss://`, `/https`, `/wss`, `/tls`); the target's TLS
    /// settings are filled in by [`resolve`](super::resolve) (roots, `--lotus.ca-file`).
    pub tls: bool,
}

/// Turn an API address (multiaddr or URL) into where to POST JSON-RPC.
///
/// Errors never repeat the address verbatim when it is not recognisably an address: an API-info
/// string written without its `TOKEN:` separator would otherwise print the token.
pub fn rpc_target(address: &str) -> Result<ResolvedApi, String> {
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
        let display = match &endpoint {
            Endpoint::Unix(path) => format!("unix:{}:/rpc/v1", path.display()),
            tcp if tls => format!("https://{tcp}/rpc/v1"),
            tcp => format!("http://{tcp}/rpc/v1"),
        };
        let target = RpcTarget {
            endpoint,
            path: "/rpc/v1".to_string(),
            display,
            tls: None,
        };
        return Ok(ResolvedApi {
            target,
            query_token: None,
            tls,
        });
    }
    url_target(address)
}

fn url_target(url: &str) -> Result<ResolvedApi, String> {
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
    let shown = format!("{scheme}://{authority}{path}");
    let (default_port, tls) = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => (80, false),
        "https" | "wss" => (443, true),
        other => {
            return Err(format!(
                "unsupported scheme {other:?} in {shown} (expected http, https, ws or wss)"
            ))
        }
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("cannot read host and port in {shown}"));
    }
    let (host, port) = crate::net::multiaddr::split_host_port(authority, default_port)
        .map_err(|why| format!("cannot read host and port in {shown}: {why}"))?;
    let path = path.trim_end_matches('/');
    let path = if ["/rpc/v0", "/rpc/v1", "/rpc/v2"]
        .iter()
        .any(|v| path.ends_with(v))
    {
        path.to_string()
    } else {
        format!("{path}/rpc/v1")
    };
    let query_token = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("token="))
        .filter(|t| !t.is_empty())
        .map(|t| Secret::new(t.to_string()));
    let endpoint = Endpoint::Tcp { host, port };
    let shown_scheme = if tls { "https" } else { "http" };
    let target = RpcTarget {
        display: format!("{shown_scheme}://{endpoint}{path}"),
        endpoint,
        path,
        tls: None,
    };
    Ok(ResolvedApi {
        target,
        query_token,
        tls,
    })
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
        let t = rpc_target("http://proxy/lotus").unwrap().target;
        assert_eq!(
            (t.path.as_str(), t.endpoint.to_string().as_str()),
            ("/lotus/rpc/v1", "proxy:80")
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
    fn secrets_do_not_print() {
        let info = ApiInfo::parse("SUPERSECRET:/ip4/127.0.0.1/tcp/1234/http");
        assert!(!format!("{info:?}").contains("SUPERSECRET"));
    }
}
