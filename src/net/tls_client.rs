//! TLS for outgoing calls (Lotus over https): the trusted roots, a connector for the keep-alive
//! pool, and certificate failures in an operator's words.
//!
//! Verification is never turned off: the roots are the system's (`rustls-native-certs`) or,
//! with `--lotus.ca-file`, only the CAs in that file (as Prometheus's `tls_config.ca_file`).

use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The longest a TLS handshake may take, even outside a call (calls end by their own deadline).
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A client TLS configuration, shared by every connection to one backend.
pub type ClientTls = Arc<rustls::ClientConfig>;

/// The client TLS configuration: the CAs in `ca_file` when given, else the system's roots.
pub fn client_config(ca_file: Option<&Path>) -> Result<ClientTls, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let shown = path.display();
            // Read like every other file: capped, regular files only, under a deadline.
            let pem = crate::host::files::read_pem_file(path)
                .map_err(|e| format!("--lotus.ca-file {e}"))?;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("--lotus.ca-file {shown}: {}", pem_words(&e)))?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("--lotus.ca-file {shown}: not a usable CA: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("--lotus.ca-file {shown}: no certificate in it"));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                log::warn!("reading the system's trusted certificates: {error}");
            }
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err("no trusted CA certificate found on this system (install ca-certificates, or give one with --lotus.ca-file)".to_string());
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS client setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn pem_words(error: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match error {
        Error::Io(e) => e.to_string(),
        Error::NoItemsFound => "no PEM certificate in it".to_string(),
        other => format!("not usable PEM ({other:?})"),
    }
}

/// Why a TLS handshake failed, in words that say "certificate" when the certificate was the
/// reason (carried inside an `io::Error` out of the connector).
#[derive(Debug)]
pub struct TlsFailure(pub String);

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsFailure {}

/// A server certificate that is itself a CA (`basicConstraints CA:TRUE`): typically a
/// self-signed certificate made with `openssl req -x509` and given as its own CA file.
pub const CA_AS_SERVER: &str = "certificate rejected: the server presents a CA certificate \
    (basicConstraints CA:TRUE) as its own, as a self-signed certificate given as its own \
    --lotus.ca-file (or a probe module's ca_file) does; a certificate may not be both: make the \
    self-signed one with basicConstraints CA:FALSE (openssl req -x509 ... -addext \
    basicConstraints=critical,CA:FALSE) and trust it, or give the server a certificate issued by \
    the CA in that file";

/// A handshake error in an operator's words.
pub fn describe(error: &rustls::Error, host: &str) -> String {
    use rustls::CertificateError as C;
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => "certificate not trusted: unknown issuer (a CA that is neither in the system's roots nor in --lotus.ca-file)".to_string(),
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                format!("certificate name mismatch: the certificate is not valid for {host}")
            }
            C::Expired | C::ExpiredContext { .. } => "certificate expired".to_string(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "certificate not valid yet (check this host's clock)".to_string()
            }
            C::Revoked => "certificate revoked".to_string(),
            C::BadSignature => "certificate has a bad signature".to_string(),
            // webpki's `CaUsedAsEndEntity` comes through as an opaque error.
            C::Other(e) if e.to_string().contains("CaUsedAsEndEntity") => CA_AS_SERVER.to_string(),
            other => format!("certificate rejected: {other:?}"),
        },
        other => format!("TLS handshake failed: {other}"),
    }
}

/// Find a [`TlsFailure`] in an error's chain (an `io::Error` wraps it out of the connector).
pub fn find_failure<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a TlsFailure> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(failure) = e.downcast_ref::<TlsFailure>() {
            return Some(failure);
        }
        if let Some(inner) = e
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<TlsFailure>())
        {
            return Some(inner);
        }
        cause = e.source();
    }
    None
}

/// Open a TLS session over `stream` to `host`, failing with a [`TlsFailure`] inside the error.
pub async fn handshake(
    config: ClientTls,
    host: &str,
    stream: TcpStream,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
        .map_err(|_| {
            io::Error::other(TlsFailure(format!(
                "{host:?} is not a valid TLS server name"
            )))
        })?
        .to_owned();
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| {
            let words = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                Some(tls) => describe(tls, host),
                None => format!("TLS handshake failed: {e}"),
            };
            io::Error::other(TlsFailure(words))
        })
}

/// A stream that is plain TCP or TLS over TCP.
pub enum MaybeTls {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A pooled connection: hyper's I/O traits over [`MaybeTls`].
pub struct PooledStream(TokioIo<MaybeTls>);

impl Connection for PooledStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for PooledStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for PooledStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// The pool's connector: TCP through hyper-util's [`HttpConnector`], then TLS when configured.
#[derive(Clone)]
pub struct Connector {
    tcp: HttpConnector,
    tls: Option<ClientTls>,
}

impl Connector {
    /// A connector over `tcp`, speaking TLS when `tls` is given.
    pub fn new(mut tcp: HttpConnector, tls: Option<ClientTls>) -> Connector {
        tcp.enforce_http(false);
        Connector { tcp, tls }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for Connector {
    type Response = PooledStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<PooledStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let host = uri.host().unwrap_or_default().to_string();
        let connecting = self.tcp.call(uri);
        let tls = self.tls.clone();
        Box::pin(async move {
            let tcp = connecting.await?.into_inner();
            let stream = match tls {
                Some(config) => {
                    // A handshake the pool finishes in the background has no call deadline.
                    let shake = handshake(config, &host, tcp);
                    let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, shake)
                        .await
                        .map_err(|_| {
                            io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
                        })??;
                    MaybeTls::Tls(Box::new(tls))
                }
                None => MaybeTls::Plain(tcp),
            };
            Ok(PooledStream(TokioIo::new(stream)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_is_read_like_every_other_file() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.pem");
        std::fs::write(
            &big,
            vec![b'a'; crate::host::files::MAX_PEM_FILE_BYTES as usize + 1],
        )
        .unwrap();
        let error = client_config(Some(&big)).unwrap_err();
        assert!(
            error.starts_with("--lotus.ca-file ") && error.contains("larger than"),
            "{error}"
        );
        let fifo = dir.path().join("fifo.pem");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            // A FIFO nobody writes to would block a plain read forever.
            let error = client_config(Some(&fifo)).unwrap_err();
            assert!(error.contains("not a regular file"), "{error}");
        }
        let missing = client_config(Some(&dir.path().join("none.pem"))).unwrap_err();
        assert!(missing.contains("no such file"), "{missing}");
    }

    #[test]
    fn certificate_failures_say_certificate() {
        use rustls::CertificateError as C;
        for cert in [C::UnknownIssuer, C::NotValidForName, C::Expired] {
            let words = describe(&rustls::Error::InvalidCertificate(cert), "h");
            assert!(words.contains("certificate"), "{words}");
        }
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let err = client_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(err.contains("--lotus.ca-file /nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn failures_are_found_inside_io_errors() {
        let io = io::Error::other(TlsFailure("certificate expired".into()));
        let boxed: BoxError = Box::new(io);
        assert_eq!(
            find_failure(boxed.as_ref()).map(|f| f.0.as_str()),
            Some("certificate expired")
        );
    }
}
