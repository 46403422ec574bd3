//! The shape of the crate, checked: the top-level modules of `src/` form the layers of the tour
//! in `src/lib.rs` (nothing imports upward, no cycle, the three checks never import each other),
//! and no source file is longer than a reader can take in whole.
//!
//! `cargo test --test architecture -- --nocapture` prints the import graph, layer by layer;
//! `scripts/test` runs it that way. An import is any `crate::<module>` (or, in `main.rs`,
//! `lotus_follow_exporter::<module>`) in the file's Rust tokens (so never in a comment or a
//! string), grouped imports (`crate::{a, b::C}`) and `super::` chains that climb to
//! the crate root from where they stand (a `mod tests {` block or any inline module is one level
//! deeper than its file) included. A new top-level module (a file, or an inline `mod` in
//! `lib.rs`) fails the test until it is given a layer below; so does a glob import of the crate
//! root (`use crate::*`), which would hide every import after it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// The layers, bottom first. A module may import its own layer (without a cycle) or any below.
const LAYERS: &[(&str, &[&str])] = &[
    ("primitives", &["counters", "secret", "net", "host"]),
    ("contract", &["contract"]),
    ("checks", &["checks"]),
    ("assembly", &["bound", "exporter"]),
    ("renderers", &["render"]),
    ("top", &["cli", "server", "main"]),
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

/// A file's tokens: comments are gone, and strings, raw strings and chars are single literal
/// tokens that never read as a path (`proc-macro2`'s tokenizer, the one `syn` uses).
fn tokens(text: &str) -> Vec<TokenTree> {
    let stream: TokenStream = text
        .parse()
        .unwrap_or_else(|e| panic!("not Rust tokens: {e:?}"));
    stream.into_iter().collect()
}

fn is_ident(token: Option<&TokenTree>, name: &str) -> bool {
    matches!(token, Some(TokenTree::Ident(ident)) if ident == name)
}

fn is_punct(token: Option<&TokenTree>, c: char) -> bool {
    matches!(token, Some(TokenTree::Punct(punct)) if punct.as_char() == c)
}

/// `::` at `tokens[at]`.
fn is_path_separator(tokens: &[TokenTree], at: usize) -> bool {
    is_punct(tokens.get(at), ':') && is_punct(tokens.get(at + 1), ':')
}

/// The edge a glob import of the crate root makes: it brings every module into scope, so what
/// the file then uses by bare name (`config::Config`) is invisible here.
const GLOB: &str = "*";

/// The top-level names a path reaches from the tokens after `crate::`: `follow::X` gives
/// `follow`, `{follow::X, lotus}` gives both, `*` gives [`GLOB`].
fn names_after(rest: &[TokenTree]) -> Vec<String> {
    match rest.first() {
        Some(TokenTree::Ident(ident)) => vec![ident.to_string()],
        Some(TokenTree::Punct(punct)) if punct.as_char() == '*' => vec![GLOB.to_string()],
        Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => {
            let items: Vec<TokenTree> = group.stream().into_iter().collect();
            items
                .split(|token| is_punct(Some(token), ','))
                .flat_map(names_after)
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Every top-level module named in `tokens`, which stand `depth` modules below the crate root:
/// `crate::` paths (or the other `crate_names`), and `super::` chains that climb exactly to the
/// root. An inline `mod NAME { .. }` (a file's `mod tests` block among them) is one level deeper.
fn scan(tokens: &[TokenTree], depth: usize, crate_names: &[&str], found: &mut BTreeSet<String>) {
    for at in 0..tokens.len() {
        if let TokenTree::Group(group) = &tokens[at] {
            let inline_module = at >= 2
                && is_ident(tokens.get(at - 2), "mod")
                && matches!(tokens[at - 1], TokenTree::Ident(_))
                && group.delimiter() == Delimiter::Brace;
            let inner: Vec<TokenTree> = group.stream().into_iter().collect();
            scan(
                &inner,
                depth + usize::from(inline_module),
                crate_names,
                found,
            );
            continue;
        }
        let TokenTree::Ident(ident) = &tokens[at] else {
            continue;
        };
        if at >= 2 && is_path_separator(tokens, at - 2) {
            continue; // inside a longer path (`my_crate::bound`, the second `super` of a chain)
        }
        if crate_names.iter().any(|name| ident == name) && is_path_separator(tokens, at + 1) {
            found.extend(names_after(&tokens[at + 3..]));
            continue;
        }
        let mut climb = 0;
        while is_ident(tokens.get(at + 3 * climb), "super")
            && is_path_separator(tokens, at + 3 * climb + 1)
        {
            climb += 1;
        }
        if climb > 0 && climb == depth {
            found.extend(names_after(&tokens[at + 3 * climb..]));
        }
    }
}

/// Every top-level module a file's code names, from the file at `module` (its module path).
fn imports(text: &str, module: &[String], crate_names: &[&str]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    scan(&tokens(text), module.len(), crate_names, &mut found);
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
        let text = fs::read_to_string(&file).expect("a readable source file");
        let Some(top) = module.first().cloned() else {
            // lib.rs: the tour and the `pub mod` list; a module declared there (even inline,
            // with no file of its own) is a node that needs a layer.
            for name in declared_modules(&text) {
                graph.entry(name).or_default();
            }
            continue;
        };
        let crate_names: &[&str] = if top == "main" {
            &["lotus_follow_exporter", "crate"]
        } else {
            &["crate"]
        };
        let found = imports(&text, &module, crate_names);
        let edges = graph.entry(top.clone()).or_default();
        for name in found {
            if name != top {
                edges.insert(name);
            }
        }
    }
    graph
}

/// The modules a file declares at its top level (`mod a;`, `pub mod b {`, `pub(crate) mod c;`).
fn declared_modules(text: &str) -> Vec<String> {
    let tokens = tokens(text);
    tokens
        .windows(2)
        .filter(|pair| is_ident(pair.first(), "mod"))
        .filter_map(|pair| match &pair[1] {
            TokenTree::Ident(name) => Some(name.to_string()),
            _ => None,
        })
        .collect()
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
            if target == GLOB {
                problems.push(format!(
                    "{module} imports the crate root with a glob (`crate::*` or `super::*` to the \
                     root): name each module, so this test sees the imports"
                ));
                continue;
            }
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

/// Lines of a file before its trailing `#[cfg(test)]` + `mod tests { .. }` block; the whole
/// file when it has none (a block that code follows is not trailing).
fn lines_before_tests(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let tokens = tokens(text);
    let trailing = match tokens.as_slice() {
        [.., hash, TokenTree::Group(attribute), module, name, TokenTree::Group(body)] => {
            is_punct(Some(hash), '#')
                && attribute.stream().to_string() == "cfg (test)"
                && is_ident(Some(module), "mod")
                && is_ident(Some(name), "tests")
                && body.delimiter() == Delimiter::Brace
        }
        _ => false,
    };
    let start = lines.windows(2).rposition(|pair| {
        pair[0].trim_end() == "#[cfg(test)]" && pair[1].trim_end() == "mod tests {"
    });
    match start {
        Some(start) if trailing => start,
        _ => lines.len(),
    }
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
    let code = String::from(
        "use crate::{follow::{A, B}, lotus};\n\
         use crate::checks::ports::X; // crate::render in a comment\n\
         /// [`crate::server`] in a doc link\n\
         let a = crate::contract::CheckStatus::Ok;\n\
         use super::multiaddr::Host;\n\
         use super::super::inner;\n\
         my_crate::bound::f();",
    );
    let found = imports(&code, &["follow".to_string()], &["crate"]);
    let expected: BTreeSet<String> = ["check", "follow", "lotus", "multiaddr", "ports"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(found, expected);
    let deeper = imports(
        "use super::super::files;\nuse super::api;",
        &["follow".to_string(), "discovery".to_string()],
        &["crate"],
    );
    assert_eq!(deeper, BTreeSet::from(["files".to_string()]));
    let forms = imports(
        "pub(crate) use crate::secret::Secret;\n\
         fn f() -> X { <crate::host::files::Y>::new(&crate::net::multiaddr::Z::new()) }",
        &["follow".to_string()],
        &["crate"],
    );
    let expected = ["files", "multiaddr", "secret"].map(String::from);
    assert_eq!(forms, BTreeSet::from(expected));
}

#[test]
fn super_paths_climb_from_the_inline_module_they_stand_in() {
    // The tests block of a top-level file, and any other inline module, is one level deeper.
    let text = "use super::lotus;\n\
                mod inner {\n    use super::super::config;\n    use super::sibling;\n}\n\
                #[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::render;\n\
                    mod deeper {\n        use super::super::super::web::X;\n    }\n}\n\
                use super::{probe, server};\n";
    let found = imports(text, &["check".to_string()], &["crate"]);
    let expected = ["config", "lotus", "probe", "render", "server", "web"].map(String::from);
    assert_eq!(found, BTreeSet::from(expected));
}

#[test]
fn comments_and_literals_name_no_module() {
    let text = r###"
        let a = "crate::cli::X";
        let b = r#"crate::server "quoted" crate::server::web"#;
        let c = br"crate::server::probe";
        let d = '"'; let e = '\''; let f = '{'; use crate::host::files; // '
        /* crate::render /* nested crate::bound */ crate::exporter::collector */
        #[doc = "see crate::exporter::snapshot"]
        fn g<'a>(x: &'a str) -> &'a str { crate::contract::f(x) }
        let h = "a \" crate::checks::lotus";
        mod m { use super::super::secret; }
    "###;
    let found = imports(text, &["ports".to_string()], &["crate"]);
    let expected = ["check", "files", "secret"].map(String::from);
    assert_eq!(found, BTreeSet::from(expected));
}

#[test]
fn a_module_declared_in_lib_rs_is_a_node() {
    let lib = "//! tour: mod fake;\npub mod a;\nmod b;\npub(crate) mod c {\n    mod inner;\n}\n";
    assert_eq!(declared_modules(lib), ["a", "b", "c"]);
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
fn a_glob_import_of_the_crate_root_is_refused() {
    let module = ["ports".to_string()];
    for text in ["use crate::*;", "use crate::{*, files};", "use super::*;"] {
        let found = imports(text, &module, &["crate"]);
        assert!(found.contains(GLOB), "{text}: {found:?}");
    }
    // Inside the file's tests block, `super::*` is the file itself.
    let tests = imports(
        "#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        &module,
        &["crate"],
    );
    assert!(tests.is_empty(), "{tests:?}");
    let mut graph = Graph::new();
    graph.insert("ports".to_string(), BTreeSet::from([GLOB.to_string()]));
    let problems = layering_violations(&graph).join("\n");
    assert!(
        problems.contains("ports imports the crate root with a glob"),
        "{problems}"
    );
}

#[test]
fn the_trailing_test_block_is_not_counted() {
    let text = "//! a\nfn a() {}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {}\n}\n";
    assert_eq!(lines_before_tests(text), 3);
    let no_tests = "//! a\n#[cfg(test)]\nfn helper() {}\nfn b() {}\n";
    assert_eq!(lines_before_tests(no_tests), 4);
    // A block that code follows is not trailing: the whole file counts.
    let code_after = "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn t() { let _ = '}'; }\n}\nfn b() {}\nfn c() {}\n";
    assert_eq!(lines_before_tests(code_after), 7);
    // `mod tests_support` is not the tests block.
    let support = "fn a() {}\n#[cfg(test)]\nmod tests_support {\n}\n";
    assert_eq!(lines_before_tests(support), 4);
    let long = format!(
        "{}#[cfg(test)]\nmod tests {{\n}}\n",
        "fn a() {}\n".repeat(501)
    );
    assert_eq!(lines_before_tests(&long), 501);
}
