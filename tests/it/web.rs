//! `--web.config.file` with a real client (curl): basic auth, TLS, and refusal of bad configs.

use std::path::Path;
use std::process::Command;

use lotus_follow_exporter::server::web::WebConfig;

use crate::util;

/// curl's status code for a request, or its error when it could not get one.
fn curl(args: &[&str]) -> Result<u16, String> {
    let output = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--max-time",
            "10",
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_code}",
        ])
        .args(args)
        .output()
        .expect("curl is installed (scripts/test installs it)");
    if output.status.success() {
        let code = String::from_utf8_lossy(&output.stdout);
        code.trim()
            .parse()
            .map_err(|_| format!("curl printed {code:?}"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn write_web_config(dir: &Path, yaml: &str) -> std::path::PathBuf {
    let path = dir.join("web.yml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn self_signed(dir: &Path) -> (String, String) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    ("cert.pem".to_string(), "key.pem".to_string())
}

fn quiet_config() -> lotus_follow_exporter::cli::Config {
    util::config(&[
        "--lotus.api",
        "/ip4/127.0.0.1/tcp/1/http",
        "--collector.timeout",
        "1s",
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_lets_in_only_good_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let path = write_web_config(
        dir.path(),
        &format!("basic_auth_users:\n  alice: '{hash}'\n"),
    );
    let web = WebConfig::load(&path).unwrap();
    let exporter = util::start_with_web(quiet_config(), web).await;
    let url = format!("http://{}/metrics", exporter.addr);
    let run = move |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            curl(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };
    assert_eq!(run(vec![url.clone()]).await.unwrap(), Ok(401));
    assert_eq!(
        run(vec!["-u".into(), "alice:wrong".into(), url.clone()])
            .await
            .unwrap(),
        Ok(401)
    );
    assert_eq!(
        run(vec!["-u".into(), "mallory:s3cret".into(), url.clone()])
            .await
            .unwrap(),
        Ok(401)
    );
    assert_eq!(
        run(vec!["-u".into(), "alice:s3cret".into(), url.clone()])
            .await
            .unwrap(),
        Ok(200)
    );
    let page = exporter.get("/metrics").await;
    assert_eq!(page.status, 401);
    assert_eq!(page.headers["www-authenticate"], "Basic");
    assert!(
        !page.body.contains("lotus_up"),
        "nothing leaks to an unauthenticated client"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_serves_https_and_refuses_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let yaml = format!(
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  min_version: TLS12\nbasic_auth_users:\n  alice: '{hash}'\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
    );
    let web = WebConfig::load(&write_web_config(dir.path(), &yaml)).unwrap();
    let exporter = util::start_with_web(quiet_config(), web).await;
    let https = format!("https://127.0.0.1:{}/metrics", exporter.addr.port());
    let http = format!("http://127.0.0.1:{}/metrics", exporter.addr.port());
    let cafile = dir.path().join(&cert).to_string_lossy().into_owned();
    let good = {
        let (https, cafile) = (https.clone(), cafile.clone());
        tokio::task::spawn_blocking(move || {
            curl(&["--cacert", &cafile, "-u", "alice:s3cret", &https])
        })
    };
    assert_eq!(good.await.unwrap(), Ok(200));
    let wrong = {
        let (https, cafile) = (https.clone(), cafile.clone());
        tokio::task::spawn_blocking(move || {
            curl(&["--cacert", &cafile, "-u", "alice:nope", &https])
        })
    };
    assert_eq!(wrong.await.unwrap(), Ok(401));
    let plain = tokio::task::spawn_blocking(move || curl(&["-u", "alice:s3cret", &http]));
    assert!(
        plain.await.unwrap().is_err(),
        "plain HTTP must not be answered when TLS is on"
    );
    let headers = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args([
                "--silent",
                "--cacert",
                &cafile,
                "-u",
                "alice:s3cret",
                "--dump-header",
                "-",
                "--output",
                "/dev/null",
                &https,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let headers = String::from_utf8_lossy(&headers.stdout).to_ascii_lowercase();
    assert!(
        headers.contains("x-content-type-options: nosniff"),
        "{headers}"
    );
}

#[test]
fn invalid_web_config_stops_the_exporter_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "basic_auth_users:\n  bob: plaintext\n",
            "basic_auth_users.bob",
        ),
        (
            "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS10\n",
            "c.pem",
        ),
        ("tls_sever_config: {}\n", "tls_sever_config"),
    ];
    for (yaml, expected) in cases {
        let path = write_web_config(dir.path(), yaml);
        let output = Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"))
            .args([
                "--web.config.file",
                path.to_str().unwrap(),
                "--web.listen-address",
                "127.0.0.1:0",
            ])
            .env("HOME", dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{yaml:?}: {stderr}");
        assert!(stderr.contains(expected), "{yaml:?}: {stderr}");
    }
}

#[test]
fn old_tls_versions_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let yaml = format!(
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  min_version: TLS11\n"
    );
    let Err(err) = WebConfig::load(&write_web_config(dir.path(), &yaml)) else {
        panic!("TLS11 must be refused");
    };
    assert!(err.to_string().contains("TLS11 is not supported"), "{err}");
}

#[test]
fn hash_password_prints_a_hash_that_verifies() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"))
        .args(["hash-password", "--cost", "4"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let hash = String::from_utf8(output.stdout).unwrap();
    assert!(
        bcrypt::verify("correct horse", hash.trim()).unwrap(),
        "{hash}"
    );
    assert!(!hash.contains("correct horse"));
}

#[test]
fn hash_password_refuses_what_bcrypt_would_ignore() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"))
        .args(["hash-password", "--cost", "4"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let long = "p".repeat(73);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{long}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no hash is printed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("73 bytes") && stderr.contains("72"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_exporter_gracefully() {
    let port = util::free_tcp_port();
    let listen = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"))
        .args([
            "--web.listen-address",
            &listen,
            "--lotus.api",
            "/ip4/127.0.0.1/tcp/1/http",
        ])
        .env("HOME", dir.path())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let endpoint = lotus_follow_exporter::net::http_client::Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port,
    };
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let request = http::Request::get("/healthz")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(500);
        match lotus_follow_exporter::net::http_client::fetch(&endpoint, request, 1024, deadline)
            .await
        {
            Ok(response) if response.status == 200 => break,
            _ if tokio::time::Instant::now() > until => {
                panic!("the exporter never answered /healthz")
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(5), child.wait())
        .await
        .expect("the exporter stops within 5s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}
