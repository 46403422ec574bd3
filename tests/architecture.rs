//! The shape of the crate, checked: the top-level modules of `src/` form the layers of the tour
//! in `src/lib.rs` (nothing imports upward, no cycle, the three checks never import each other),
//! and no source file is longer than a reader can take in whole.
//!
//! `cargo test --test architecture -- --nocapture` prints the import graph, layer by layer;
//! `scripts/test` runs it that way. An import is any `crate::<module>` (or, in `main.rs`,
//! `lotus_follow_exporter::<module>`) outside a comment, grouped imports (`crate::{a, b::C}`)
//! and `super::` paths that climb to the crate root included. A new top-level module fails the
//! test until it is given a layer below.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, bottom first. A module may import its own layer (without a cycle) or any below.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "primitives",
        &[
            "check",
            "counters",
            "files",
            "multiaddr",
            "secret",
            "permissions",
            "process",
            "tls_client",
            "http_client",
        ],
    ),
    ("checks", &["lotus", "follow", "ports"]),
    ("assembly", &["bound", "snapshot", "collector"]),
    ("renderers", &["render"]),
    ("top", &["config", "probe", "web", "server", "main"]),
];

/// The layer whose modules must not import one another (the collector hands facts between them).
const INDEPENDENT_LAYER: &str = "checks";

/// Longest a source file may be, counted before its trailing `#[cfg(test)] mod tests` block.
const MAX_LINES: usize = 500;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/`: `src/follow/api.rs` is `["follow", "api"]`,
/// `src/follow/mod.rs` is `["follow"]`, `src/lib.rs` is `[]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" && stem != "lib" {
            parts.push(stem.to_string());
        }
    }
    parts
}

/// The code of a file with comments (line comments, doc comments) left out.
fn code_lines(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn identifier_at(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| &text[..end])
}

/// The top-level names a path after `crate::` reaches: `follow::X` gives `follow`,
/// `{follow::X, lotus}` gives both.
fn names_after(rest: &str) -> Vec<String> {
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 1;
        let mut names = Vec::new();
        let mut at_item_start = true;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' if depth == 1 => at_item_start = true,
                c if c.is_whitespace() => {}
                _ if at_item_start && depth == 1 => {
                    if let Some(name) = identifier_at(&group[i..]) {
                        names.push(name.to_string());
                    }
                    at_item_start = false;
                }
                _ => {}
            }
        }
        return names;
    }
    identifier_at(rest)
        .map(|n| vec![n.to_string()])
        .unwrap_or_default()
}

/// Every top-level module a file's code names, from the file at `module` (its module path).
fn imports(code: &str, module: &[String], crate_prefixes: &[&str]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for prefix in crate_prefixes {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            found.extend(names_after(&code[at + prefix.len()..]));
        }
    }
    // `super::` climbing to the crate root from a file `module.len()` levels down.
    let climb = "super::".repeat(module.len());
    if !module.is_empty() {
        for (at, _) in code.match_indices(&climb) {
            let rest = &code[at + climb.len()..];
            if rest.starts_with("super::") || code[..at].ends_with("super::") {
                continue;
            }
            found.extend(names_after(rest));
        }
    }
    found.retain(|name| !["self", "super", "crate"].contains(&name.as_str()));
    found
}

/// The import graph of the top-level modules of `src/` (`main` for `main.rs`).
fn import_graph() -> Graph {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("a file under src/");
        let module = module_path(relative);
        let Some(top) = module.first().cloned() else {
            continue; // lib.rs: the tour and the `pub mod` list
        };
        let text = fs::read_to_string(&file).expect("a readable source file");
        let prefixes: &[&str] = if top == "main" {
            &["lotus_follow_exporter::", "crate::"]
        } else {
            &["crate::"]
        };
        // A trailing `mod tests` block sits one module deeper: its `super::super::` is the file's
        // parent.
        let lines: Vec<&str> = text.lines().collect();
        let split = lines_before_tests(&text);
        let mut test_module = module.clone();
        test_module.push("tests".to_string());
        let mut found = imports(&code_lines(&lines[..split].join("\n")), &module, prefixes);
        found.extend(imports(
            &code_lines(&lines[split..].join("\n")),
            &test_module,
            prefixes,
        ));
        let edges = graph.entry(top.clone()).or_default();
        for name in found {
            if name != top {
                edges.insert(name);
            }
        }
    }
    graph
}

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, members))| members.contains(&module))
        .map(|(i, (name, _))| (i, *name))
}

/// One cycle of the graph, as the modules along it, or `None`.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

/// Every import that breaks the layering, in words.
fn layering_violations(graph: &Graph) -> Vec<String> {
    let mut problems = Vec::new();
    for (module, edges) in graph {
        let Some((layer, layer_name)) = layer_of(module) else {
            problems.push(format!(
                "src/{module}: a top-level module with no layer; add it to LAYERS in {}",
                file!()
            ));
            continue;
        };
        for target in edges {
            let Some((target_layer, target_name)) = layer_of(target) else {
                continue; // reported as a module with no layer, or not a module of src/
            };
            if target_layer > layer {
                problems.push(format!(
                    "{module} ({layer_name}) imports {target} ({target_name}): an import upward"
                ));
            } else if target_layer == layer && layer_name == INDEPENDENT_LAYER {
                problems.push(format!(
                    "{module} imports {target}: the checks never import each other (the collector hands facts between them)"
                ));
            }
        }
    }
    problems
}

fn print_graph(graph: &Graph) {
    println!("top-level module imports of src/, top layer first:");
    for (layer_name, members) in LAYERS.iter().rev() {
        println!("  {layer_name}");
        for module in *members {
            let edges: Vec<&str> = graph
                .get(*module)
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            println!("    {module:<12} -> {}", edges.join(", "));
        }
    }
}

#[test]
fn modules_form_the_layers_of_the_tour_without_a_cycle() {
    let graph = import_graph();
    print_graph(&graph);
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
    let problems = layering_violations(&graph);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for (_, members) in LAYERS {
        for module in *members {
            assert!(
                graph.contains_key(*module),
                "LAYERS names {module}, which is not a module of src/ any more"
            );
        }
    }
}

/// Lines before a trailing `#[cfg(test)]` + `mod tests` block; the whole file without one.
fn lines_before_tests(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let trailing_tests = lines
        .iter()
        .rposition(|line| line.trim_end() == "#[cfg(test)]")
        .filter(|&at| {
            lines
                .get(at + 1)
                .is_some_and(|next| next.starts_with("mod tests"))
        });
    trailing_tests.unwrap_or(lines.len())
}

#[test]
fn no_source_file_is_over_500_lines_before_its_tests() {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let text = fs::read_to_string(file).expect("a readable source file");
            let lines = lines_before_tests(&text);
            let shown = file
                .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap_or(file);
            (lines > MAX_LINES).then(|| format!("{}: {lines} lines", shown.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines before the tests; split by concern:\n{}",
        long.join("\n")
    );
}

#[test]
fn imports_are_read_from_every_form_of_path() {
    let code = code_lines(
        "use crate::{follow::{A, B}, lotus};\n\
         use crate::ports::X; // crate::render in a comment\n\
         /// [`crate::server`] in a doc link\n\
         let a = crate::check::CheckStatus::Ok;\n\
         use super::multiaddr::Host;\n\
         use super::super::inner;\n\
         my_crate::bound::f();",
    );
    let found = imports(&code, &["follow".to_string()], &["crate::"]);
    let expected: BTreeSet<String> = ["check", "follow", "lotus", "multiaddr", "ports"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(found, expected);
    let deeper = imports(
        "use super::super::files;\nuse super::api;",
        &["follow".to_string(), "discovery".to_string()],
        &["crate::"],
    );
    assert_eq!(deeper, BTreeSet::from(["files".to_string()]));
}

#[test]
fn a_cycle_and_an_upward_import_are_found() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph = Graph::new();
        for (from, to) in edges {
            graph
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string());
            graph.entry(to.to_string()).or_default();
        }
        graph
    };
    let cyclic = graph(&[("config", "lotus"), ("lotus", "files"), ("files", "config")]);
    assert_eq!(
        find_cycle(&cyclic).map(|c| c.join(" -> ")),
        Some("config -> lotus -> files -> config".to_string())
    );
    let layered = graph(&[
        ("render", "snapshot"),
        ("snapshot", "lotus"),
        ("lotus", "check"),
    ]);
    assert_eq!(find_cycle(&layered), None);
    assert!(layering_violations(&layered).is_empty());
    let upward = graph(&[
        ("lotus", "config"),
        ("follow", "ports"),
        ("newroom", "check"),
    ]);
    let problems = layering_violations(&upward).join("\n");
    assert!(
        problems.contains("lotus (checks) imports config (top)"),
        "{problems}"
    );
    assert!(problems.contains("follow imports ports"), "{problems}");
    assert!(
        problems.contains("src/newroom: a top-level module with no layer"),
        "{problems}"
    );
}

#[test]
fn the_trailing_test_block_is_not_counted() {
    let text = "//! a\nfn a() {}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {}\n}\n";
    assert_eq!(lines_before_tests(text), 3);
    let no_tests = "//! a\n#[cfg(test)]\nfn helper() {}\nfn b() {}\n";
    assert_eq!(lines_before_tests(no_tests), 4);
}
