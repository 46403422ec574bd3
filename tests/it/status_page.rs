//! The status page on `/` for browsers: served as HTML to `Accept: text/html`, values escaped,
//! plain digits, and (in headless Chromium, installed by scripts/test) what a person sees,
//! with a screenshot saved under target/.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fakes::cluster::{self, ClusterState};
use crate::fakes::lotus::FakeLotus;
use crate::{fakes, util};

/// Untrusted text a follower reports (its IPFS error), which must never become markup.
const HOSTILE: &str = "<img src=x onerror=alert(1)> ipfs & \"down\"";

struct Stack {
    lotus: FakeLotus,
    _follower: fakes::cluster::FakeServer,
    exporter: util::Exporter,
}

async fn stack() -> Stack {
    let lotus = FakeLotus::start().await;
    lotus.state_mut(|s| {
        let synced = s.expected_height();
        s.set_head_height(synced);
        s.add_wallet(
            "f1abcdefghijklmnopqrstuvwxyz234567",
            "1234500000000000000000",
        );
    });
    let state = ClusterState {
        ipfs_error: HOSTILE.to_string(),
        ..ClusterState::default()
    };
    let (follower, port) = cluster::serve_tcp(state).await;
    let api = lotus.api_info();
    let follow = format!("web-cluster=/ip4/127.0.0.1/tcp/{port}");
    let wallet = format!("{}=hot", "f1abcdefghijklmnopqrstuvwxyz234567");
    let exporter = util::start(&[
        "--lotus.api",
        &api,
        "--follow.api",
        &follow,
        "--lotus.wallet",
        &wallet,
    ])
    .await;
    Stack {
        lotus,
        _follower: follower,
        exporter,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn browsers_get_the_status_page_and_others_the_landing_page() {
    let s = stack().await;
    let page = s
        .exporter
        .request(http::Method::GET, "/", &[("Accept", "text/html,*/*;q=0.8")])
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.headers["content-type"], "text/html; charset=utf-8",
        "{}",
        page.body
    );
    let body = &page.body;
    assert!(body.contains("<h2 id=\"lotus\">Lotus</h2>"), "{body}");
    let height = s.lotus.state().head_height.to_string();
    assert!(body.contains(&height), "plain digits: {body}");
    assert!(body.contains("1234.5"), "exact FIL: {body}");
    assert!(body.contains("web-cluster"), "{body}");
    assert!(
        !body.contains("<img"),
        "untrusted text became markup: {body}"
    );
    assert!(body.contains("&lt;img src=x onerror=alert(1)&gt; ipfs &amp; &quot;down&quot;"));
    assert!(!body.contains("<script"), "no JavaScript");
    for asset in [
        "<link",
        "<script",
        "src=\"",
        "href=\"http",
        "url(",
        "@import",
    ] {
        assert!(
            !body.contains(asset),
            "no external asset: {asset} in {body}"
        );
    }
    assert!(!body.contains("http-equiv=\"refresh\""));
    let refreshing = s
        .exporter
        .request(
            http::Method::GET,
            "/?refresh=30",
            &[("Accept", "text/html")],
        )
        .await;
    assert!(refreshing
        .body
        .contains("<meta http-equiv=\"refresh\" content=\"30\">"));

    let landing = s
        .exporter
        .request(http::Method::GET, "/", &[("Accept", "*/*")])
        .await;
    assert!(landing.body.contains("Status (JSON)"));
    assert!(s.lotus.total_calls() > 0);
}

/// Where the screenshot goes (kept out of the source tree; docs/ holds a copied one).
fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page")
}

/// Run Chromium headless with `args` against `url`; its stdout, or a panic with its stderr.
async fn chromium(profile: &Path, args: &[&str], url: &str) -> String {
    let program = ["chromium", "chromium-browser"]
        .into_iter()
        .find_map(util::find_on_path)
        .expect("chromium is not installed: run scripts/test, which installs Debian's chromium");
    let mut command = tokio::process::Command::new(program);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .kill_on_drop(true);
    // Chromium's own start on a small shared machine: a hang bound, not a speed bound.
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("chromium did not finish within 120 s")
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_shows_the_status_page_and_saves_a_screenshot() {
    let s = stack().await;
    let url = format!("http://{}/", s.exporter.addr);
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(profile.path(), &["--dump-dom"], &url).await;
    // What the browser built from the page: the sections, the figures, the untrusted text as
    // text (its markup escaped once more when the DOM is serialised), and no element from it.
    for visible in [
        "lotus-follow-exporter status",
        "Lotus",
        "running",
        "Cluster followers (1)",
        "0 of 1 healthy",
        "web-cluster",
        "Port plan",
        "hot",
        "1234.5",
        "Finality",
        "F3 running",
    ] {
        assert!(dom.contains(visible), "{visible:?} not on the page:\n{dom}");
    }
    let height = s.lotus.state().head_height.to_string();
    assert!(dom.contains(&height), "{height} not on the page:\n{dom}");
    assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;"), "{dom}");
    assert!(
        !dom.contains("<img"),
        "untrusted text became an element:\n{dom}"
    );

    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    // A phone-sized window: the page must read without zooming.
    let arg = format!("--screenshot={}", shot.display());
    chromium(profile.path(), &[&arg, "--window-size=412,1400"], &url).await;
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        png.len() > 10_000,
        "a blank screenshot? {} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
}
