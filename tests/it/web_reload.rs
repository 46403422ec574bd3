//! `--web.config.file` re-read while running: a password and a certificate changed under a
//! running exporter, and a file that turns invalid.

use std::path::Path;

use base64::Engine as _;
use lotus_follow_exporter::server::web::WebConfig;

use crate::fakes::tls_proxy::Ca;
use crate::util;

fn config_with(path: &Path) -> lotus_follow_exporter::cli::Config {
    let mut config = util::config(&[
        "--lotus.api",
        "/ip4/127.0.0.1/tcp/1/http",
        "--collector.timeout",
        "1s",
    ]);
    config.web_config_file = Some(path.to_path_buf());
    config
}

fn users(list: &[(&str, &str)]) -> String {
    let mut yaml = "basic_auth_users:\n".to_string();
    for (user, password) in list {
        let hash = bcrypt::hash(password, 4).unwrap();
        yaml.push_str(&format!("  {user}: '{hash}'\n"));
    }
    yaml
}

/// Replace a file the way an editor or a deploy tool does: write aside, rename over.
fn replace(path: &Path, text: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, text).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

async fn status_as(exporter: &util::Exporter, user: &str, password: &str) -> u16 {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let auth = format!("Basic {token}");
    exporter
        .request(http::Method::GET, "/healthz", &[("Authorization", &auth)])
        .await
        .status
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_password_applies_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    replace(&path, &users(&[("alice", "old-pass")]));
    let web = WebConfig::load(&path).unwrap();
    let exporter = util::start_with_web(config_with(&path), web).await;
    assert_eq!(status_as(&exporter, "alice", "old-pass").await, 200);
    // Twice: the second is served from the cache of successful logins.
    assert_eq!(status_as(&exporter, "alice", "old-pass").await, 200);
    assert_eq!(status_as(&exporter, "bob", "bob-pass").await, 401);

    replace(&path, &users(&[("alice", "new-pass"), ("bob", "bob-pass")]));
    assert_eq!(
        status_as(&exporter, "alice", "old-pass").await,
        401,
        "the old password (cached as a success) is refused after the reload"
    );
    assert_eq!(status_as(&exporter, "alice", "new-pass").await, 200);
    assert_eq!(status_as(&exporter, "bob", "bob-pass").await, 200);

    // An invalid file keeps the last good configuration.
    replace(&path, "basic_auth_users: [not, a, map]\n");
    assert_eq!(status_as(&exporter, "alice", "new-pass").await, 200);
    assert_eq!(status_as(&exporter, "alice", "old-pass").await, 401);
    // So does a file that would turn TLS on: that is decided at start.
    replace(
        &path,
        "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n",
    );
    assert_eq!(status_as(&exporter, "bob", "bob-pass").await, 200);
}

/// Complete a TLS handshake with the exporter, trusting only the CA in `ca_file`.
async fn handshake(addr: std::net::SocketAddr, ca_file: &Path) -> Result<(), String> {
    let config = lotus_follow_exporter::net::tls_client::client_config(Some(ca_file))?;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    lotus_follow_exporter::net::tls_client::handshake(config, "localhost", tcp)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_certificate_is_served_from_the_next_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, new_ca) = (Ca::new("old CA"), Ca::new("new CA"));
    let old_ca_file = old_ca.write(dir.path(), "old-ca.pem");
    let new_ca_file = new_ca.write(dir.path(), "new-ca.pem");
    let (cert, key) = old_ca.server_pem(&["localhost"]);
    replace(&dir.path().join("cert.pem"), &cert);
    replace(&dir.path().join("key.pem"), &key);
    let path = dir.path().join("web.yml");
    replace(
        &path,
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n",
    );
    let web = WebConfig::load(&path).unwrap();
    let exporter = util::start_with_web(config_with(&path), web).await;
    let addr = exporter.addr;
    handshake(addr, Path::new(&old_ca_file)).await.unwrap();
    let refused = handshake(addr, Path::new(&new_ca_file)).await.unwrap_err();
    assert!(refused.contains("unknown issuer"), "{refused}");

    // Renewal: only the certificate and key files change, not web.yml.
    let (cert, key) = new_ca.server_pem(&["localhost"]);
    replace(&dir.path().join("key.pem"), &key);
    replace(&dir.path().join("cert.pem"), &cert);
    handshake(addr, Path::new(&new_ca_file)).await.unwrap();
    let refused = handshake(addr, Path::new(&old_ca_file)).await.unwrap_err();
    assert!(refused.contains("unknown issuer"), "{refused}");

    // A file that would turn TLS off keeps it on (decided at start).
    replace(&path, "");
    handshake(addr, Path::new(&new_ca_file)).await.unwrap();
}
