//! Tests of [`super::LiveWebConfig`]: reloads on change, and never failing open.

use super::*;
use crate::server::web::auth::Verdict;
use std::io::Write as _;

fn users(list: &[(&str, &str)]) -> String {
    let mut yaml = "basic_auth_users:\n".to_string();
    for (user, password) in list {
        let hash = bcrypt::hash(password, 4).unwrap();
        yaml.push_str(&format!("  {user}: '{hash}'\n"));
    }
    yaml
}

const HEADERS_ONLY: &str = "http_server_config:\n  headers:\n    X-Frame-Options: deny\n";

/// Rewrite in place, as `cat good > web.yml` does: truncate, then write.
fn rewrite_in_place(path: &Path, text: &str) {
    let mut file = std::fs::File::create(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn replace(path: &Path, text: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, text).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

fn watch(path: &Path) -> LiveWebConfig {
    LiveWebConfig::watching(path.to_path_buf(), WebConfig::load(path).unwrap())
}

async fn allows(web: &WebConfig, user: &str, password: &str) -> bool {
    use base64::Engine as _;
    let Some(auth) = &web.basic_auth else {
        return true;
    };
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let header = http::HeaderValue::from_str(&format!("Basic {token}")).unwrap();
    let client = std::net::IpAddr::from([127, 0, 0, 1]);
    auth.authorize(Some(&header), client).await == Verdict::Allowed
}

#[tokio::test]
async fn an_unchanged_file_is_not_reread_and_an_invalid_one_keeps_the_last_good() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(&path, "").unwrap();
    let live = watch(&path);
    let first = live.current().await;
    assert!(Arc::ptr_eq(&first, &live.current().await), "not re-read");
    std::fs::write(&path, "basic_auth_users: [not, a, map]\n").unwrap();
    let kept = live.current().await;
    assert!(Arc::ptr_eq(&first, &kept), "the last good one is kept");
    assert!(live.lock().refused.is_some());
    std::fs::write(&path, HEADERS_ONLY).unwrap();
    let fresh = live.current().await;
    assert_eq!(fresh.headers.len(), 1);
    assert!(live.lock().refused.is_none());
}

#[tokio::test]
async fn the_empty_moment_of_an_in_place_rewrite_never_turns_auth_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    let text = users(&[("prometheus", "secret-pw")]);
    std::fs::write(&path, &text).unwrap();
    let live = watch(&path);
    for _ in 0..20 {
        // The writer has truncated the file and not yet written it.
        std::fs::File::create(&path).unwrap();
        assert!(live.current().await.basic_auth.is_some(), "empty file read");
        assert!(live.current().await.basic_auth.is_some(), "and again");
        // Half written: invalid (a cut hash) or fewer users, never no users.
        std::fs::write(&path, &text[..text.len() / 2]).unwrap();
        assert!(live.current().await.basic_auth.is_some(), "half written");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&text.as_bytes()[text.len() / 2..]).unwrap();
        drop(file);
        let now = live.current().await;
        assert!(allows(&now, "prometheus", "secret-pw").await);
        assert!(!allows(&now, "prometheus", "wrong").await);
    }
}

#[tokio::test]
async fn a_write_that_finishes_during_the_read_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    let text = users(&[("prometheus", "secret-pw")]);
    std::fs::write(&path, &text).unwrap();
    // The file is empty when read; the writer finishes right after the read, before the stamp
    // of an after-the-read stamper would be taken.
    let once = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let full = text.clone();
    let finishing = once.clone();
    let read: ReadFn = Arc::new(move |path: &Path| {
        let loaded = load(path);
        if !finishing.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::fs::write(path, &full).unwrap();
        }
        loaded
    });
    let mut live = watch(&path);
    live.read = read;
    std::fs::File::create(&path).unwrap();
    let web = live.current().await;
    assert!(once.load(std::sync::atomic::Ordering::SeqCst));
    assert!(web.basic_auth.is_some());
    assert!(
        live.lock().suspect.is_none(),
        "the empty read was never used"
    );

    // A file that changes during every read is never taken.
    let mut live = watch(&path);
    live.read = Arc::new(|path: &Path| {
        let loaded = load(path);
        std::fs::write(path, HEADERS_ONLY).unwrap();
        std::fs::write(path, "").unwrap();
        loaded
    });
    std::fs::write(&path, "").unwrap();
    assert!(live.current().await.basic_auth.is_some());
}

#[tokio::test]
async fn a_deliberate_removal_of_auth_is_taken_once_the_file_has_settled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(&path, users(&[("prometheus", "secret-pw")])).unwrap();
    let settle = Duration::from_millis(200);
    let live = watch(&path).with_settle(settle);
    replace(&path, HEADERS_ONLY);
    assert!(
        live.current().await.basic_auth.is_some(),
        "suspect at first"
    );
    assert!(live.lock().suspect.is_some());
    // Settling is a matter of time passing: nothing else to wait for.
    tokio::time::sleep(settle * 2).await;
    let web = live.current().await;
    assert!(
        web.basic_auth.is_none(),
        "taken once settled and read again"
    );
    assert_eq!(web.headers.len(), 1);

    // Adding auth back applies at once: raising protection is never delayed.
    replace(&path, &users(&[("prometheus", "secret-pw")]));
    assert!(live.current().await.basic_auth.is_some());
}

#[tokio::test]
async fn a_change_that_keeps_size_and_mtime_is_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    let a = users(&[("alice", "pw-one")]);
    let b = users(&[("alice", "pw-two")]);
    assert_eq!(a.len(), b.len());
    std::fs::write(&path, &a).unwrap();
    let live = watch(&path);
    assert!(allows(&*live.current().await, "alice", "pw-one").await);
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    rewrite_in_place(&path, &b);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let web = live.current().await;
    assert!(allows(&web, "alice", "pw-two").await);
    assert!(!allows(&web, "alice", "pw-one").await);
}

/// The steps of the model test: what a writer does to the file.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// `cat version > web.yml`, with requests between truncating, half and full.
    InPlace(usize),
    /// Write aside and rename over.
    Replace(usize),
}

#[tokio::test]
async fn never_weaker_than_reading_the_file_on_every_request() {
    let versions = [
        users(&[("alice", "pw-one")]),
        users(&[("alice", "pw-two"), ("bob", "pw-three")]),
        HEADERS_ONLY.to_string(),
        "basic_auth_users: [broken\n".to_string(),
        String::new(),
    ];
    let logins = [
        ("alice", "pw-one"),
        ("alice", "pw-two"),
        ("bob", "pw-three"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(&path, &versions[0]).unwrap();
    let live = watch(&path);
    // A fixed pseudo-random walk over the steps (a linear congruential generator).
    let mut seed: u64 = 0x5eed;
    let mut requests = 0;
    for _ in 0..60 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let version = (seed >> 33) as usize % versions.len();
        let step = if (seed >> 40) % 2 == 0 {
            Step::InPlace(version)
        } else {
            Step::Replace(version)
        };
        let text = match step {
            Step::InPlace(v) | Step::Replace(v) => versions[v].as_str(),
        };
        let moments: Vec<String> = match step {
            Step::InPlace(_) => vec![
                String::new(),
                text[..text.len() / 2].to_string(),
                text.into(),
            ],
            Step::Replace(_) => vec![text.into()],
        };
        for moment in moments {
            match step {
                Step::InPlace(_) => rewrite_in_place(&path, &moment),
                Step::Replace(_) => replace(&path, &moment),
            }
            // exporter-toolkit reads the file for this request; we answer from what we hold.
            let toolkit = WebConfig::load(&path).ok();
            let ours = live.current().await;
            requests += 1;
            let Some(toolkit) = toolkit.filter(|t| t.basic_auth.is_some()) else {
                continue;
            };
            assert!(
                ours.basic_auth.is_some(),
                "{step:?}: auth off where toolkit has it"
            );
            for (user, password) in logins {
                if allows(&ours, user, password).await {
                    assert!(
                        allows(&toolkit, user, password).await,
                        "{step:?}: {user} lets in with {password} where toolkit refuses"
                    );
                }
            }
        }
    }
    assert!(requests >= 60);
}

#[tokio::test]
async fn files_that_did_not_change_are_not_parsed_again_however_often_they_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    let text = users(&[("prometheus", "secret-pw")]);
    std::fs::write(&path, &text).unwrap();
    let parsed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut live = watch(&path);
    let counted = parsed.clone();
    live.read = Arc::new(move |path: &Path| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        load(path)
    });
    // Just written: racy, so every check reads the file; building the configuration (two
    // bcrypt hashes) happens once.
    let first = live.current().await;
    for _ in 0..50 {
        assert!(Arc::ptr_eq(&first, &live.current().await));
    }
    // The same bytes written again in place: still not parsed again.
    rewrite_in_place(&path, &text);
    assert!(Arc::ptr_eq(&first, &live.current().await));
    assert_eq!(parsed.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_look_stuck_in_a_hung_file_system_is_waited_for_not_joined_by_another_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(&path, "").unwrap();
    let live = watch(&path);
    let first = live.current().await;
    // As a stat blocked in a hung mount holds the look (past its request's deadline).
    let stuck = live
        .looks
        .clone()
        .try_acquire_owned()
        .expect("free between requests");
    std::fs::write(&path, HEADERS_ONLY).unwrap();
    // No second look beside the stuck one: the change is not seen yet, the configuration in
    // use is kept (after waiting CHECK_DEADLINE for the look).
    let kept = live.current().await;
    assert!(
        Arc::ptr_eq(&first, &kept),
        "the configuration in use is kept"
    );
    // Once it ends, the next request looks, and reads the change.
    drop(stuck);
    assert_eq!(live.current().await.headers.len(), 1);
    assert_eq!(
        live.looks.available_permits(),
        1,
        "released when the read ended"
    );
}
