//! The documentation holds together: the README stays an operator's page (short, the two
//! commands, `scripts/test` under Development saying what it installs), every relative link of
//! the README, `docs/` and the changelog reaches a file and a heading that exist, and the flag
//! reference names every flag `--help` lists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The Markdown files whose links are checked.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![
        Path::new(ROOT).join("README.md"),
        Path::new(ROOT).join("CHANGELOG.md"),
        Path::new(ROOT).join("BENCHMARKS.md"),
    ];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut inside = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            inside = !inside;
        } else if !inside && line.starts_with('#') {
            out.insert(lotus_follow_exporter::render::markdown::anchor(
                line.trim_start_matches('#'),
            ));
        }
    }
    out
}

/// Every `](target)` of a Markdown text.
fn link_targets(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|t| !t.contains(' '))
        .map(String::from)
        .collect()
}

#[test]
fn the_readme_is_an_operators_page_with_the_two_commands() {
    let readme = read(&Path::new(ROOT).join("README.md"));
    let lines = readme.lines().count();
    assert!(lines < 250, "README.md has {lines} lines");
    assert!(
        readme.contains("\ncargo run --release "),
        "cargo run --release"
    );
    let development = readme
        .split("\n## Development\n")
        .nth(1)
        .expect("a Development section");
    let development = development.split("\n## ").next().unwrap_or_default();
    assert!(
        development.contains("```sh\nscripts/test\n```"),
        "{development}"
    );
    for installs in [
        "prometheus",
        "prometheus-alertmanager",
        "chromium",
        "cargo-deb",
    ] {
        assert!(
            development.contains(installs),
            "the Development section says scripts/test installs {installs}"
        );
    }
    assert!(
        !readme
            .split("\n## Development\n")
            .next()
            .unwrap()
            .contains("scripts/test"),
        "scripts/test is under Development only"
    );
}

#[test]
fn every_relative_link_reaches_a_file_and_a_heading() {
    let mut broken = Vec::new();
    for file in documents() {
        let text = read(&file);
        let dir = file.parent().expect("a folder");
        for target in link_targets(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (path, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            if !resolved.exists() {
                broken.push(format!("{}: {target} (no such file)", file.display()));
                continue;
            }
            let is_markdown = resolved.extension().is_some_and(|e| e == "md");
            if !fragment.is_empty() && is_markdown && !anchors(&read(&resolved)).contains(fragment)
            {
                broken.push(format!("{}: {target} (no such heading)", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_flag_reference_names_every_flag_of_help() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lotus-follow-exporter"))
        .arg("--help")
        .env_clear()
        .output()
        .expect("run --help");
    let help = String::from_utf8_lossy(&output.stdout);
    let reference = read(&Path::new(ROOT).join("docs/configuration.md"));
    // A flag is defined where a line of --help starts with it (`--lotus.api <LOTUS_API>`, or
    // `-h, --help`); mentions inside descriptions do not count.
    let flags: BTreeSet<&str> = help
        .lines()
        .map(str::trim_start)
        .map(|l| {
            l.split_once(", ")
                .filter(|(short, _)| short.len() == 2)
                .map_or(l, |(_, rest)| rest)
        })
        .filter(|l| l.starts_with("--"))
        .filter_map(|l| l.split([' ', '=', '[', '<']).next())
        .filter(|w| !["--help", "--version"].contains(w))
        .collect();
    assert!(flags.len() > 30, "{flags:?}");
    let missing: Vec<&&str> = flags
        .iter()
        .filter(|f| !reference.contains(&format!("`{f}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks {missing:?}"
    );
}
