//! The shape of the crate, checked: the top-level modules of `src/` form the layers of the tour
//! in `src/lib.rs` (nothing imports upward, no cycle); the checks under `src/checks/` never
//! import each other, and no file outside the registry and a check's own folder names a
//! specific check (the collector, snapshot, `/probe`, renderers and server loop over the
//! registry); no source file is longer than a reader can take in whole.
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
    ("assembly", &["exporter"]),
    ("renderers", &["render"]),
    ("top", &["cli", "server", "main"]),
];

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

/// The paths a path expression reaches from the tokens after `crate::` (or after a `super`
/// chain): `follow::X` gives `[follow, X]`, `{follow::X, lotus}` gives both, `*` gives
/// `[`[`GLOB`]`]`. A path stops at the first token that is not `ident ::` or a brace group.
fn paths_after(rest: &[TokenTree]) -> Vec<Vec<String>> {
    match rest.first() {
        Some(TokenTree::Ident(ident)) => {
            let head = ident.to_string();
            if is_path_separator(rest, 1) {
                let tails = paths_after(&rest[3..]);
                if tails.is_empty() {
                    return vec![vec![head]];
                }
                tails
                    .into_iter()
                    .map(|tail| std::iter::once(head.clone()).chain(tail).collect())
                    .collect()
            } else {
                vec![vec![head]]
            }
        }
        Some(TokenTree::Punct(punct)) if punct.as_char() == '*' => vec![vec![GLOB.to_string()]],
        Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => {
            let items: Vec<TokenTree> = group.stream().into_iter().collect();
            items
                .split(|token| is_punct(Some(token), ','))
                .flat_map(paths_after)
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Collect the absolute paths (from the crate root) that `tokens` name, for code standing in
/// the file of module path `file` and `inline` inline modules deeper.
fn scan(
    tokens: &[TokenTree],
    file: &[String],
    inline: usize,
    crate_names: &[&str],
    found: &mut BTreeSet<Vec<String>>,
) {
    for at in 0..tokens.len() {
        if let TokenTree::Group(group) = &tokens[at] {
            let inline_module = at >= 2
                && is_ident(tokens.get(at - 2), "mod")
                && matches!(tokens[at - 1], TokenTree::Ident(_))
                && group.delimiter() == Delimiter::Brace;
            let inner: Vec<TokenTree> = group.stream().into_iter().collect();
            scan(
                &inner,
                file,
                inline + usize::from(inline_module),
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
            found.extend(paths_after(&tokens[at + 3..]));
            continue;
        }
        let mut climb = 0;
        while is_ident(tokens.get(at + 3 * climb), "super")
            && is_path_separator(tokens, at + 3 * climb + 1)
        {
            climb += 1;
        }
        // A chain that stays inside the file names nothing of another file.
        if climb > inline && climb - inline <= file.len() {
            let base = &file[..file.len() - (climb - inline)];
            for tail in paths_after(&tokens[at + 3 * climb..]) {
                found.insert(base.iter().cloned().chain(tail).collect());
            }
        }
    }
}

/// Every absolute path (from the crate root) a file's code names, from the file at `module`.
fn paths(text: &str, module: &[String], crate_names: &[&str]) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    scan(&tokens(text), module, 0, crate_names, &mut found);
    found.retain(|path| {
        path.first()
            .is_some_and(|first| !["self", "super", "crate"].contains(&first.as_str()))
    });
    found
}

/// Every top-level module a file's code names, from the file at `module` (its module path).
fn imports(text: &str, module: &[String], crate_names: &[&str]) -> BTreeSet<String> {
    paths(text, module, crate_names)
        .into_iter()
        .filter_map(|path| path.into_iter().next())
        .collect()
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

/// Files outside a check's own folder that may name a specific check: the registry and its
/// typed joins, the entry point and the top-level flags (the issue's "at most two other files").
const NAME_CHECKS: &[&str] = &[
    "checks/mod.rs",
    "checks/joins.rs",
    "main.rs",
    "cli/flags.rs",
];

/// The files a check's folder may hold beside the check folders themselves.
const CHECKS_TOP_FILES: &[&str] = &["mod.rs", "joins.rs"];

/// The checks: the folders under `src/checks/`.
fn check_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(src_dir().join("checks"))
        .expect("src/checks/ exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_dir())
        .filter_map(|path| Some(path.file_name()?.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

/// What the file at `relative` (under `src/`, module path `module`) does wrong by naming
/// `paths`: a check that imports another check, or a file outside the registry and the check's
/// own folder that names a specific check.
fn check_naming_problems(
    relative: &str,
    module: &[String],
    paths: &BTreeSet<Vec<String>>,
    checks: &[String],
) -> Vec<String> {
    let own = match module {
        [first, check, ..] if first == "checks" && checks.contains(check) => Some(check),
        _ => None,
    };
    let mut problems = BTreeSet::new();
    for path in paths {
        let [first, named, ..] = path.as_slice() else {
            continue;
        };
        if first != "checks" || !checks.contains(named) {
            continue;
        }
        match own {
            Some(own) if own == named => false,
            Some(own) => problems.insert(format!(
                "src/{relative}: the check {own} imports the check {named}; checks never import \
                 each other (hand the fact over in src/checks/joins.rs)"
            )),
            None if NAME_CHECKS.contains(&relative) => false,
            None => problems.insert(format!(
                "src/{relative} names the check {named}: only the registry (src/checks/mod.rs), \
                 its joins, main.rs and cli/flags.rs may; loop over the registry's sections"
            )),
        };
    }
    problems.into_iter().collect()
}

/// Every file's check-naming problems, and anything in `src/checks/` that is not a check.
fn check_violations() -> Vec<String> {
    let src = src_dir();
    let checks = check_names();
    let mut problems = Vec::new();
    for entry in fs::read_dir(src.join("checks")).expect("src/checks/ exists") {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_file() && !CHECKS_TOP_FILES.contains(&name.as_str()) {
            problems.push(format!(
                "src/checks/{name}: only check folders, mod.rs (the registry) and joins.rs live here"
            ));
        }
        if path.is_dir() && !path.join("mod.rs").is_file() {
            problems.push(format!(
                "src/checks/{name}/ has no mod.rs: every folder here is one check"
            ));
        }
    }
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files {
        let relative = file.strip_prefix(&src).expect("a file under src/");
        let module = module_path(relative);
        let crate_names: &[&str] = if module.first().is_some_and(|m| m == "main") {
            &["lotus_follow_exporter", "crate"]
        } else {
            &["crate"]
        };
        let text = fs::read_to_string(&file).expect("a readable source file");
        let found = paths(&text, &module, crate_names);
        let relative = relative.to_string_lossy();
        problems.extend(check_naming_problems(&relative, &module, &found, &checks));
    }
    problems
}

#[test]
fn checks_never_import_each_other_and_only_the_registry_names_them() {
    let checks = check_names();
    println!("checks: {}", checks.join(", "));
    let problems = check_violations();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_check_naming_another_or_a_generic_file_naming_a_check_is_found() {
    let checks = ["follow", "lotus", "ports"].map(String::from);
    let module = |path: &str| -> Vec<String> { path.split('/').map(String::from).collect() };
    let found = |text: &str, at: &str| paths(text, &module(at), &["crate"]);
    // A check reaching another, by `crate::` or by climbing `super`.
    let text = "use crate::checks::lotus::LotusReport;\nuse super::super::super::follow::X;\n";
    let at = "checks/ports/render/html";
    let problems = check_naming_problems(
        "checks/ports/render/html.rs",
        &module(at),
        &found(text, at),
        &checks,
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("the check ports imports the check follow"),
        "{problems:?}"
    );
    // Its own folder, the contract and the registry's items are fine.
    let text = "use crate::checks::ports::X;\nuse super::super::Y;\nuse crate::contract::Z;\nuse crate::checks::Settings;\n";
    assert!(check_naming_problems(
        "checks/ports/render/html.rs",
        &module(at),
        &found(text, at),
        &checks
    )
    .is_empty());
    // A renderer naming a check is refused; the registry and main.rs may.
    let text = "use crate::checks::{lotus::LotusReport, registry};\n";
    let problems = check_naming_problems(
        "render/html.rs",
        &module("render/html"),
        &found(text, "render/html"),
        &checks,
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("src/render/html.rs names the check lotus"),
        "{problems:?}"
    );
    assert!(check_naming_problems(
        "checks/joins.rs",
        &module("checks/joins"),
        &found(text, "checks/joins"),
        &checks
    )
    .is_empty());
    let main = paths(
        "use lotus_follow_exporter::checks::lotus::X;",
        &module("main"),
        &["lotus_follow_exporter"],
    );
    assert!(check_naming_problems("main.rs", &module("main"), &main, &checks).is_empty());
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
        "use crate::{exporter::{A, B}, cli};\n\
         use crate::checks::ports::X; // crate::server in a comment\n\
         /// [`crate::server`] in a doc link\n\
         let a = crate::contract::CheckStatus::Ok;\n\
         use super::net::Host;\n\
         my_crate::host::f();",
    );
    let render = ["render".to_string()];
    let found = imports(&code, &render, &["crate"]);
    let expected = ["checks", "cli", "contract", "exporter", "net"].map(String::from);
    assert_eq!(found, BTreeSet::from(expected));
    let whole = paths(&code, &render, &["crate"]);
    assert!(whole.contains(["checks", "ports", "X"].map(String::from).as_slice()));
    assert!(whole.contains(["exporter", "B"].map(String::from).as_slice()));
    // A `super` chain is resolved from the file's own module path.
    let deeper = paths(
        "use super::super::host::files;\nuse super::api;",
        &[
            "checks".to_string(),
            "follow".to_string(),
            "discovery".to_string(),
        ],
        &["crate"],
    );
    let expected = [
        vec!["checks", "follow", "api"],
        vec!["checks", "host", "files"],
    ]
    .map(|p| p.into_iter().map(String::from).collect::<Vec<_>>());
    assert_eq!(deeper, BTreeSet::from(expected));
    let forms = imports(
        "pub(crate) use crate::secret::Secret;\n\
         fn f() -> X { <crate::host::files::Y>::new(&crate::net::multiaddr::Z::new()) }",
        &render,
        &["crate"],
    );
    let expected = ["host", "net", "secret"].map(String::from);
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
    let found = imports(text, &["render".to_string()], &["crate"]);
    let expected = ["contract", "host", "secret"].map(String::from);
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
    let cyclic = graph(&[("cli", "checks"), ("checks", "host"), ("host", "cli")]);
    assert_eq!(
        find_cycle(&cyclic).map(|c| c.join(" -> ")),
        Some("checks -> host -> cli -> checks".to_string())
    );
    let layered = graph(&[
        ("render", "exporter"),
        ("exporter", "checks"),
        ("checks", "contract"),
    ]);
    assert_eq!(find_cycle(&layered), None);
    assert!(layering_violations(&layered).is_empty());
    let upward = graph(&[("checks", "cli"), ("newroom", "contract")]);
    let problems = layering_violations(&upward).join("\n");
    assert!(
        problems.contains("checks (checks) imports cli (top)"),
        "{problems}"
    );
    assert!(
        problems.contains("src/newroom: a top-level module with no layer"),
        "{problems}"
    );
}

#[test]
fn a_glob_import_of_the_crate_root_is_refused() {
    let module = ["render".to_string()];
    for text in ["use crate::*;", "use crate::{*, host};", "use super::*;"] {
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
    graph.insert("render".to_string(), BTreeSet::from([GLOB.to_string()]));
    let problems = layering_violations(&graph).join("\n");
    assert!(
        problems.contains("render imports the crate root with a glob"),
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
