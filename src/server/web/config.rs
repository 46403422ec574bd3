//! Reading and validating `--web.config.file` in the exporter-toolkit format.
//!
//! The file is read at start, and again by [`super::live`] whenever it or a file it names
//! changes. Anything the exporter cannot honour is refused by name, so a configuration never
//! silently means less than it says (a `min_version: TLS10`, an unknown key, a password that is
//! not a bcrypt hash).
//!
//! # Caveats
//! rustls speaks TLS 1.2 and 1.3 only; `TLS10` and `TLS11` are refused. `cipher_suites`,
//! `curve_preferences` and `rate_limit` are not supported and are refused rather than ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use super::auth::BasicAuth;

/// Why the web configuration cannot be used. Each names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("cannot read --web.config.file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--web.config.file {path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// Headers exporter-toolkit lets a web config set.
const ALLOWED_HEADERS: [&str; 5] = [
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
];

/// How much a client certificate is asked for (`client_auth_type`), least first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientCerts {
    /// `NoClientCert` (or no TLS).
    #[default]
    NotAsked,
    /// `VerifyClientCertIfGiven`.
    VerifiedIfGiven,
    /// `RequireAndVerifyClientCert`.
    Required,
}

/// A validated web configuration.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// TLS settings, when TLS is on.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Basic auth, when users are configured.
    pub basic_auth: Option<Arc<BasicAuth>>,
    /// Extra response headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Whether TLS clients must show a certificate.
    pub client_certs: ClientCerts,
    /// The files this configuration was read from besides the config file itself (certificate,
    /// key, client CA), so that a change to any of them can be noticed (see [`super::live`]).
    pub files: Vec<PathBuf>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("basic_auth", &self.basic_auth.is_some())
            .field("headers", &self.headers.len())
            .finish()
    }
}

impl WebConfig {
    /// Read and validate a web config file.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        WebConfig::load_text(path).map(|(web, _)| web)
    }

    /// Read and validate a web config file, with the text it was read from.
    pub fn load_text(path: &Path) -> Result<(WebConfig, String), WebConfigError> {
        let text =
            crate::host::files::read_small_file(path).map_err(|source| WebConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        let invalid = |reason: String| WebConfigError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let web = WebConfig::parse(&text, base).map_err(invalid)?;
        Ok((web, text))
    }

    /// Parse and validate the YAML text; relative file names are resolved against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<WebConfig, String> {
        let raw: RawWebConfig = if text.trim().is_empty() {
            RawWebConfig::default()
        } else {
            serde_norway::from_str(text).map_err(|e| e.to_string())?
        };
        let client_certs = match raw
            .tls_server_config
            .as_ref()
            .and_then(|t| t.client_auth_type.as_deref())
        {
            Some("RequireAndVerifyClientCert") => ClientCerts::Required,
            Some("VerifyClientCertIfGiven") => ClientCerts::VerifiedIfGiven,
            _ => ClientCerts::NotAsked,
        };
        let files: Vec<PathBuf> = raw
            .tls_server_config
            .iter()
            .flat_map(|t| [&t.cert_file, &t.key_file, &t.client_ca_file])
            .flatten()
            .map(|file| base.join(file))
            .collect();
        let tls = raw
            .tls_server_config
            .map(|tls| tls_config(tls, base).map(Arc::new))
            .transpose()?;
        let basic_auth = match raw.basic_auth_users {
            Some(users) if !users.is_empty() => Some(Arc::new(BasicAuth::new(users)?)),
            _ => None,
        };
        let headers = match raw.http_server_config {
            Some(http) => {
                if http.http2 == Some(true) {
                    log::debug!("http_server_config.http2: the exporter serves HTTP/1.1");
                }
                headers(http.headers.unwrap_or_default())?
            }
            None => Vec::new(),
        };
        Ok(WebConfig {
            tls,
            basic_auth,
            headers,
            client_certs,
            files,
        })
    }
}

fn headers(raw: BTreeMap<String, String>) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    raw.into_iter()
        .map(|(name, value)| {
            let allowed = ALLOWED_HEADERS
                .iter()
                .find(|h| h.eq_ignore_ascii_case(&name))
                .ok_or_else(|| {
                    format!(
                        "http_server_config.headers: {name:?} may not be set (allowed: {})",
                        ALLOWED_HEADERS.join(", ")
                    )
                })?;
            let value = HeaderValue::from_str(&value).map_err(|_| {
                format!("http_server_config.headers.{name}: {value:?} is not a valid header value")
            })?;
            Ok((HeaderName::from_static(header_static(allowed)), value))
        })
        .collect()
}

fn header_static(name: &str) -> &'static str {
    match name {
        "Content-Security-Policy" => "content-security-policy",
        "X-Frame-Options" => "x-frame-options",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "strict-transport-security",
    }
}

fn tls_version(
    key: &str,
    value: &str,
) -> Result<&'static rustls::SupportedProtocolVersion, String> {
    match value {
        "TLS13" => Ok(&rustls::version::TLS13),
        "TLS12" => Ok(&rustls::version::TLS12),
        "TLS10" | "TLS11" => Err(format!(
            "tls_server_config.{key}: {value} is not supported: this exporter speaks TLS 1.2 and 1.3 only (use TLS12 or TLS13)"
        )),
        other => Err(format!("tls_server_config.{key}: {other:?} is not a TLS version (use TLS12 or TLS13)")),
    }
}

fn tls_config(raw: RawTls, base: &Path) -> Result<rustls::ServerConfig, String> {
    let cert_file = raw
        .cert_file
        .ok_or("tls_server_config.cert_file is required when TLS is configured")?;
    let key_file = raw
        .key_file
        .ok_or("tls_server_config.key_file is required when TLS is configured")?;
    let cert_file = base.join(cert_file);
    let key_file = base.join(key_file);
    let cert_pem = read_pem_file("cert_file", &cert_file)?;
    let key_pem = read_pem_file("key_file", &key_file)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "tls_server_config.cert_file {}: {}",
                cert_file.display(),
                pem_problem(&e)
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "tls_server_config.cert_file {}: no certificate in it",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        format!(
            "tls_server_config.key_file {}: {}",
            key_file.display(),
            pem_problem(&e)
        )
    })?;
    let min = tls_version("min_version", raw.min_version.as_deref().unwrap_or("TLS12"))?;
    let max = tls_version("max_version", raw.max_version.as_deref().unwrap_or("TLS13"))?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [&rustls::version::TLS12, &rustls::version::TLS13]
            .into_iter()
            .filter(|v| {
                version_rank(v) >= version_rank(min) && version_rank(v) <= version_rank(max)
            })
            .collect();
    if versions.is_empty() {
        return Err("tls_server_config: min_version is above max_version".to_string());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let builder = match raw.client_auth_type.as_deref().unwrap_or("NoClientCert") {
        "NoClientCert" => builder.with_no_client_auth(),
        kind @ ("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven") => {
            let ca_file = raw
                .client_ca_file
                .ok_or_else(|| format!("tls_server_config.client_ca_file is required with client_auth_type {kind}"))?;
            let ca_file = base.join(ca_file);
            let mut roots = rustls::RootCertStore::empty();
            let ca_pem = read_pem_file("client_ca_file", &ca_file)?;
            let cas = CertificateDer::pem_slice_iter(&ca_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("tls_server_config.client_ca_file {}: {}", ca_file.display(), pem_problem(&e)))?;
            for ca in cas {
                roots
                    .add(ca)
                    .map_err(|e| format!("tls_server_config.client_ca_file {}: {e}", ca_file.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if kind == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?)
        }
        other => {
            return Err(format!(
                "tls_server_config.client_auth_type: {other:?} is not supported (use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
            ))
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: the key does not fit the certificate: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Read a PEM file of `tls_server_config` ([`crate::host::files::read_pem_file`]).
fn read_pem_file(key: &str, path: &Path) -> Result<Vec<u8>, String> {
    crate::host::files::read_pem_file(path).map_err(|e| format!("tls_server_config.{key} {e}"))
}

/// A PEM reading error in words (the library's own message prints raw bytes).
fn pem_problem(error: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match error {
        Error::MissingSectionEnd { .. } => {
            "a PEM section has no END line (is the file truncated?)".to_string()
        }
        Error::IllegalSectionStart { .. } => {
            "a PEM section starts with a malformed BEGIN line".to_string()
        }
        Error::Base64Decode(_) => "a PEM section is not valid base64".to_string(),
        Error::Io(e) => e.to_string(),
        Error::NoItemsFound => "no PEM item of the expected kind in it".to_string(),
        other => format!("not usable PEM ({other:?})"),
    }
}

fn version_rank(version: &rustls::SupportedProtocolVersion) -> u8 {
    match version.version {
        rustls::ProtocolVersion::TLSv1_3 => 13,
        _ => 12,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `htpasswd -nbBC 4 "" secret` style hash of "secret" (cost 4 keeps the test fast).
    fn hash_of_secret() -> String {
        bcrypt::hash("secret", 4).unwrap()
    }

    #[test]
    fn empty_file_means_plain_http_without_auth() {
        let config = WebConfig::parse("", Path::new(".")).unwrap();
        assert!(config.tls.is_none() && config.basic_auth.is_none() && config.headers.is_empty());
    }

    #[test]
    fn reads_basic_auth_users_and_headers() {
        let text = format!(
            "basic_auth_users:\n  alice: '{}'\nhttp_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n",
            hash_of_secret()
        );
        let config = WebConfig::parse(&text, Path::new(".")).unwrap();
        assert!(config.basic_auth.is_some());
        assert_eq!(config.headers[0].0, "x-frame-options");
    }

    #[test]
    fn refuses_what_it_cannot_honour_by_name() {
        let cases = [
            (
                "basic_auth_users:\n  bob: plaintext\n",
                "basic_auth_users.bob",
            ),
            ("unknown_key: 1\n", "unknown_key"),
            (
                "tls_server_config:\n  cert_file: c.pem\n",
                "key_file is required",
            ),
            (
                "http_server_config:\n  headers:\n    Server: x\n",
                "\"Server\" may not be set",
            ),
            ("rate_limit:\n  interval: 1s\n", "rate_limit"),
            ("tls_server_config: [1\n", "tls_server_config"),
        ];
        for (text, expected) in cases {
            let Err(err) = WebConfig::parse(text, Path::new(".")) else {
                panic!("{text:?} should be refused");
            };
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn refuses_old_tls_versions_by_name() {
        let err = tls_version("min_version", "TLS10").unwrap_err();
        assert!(err.contains("TLS10 is not supported"), "{err}");
        assert!(tls_version("min_version", "TLS11").is_err());
        assert!(tls_version("max_version", "SSL3")
            .unwrap_err()
            .contains("not a TLS version"));
        assert!(tls_version("min_version", "TLS13").is_ok());
    }

    #[test]
    fn missing_certificate_files_are_named() {
        let text =
            "tls_server_config:\n  cert_file: /nonexistent/c.pem\n  key_file: /nonexistent/k.pem\n";
        let Err(err) = WebConfig::parse(text, Path::new(".")) else {
            panic!("missing files should be refused");
        };
        assert!(
            err.contains("tls_server_config.cert_file /nonexistent/c.pem"),
            "{err}"
        );
    }

    #[test]
    fn certificate_files_are_read_like_every_other_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.pem");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let big = dir.path().join("big.pem");
        std::fs::write(
            &big,
            vec![b'a'; crate::host::files::MAX_PEM_FILE_BYTES as usize + 1],
        )
        .unwrap();
        for (cert, expected) in [
            ("/dev/zero", "not a regular file"),
            (fifo.to_str().unwrap(), "not a regular file"),
            (big.to_str().unwrap(), "larger than"),
        ] {
            let text = format!("tls_server_config:\n  cert_file: {cert}\n  key_file: {cert}\n");
            let Err(err) = WebConfig::parse(&text, dir.path()) else {
                panic!("{cert} should be refused");
            };
            assert!(
                err.contains("tls_server_config.cert_file") && err.contains(expected),
                "{cert}: {err}"
            );
        }
    }
}
