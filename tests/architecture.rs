//! The shape of the crate, checked: the top-level modules of `src/` form the layers of the tour
//! in `src/lib.rs` (nothing imports upward, no cycle, the three checks never import each other),
//! and no source file is longer than a reader can take in whole.
//!
//! `cargo test --test architecture -- --nocapture` prints the import graph, layer by layer;
//! `scripts/test` runs it that way. An import is any `crate::<module>` (or, in `main.rs`,
//! `lotus_follow_exporter::<module>`) in code (comments, strings, raw strings and char literals
//! are blanked first), grouped imports (`crate::{a, b::C}`) and `super::` chains that climb to
//! the crate root from where they stand (a `mod tests {` block or any inline module is one level
//! deeper than its file) included. A new top-level module (a file, or an inline `mod` in
//! `lib.rs`) fails the test until it is given a layer below; so does a glob import of the crate
//! root (`use crate::*`), which would hide every import after it.

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

/// The code of a file with every comment (line, block, doc) and every literal (strings, raw
/// strings, byte strings, chars) blanked out, so that neither names a module; line breaks are
/// kept, so lines still count, and braces inside literals no longer count as braces.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    // Blank `chars[from..to]`, keeping its line breaks.
    let blank = |out: &mut String, from: usize, to: usize| {
        for &c in &chars[from..to.min(chars.len())] {
            out.push(if c == '\n' { '\n' } else { ' ' });
        }
    };
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let starts_word = i == 0 || !ident(chars[i - 1]);
        if c == '/' && next == Some('/') {
            let end = chars[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(chars.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            let mut j = i;
            while j < chars.len() {
                if chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if let Some(hashes) = raw_string_at(&chars, i).filter(|_| starts_word) {
            // `r"…"`, `r#"…"#`, `br"…"`: ends at a quote followed by as many `#`.
            let open = chars[i..]
                .iter()
                .position(|&c| c == '"')
                .map_or(i, |n| i + n);
            let mut j = open + 1;
            while j < chars.len()
                && !(chars[j] == '"' && (1..=hashes).all(|h| chars.get(j + h) == Some(&'#')))
            {
                j += 1;
            }
            let end = (j + 1 + hashes).min(chars.len());
            blank(&mut out, i, end);
            i = end;
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(chars.len());
            blank(&mut out, i, end);
            i = end;
        } else if c == '\'' && next == Some('\\') {
            // An escaped char literal: `'\n'`, `'\''`, `'\u{7f}'`.
            let end = chars[i + 2..]
                .iter()
                .skip(1)
                .position(|&c| c == '\'')
                .map_or(chars.len(), |n| i + 3 + n + 1);
            blank(&mut out, i, end);
            i = end;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            // `'x'`; a lifetime (`'a`) has no closing quote after one character.
            blank(&mut out, i, i + 3);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The number of `#` of a raw string (`r"`, `r#"`, `br##"`) starting at `i`, if one does.
fn raw_string_at(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if chars.get(j) == Some(&'b') || chars.get(j) == Some(&'c') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some(hashes)
}

fn identifier_at(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| &text[..end])
}

/// The top-level names a path after `crate::` reaches: `follow::X` gives `follow`,
/// `{follow::X, lotus}` gives both, and a glob (`*`, `{*, x}`) gives `*`: every module, unseen.
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
                    if c == '*' {
                        names.push(GLOB.to_string());
                    }
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
    if rest.starts_with('*') {
        return vec![GLOB.to_string()];
    }
    identifier_at(rest)
        .map(|n| vec![n.to_string()])
        .unwrap_or_default()
}

/// The edge a glob import of the crate root makes: it brings every module into scope, so what
/// the file then uses by bare name (`config::Config`) is invisible here.
const GLOB: &str = "*";

/// The inline modules (`mod NAME {`) open at each byte of `code` (comments and literals
/// already blanked): `inner[at]` is how many enclose byte `at`.
fn inline_depths(code: &str) -> Vec<usize> {
    let mut depths = Vec::with_capacity(code.len());
    // The brace depth at which each open inline module was opened.
    let mut open: Vec<usize> = Vec::new();
    let mut braces = 0;
    for (at, c) in code.char_indices() {
        match c {
            '{' => {
                let words: Vec<&str> = code[..at].split_whitespace().rev().take(2).collect();
                let is_mod = words.len() == 2
                    && words[1] == "mod"
                    && words[0].chars().all(|c| c.is_alphanumeric() || c == '_');
                braces += 1;
                if is_mod {
                    open.push(braces);
                }
            }
            '}' => {
                if open.last() == Some(&braces) {
                    open.pop();
                }
                braces -= 1;
            }
            _ => {}
        }
        depths.extend(std::iter::repeat_n(open.len(), c.len_utf8()));
    }
    depths
}

/// Every top-level module a file's code names, from the file at `module` (its module path):
/// `crate::` paths (or the other `crate_prefixes`), and `super::` chains that climb to the crate
/// root from where they stand (a file's `mod tests {` block, or any inline module, is one level
/// deeper than the file).
fn imports(text: &str, module: &[String], crate_prefixes: &[&str]) -> BTreeSet<String> {
    let code = code_only(text);
    let words_end = |at: usize| {
        code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    };
    let mut found = BTreeSet::new();
    for prefix in crate_prefixes {
        for (at, _) in code.match_indices(prefix) {
            if !words_end(at) {
                found.extend(names_after(&code[at + prefix.len()..]));
            }
        }
    }
    let depths = inline_depths(&code);
    for (at, _) in code.match_indices("super::") {
        if words_end(at) {
            continue; // the second or later `super::` of a chain
        }
        let mut rest = &code[at..];
        let mut climb = 0;
        while let Some(after) = rest.strip_prefix("super::") {
            climb += 1;
            rest = after;
        }
        if climb == module.len() + depths[at] {
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
        let text = fs::read_to_string(&file).expect("a readable source file");
        let Some(top) = module.first().cloned() else {
            // lib.rs: the tour and the `pub mod` list; a module declared there (even inline,
            // with no file of its own) is a node that needs a layer.
            for name in declared_modules(&text) {
                graph.entry(name).or_default();
            }
            continue;
        };
        let prefixes: &[&str] = if top == "main" {
            &["lotus_follow_exporter::", "crate::"]
        } else {
            &["crate::"]
        };
        let found = imports(&text, &module, prefixes);
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
    let code = code_only(text);
    let mut depth = 0i64;
    let mut names = Vec::new();
    for line in code.lines() {
        if depth == 0 {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let Some(at) = words.iter().position(|w| *w == "mod") {
                if let Some(name) = words.get(at + 1).and_then(|w| identifier_at(w)) {
                    names.push(name.to_string());
                }
            }
        }
        depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
    }
    names
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

/// Lines of a file not in its trailing `#[cfg(test)]` + `mod tests {` block: the whole file
/// without one, and any line after the block's closing brace counts (a block is not trailing
/// when code follows it).
fn lines_before_tests(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let code = code_only(text);
    let code_lines: Vec<&str> = code.lines().collect();
    let Some(start) = lines
        .iter()
        .rposition(|line| line.trim_end() == "#[cfg(test)]")
    else {
        return lines.len();
    };
    if code_lines
        .get(start + 1)
        .is_none_or(|next| next.trim_end() != "mod tests {")
    {
        return lines.len();
    }
    let mut depth = 0i64;
    let mut end = lines.len() - 1;
    for (i, line) in code_lines.iter().enumerate().skip(start + 1) {
        depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
        if depth <= 0 {
            end = i;
            break;
        }
    }
    lines.len() - (end + 1 - start)
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
    let forms = imports(
        "pub(crate) use crate::secret::Secret;\n\
         fn f() -> X { <crate::files::Y>::new(&crate::multiaddr::Z::new()) }",
        &["follow".to_string()],
        &["crate::"],
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
    let found = imports(text, &["check".to_string()], &["crate::"]);
    let expected = ["config", "lotus", "probe", "render", "server", "web"].map(String::from);
    assert_eq!(found, BTreeSet::from(expected));
}

#[test]
fn comments_and_literals_name_no_module() {
    let text = r###"
        let a = "crate::config::X";
        let b = r#"crate::server "quoted" crate::web"#;
        let c = br"crate::probe";
        let d = '"'; let e = '\''; let f = '{'; use crate::files; // '
        /* crate::render /* nested crate::bound */ crate::collector */
        #[doc = "see crate::snapshot"]
        fn g<'a>(x: &'a str) -> &'a str { crate::check::f(x) }
        let h = "a \" crate::lotus";
        mod m { use super::super::secret; }
    "###;
    let found = imports(text, &["ports".to_string()], &["crate::"]);
    let expected = ["check", "files", "secret"].map(String::from);
    assert_eq!(found, BTreeSet::from(expected));
    assert_eq!(code_only("x // crate::a\ny").lines().count(), 2);
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
        let found = imports(text, &module, &["crate::"]);
        assert!(found.contains(GLOB), "{text}: {found:?}");
    }
    // Inside the file's tests block, `super::*` is the file itself.
    let tests = imports(
        "#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        &module,
        &["crate::"],
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
    // Code after the block is counted: the block is not trailing.
    let code_after = "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn t() { let _ = '}'; }\n}\nfn b() {}\nfn c() {}\n";
    assert_eq!(lines_before_tests(code_after), 3);
    // `mod tests_support` is not the tests block.
    let support = "fn a() {}\n#[cfg(test)]\nmod tests_support {\n}\n";
    assert_eq!(lines_before_tests(support), 4);
    let long = format!(
        "{}#[cfg(test)]\nmod tests {{\n}}\n",
        "fn a() {}\n".repeat(501)
    );
    assert_eq!(lines_before_tests(&long), 501);
}
