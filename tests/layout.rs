//! The source layout has no import circles: no two files of `src/` (nor of `functions/src/`)
//! nor of `sdk/src/`) import each other, directly or through a loop (docs/design.md §1).
//!
//! A file imports another when one of its paths (`use crate::a::b`, `super::x`, a child
//! module named in `use child::…` or inline, or an inline `crate::a::b::f()`) names an item
//! of the other file's module. Comments are not read; inline test modules are (their imports count).
//! This reads text, not the compiler's resolution, so it relies on `cargo fmt` layout: one
//! `use` per statement start, inline modules closed by a `}` at their own indentation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[test]
fn the_app_has_no_import_circles() {
    assert_no_circles("src");
}

#[test]
fn the_functions_crate_has_no_import_circles() {
    assert_no_circles("functions/src");
}

#[test]
fn the_sdk_has_no_import_circles() {
    assert_no_circles("sdk/src");
}

#[test]
fn the_checker_finds_a_circle_through_three_files() {
    let files = [
        ("a", "use crate::b::Thing;\n"),
        ("b", "pub fn f() { crate::c::g() }\n"),
        ("c", "use super::a;\n"),
        ("d", "use crate::a::X;\n"),
    ];
    let graph = imports(
        files
            .iter()
            .map(|(m, t)| (module(m), (*t).to_owned()))
            .collect(),
    );
    assert_eq!(circles(&graph), vec![vec!["a", "b", "c"]]);
}

#[test]
fn a_test_module_resolves_super_to_its_own_file() {
    let files = [
        (
            "a",
            "pub struct X;\n#[cfg(test)]\nmod tests {\n    use super::X;\n}\n",
        ),
        ("a::b", "use crate::a::X;\n"),
    ];
    let graph = imports(
        files
            .iter()
            .map(|(m, t)| (module(m), (*t).to_owned()))
            .collect(),
    );
    assert!(circles(&graph).is_empty(), "{graph:?}");
}

/// Fails with every circle, each as its chain of modules.
fn assert_no_circles(root: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(root);
    let graph = imports(read_modules(&root));
    let found = circles(&graph);
    assert!(
        found.is_empty(),
        "import circles in {}:\n{}",
        root.display(),
        found
            .iter()
            .map(|c| format!("  {{{}}}", c.join(", ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A module path from the crate root: `["webhooks", "paypal"]`; empty for `lib.rs`.
type Module = Vec<String>;

fn module(path: &str) -> Module {
    path.split("::").map(str::to_owned).collect()
}

/// Every `.rs` file under `root` but `main.rs` (another crate), by module path.
fn read_modules(root: &Path) -> BTreeMap<Module, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("the source tree is readable") {
            let path: PathBuf = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(root).expect("under the root");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            let Some(file) = parts.pop() else { continue };
            let Some(stem) = file.strip_suffix(".rs") else {
                continue;
            };
            if parts.is_empty() && stem == "main" {
                continue;
            }
            if !(stem == "mod" || (parts.is_empty() && stem == "lib")) {
                parts.push(stem.to_owned());
            }
            let text = std::fs::read_to_string(&path).expect("a source file is UTF-8");
            out.insert(parts, text);
        }
    }
    out
}

/// Which modules each module imports (itself excluded).
fn imports(files: BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let known: BTreeSet<Module> = files.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, text) in &files {
        let mut targets = BTreeSet::new();
        for (scope, path) in paths(text) {
            if let Some(target) = resolve(&known, module, &scope, &path)
                && &target != module
            {
                targets.insert(target);
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

/// Every path in the code of a file, with the inline module it sits in (`["tests"]`).
fn paths(text: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    // Open inline modules: (indentation of their `mod` line, name).
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut statement = String::new();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let code = line.trim();
        if inline
            .last()
            .is_some_and(|(i, _)| *i == indent && code.starts_with('}'))
        {
            inline.pop();
            continue;
        }
        if code.starts_with("//") || code.is_empty() {
            continue;
        }
        let code = code.split(" // ").next().unwrap_or(code);
        let bare = code
            .trim_start_matches("pub ")
            .trim_start_matches("pub(crate) ");
        if let Some(name) = bare
            .strip_prefix("mod ")
            .and_then(|rest| rest.strip_suffix(" {"))
        {
            inline.push((indent, name.to_owned()));
            continue;
        }
        let scope: Vec<String> = inline.iter().map(|(_, n)| n.clone()).collect();
        if !statement.is_empty() || bare.starts_with("use ") {
            statement.push_str(code);
            statement.push(' ');
            if code.ends_with(';') {
                let tree = statement
                    .trim()
                    .trim_start_matches("pub ")
                    .trim_start_matches("pub(crate) ")
                    .trim_start_matches("use ")
                    .trim_end_matches(';');
                for path in expand(tree) {
                    out.push((scope.clone(), path));
                }
                statement.clear();
            }
            continue;
        }
        // Inline paths: `crate::a::f()`, `super::x::Y`, and `child::Z` (which `resolve`
        // keeps only when `child` is a module file under this one).
        for run in code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
            if run.contains("::") {
                let path = run.split("::").filter(|s| !s.is_empty());
                out.push((scope.clone(), path.map(str::to_owned).collect()));
            }
        }
    }
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e` (each as segments).
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    expand_into(&tree, &mut Vec::new(), &mut out);
    out
}

fn expand_into(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim();
        let inner = tree[open + 1..].trim_end().trim_end_matches('}');
        let depth = prefix.len();
        prefix.extend(
            head.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        let mut level = 0;
        let mut from = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => level += 1,
                '}' => level -= 1,
                ',' if level == 0 => {
                    expand_into(&inner[from..i], prefix, out);
                    from = i + 1;
                }
                _ => {}
            }
        }
        if from < inner.len() {
            expand_into(&inner[from..], prefix, out);
        }
        prefix.truncate(depth);
    } else if !tree.trim().is_empty() {
        let leaf = tree.split(" as ").next().unwrap_or(tree);
        let mut path = prefix.clone();
        path.extend(
            leaf.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        out.push(path);
    }
}

/// The file a path lands in: the longest known module prefix of its absolute form.
fn resolve(
    known: &BTreeSet<Module>,
    module: &Module,
    scope: &[String],
    path: &[String],
) -> Option<Module> {
    // Inside `mod tests { … }` of file `a`, `self` is `a::tests` and `super` is `a`.
    let mut here: Vec<String> = module.iter().chain(scope).cloned().collect();
    let mut rest = path;
    let mut absolute: Vec<String> = match rest.first().map(String::as_str) {
        Some("crate") => {
            rest = &rest[1..];
            Vec::new()
        }
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                here.pop();
                rest = &rest[1..];
            }
            here
        }
        Some("self") => {
            rest = &rest[1..];
            here
        }
        Some(first) => {
            let child: Module = here.iter().cloned().chain([first.to_owned()]).collect();
            if !known.contains(&child) {
                return None; // another crate, or a name in scope
            }
            here
        }
        None => return None,
    };
    absolute.extend(rest.iter().cloned());
    (0..=absolute.len())
        .rev()
        .map(|n| absolute[..n].to_vec())
        .find(|prefix| known.contains(prefix))
}

/// Every circle, each once: the modules of each strongly connected component with more than
/// one member (Tarjan's algorithm), sorted.
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    let names: Vec<&Module> = graph.keys().collect();
    let index_of = |m: &Module| names.iter().position(|n| *n == m);
    let edges: Vec<Vec<usize>> = names
        .iter()
        .map(|m| graph[*m].iter().filter_map(index_of).collect())
        .collect();
    let components = strongly_connected(&edges);
    let show = |i: usize| {
        if names[i].is_empty() {
            "lib".to_owned()
        } else {
            names[i].join("::")
        }
    };
    components
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|component| {
            let mut members: Vec<usize> = component;
            members.sort_unstable();
            members.into_iter().map(show).collect()
        })
        .collect()
}

fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct Tarjan<'a> {
        edges: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: usize) {
            self.index[v] = Some(self.next);
            self.low[v] = self.next;
            self.next += 1;
            self.stack.push(v);
            self.on_stack[v] = true;
            for &w in &self.edges[v] {
                match self.index[w] {
                    None => {
                        self.visit(w);
                        self.low[v] = self.low[v].min(self.low[w]);
                    }
                    Some(i) if self.on_stack[w] => self.low[v] = self.low[v].min(i),
                    Some(_) => {}
                }
            }
            if Some(self.low[v]) == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                self.out.push(component);
            }
        }
    }
    let n = edges.len();
    let mut t = Tarjan {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            t.visit(v);
        }
    }
    t.out
}
