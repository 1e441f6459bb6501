//! `cargo xtask modgraph CRATE/src [--top]`: the module dependencies of one crate, and a
//! check that they have no cycle (a step of `cargo xtask test`, for every crate).
//!
//! For every module it lists the modules it refers to: `crate::m` and `super::m` paths,
//! the names in `crate::{..}` and `super::{..}` lists, and a parent's `child::..` paths
//! (test modules, from the first `#[cfg(test)]` on, and `//` comments are skipped; a name
//! that is not a module stands for the module it is reached through). Then the modules
//! are ordered so that each comes after what it uses; a cycle is an error naming the
//! modules caught in it. With `--top`, submodules are folded into their top-level module.
//! This reads the source text rather than parsing it: it catches a new edge back up the
//! order, it does not prove there is none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

const USAGE: &str = "usage: cargo xtask modgraph CRATE/src [--top]";

/// Module name (`crate`, `a`, `a::b`) to source file, for every `.rs` file below `root`
/// (binaries under `bin/` are not modules of the library).
fn modules(root: &Path) -> Result<BTreeMap<String, PathBuf>, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, PathBuf>) -> Result<(), String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "bin") {
                    walk(&path, root, out)?;
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap_or(&path).with_extension("");
            let rel = rel.to_string_lossy().replace("/mod", "").replace('/', "::");
            let name = if rel == "lib" {
                "crate".to_owned()
            } else {
                rel
            };
            out.insert(name, path);
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out)?;
    Ok(out)
}

/// The part of a source file that is checked: no tests, no line comments, and string and
/// character literals emptied (a generator's `"use super::x;"` is text, not an edge).
fn checked_source(path: &Path) -> Result<String, String> {
    let src = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let src = src.find("#[cfg(test)]").map_or(src.as_str(), |i| &src[..i]);
    // Leftmost first, so a `//` inside a string and a quote inside a comment are both seen
    // for what they are.
    let noise = Regex::new(
        r##"r#"(?s:.*?)"#|r"[^"]*"|"(?:[^"\\]|\\(?s:.))*"|'(?:[^'\\\n]|\\.)'|//[^\n]*"##,
    )
    .expect("valid pattern");
    Ok(noise
        .replace_all(
            src,
            |c: &regex::Captures<'_>| {
                if c[0].starts_with("//") { "" } else { "\"\"" }
            },
        )
        .into_owned())
}

fn parent_of(m: &str) -> String {
    match m.rsplit_once("::") {
        Some((p, _)) => p.to_owned(),
        None => "crate".to_owned(),
    }
}

/// `name` as a module below `parent`.
fn child(parent: &str, name: &str) -> String {
    if parent == "crate" {
        name.to_owned()
    } else {
        format!("{parent}::{name}")
    }
}

/// The edges: each module and the modules it refers to.
fn edges(mods: &BTreeMap<String, PathBuf>) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let path =
        Regex::new(r"\b(crate|super)::\{?\s*((?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)")
            .expect("valid");
    let super_list = Regex::new(r"\bsuper::\{([^}]*)\}").expect("valid");
    let crate_list = Regex::new(r"\bcrate::\{([^}]*)\}").expect("valid");
    let ident = Regex::new(r"\b[a-z_][a-z0-9_]*\b").expect("valid");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, file) in mods {
        let src = checked_source(file)?;
        let parent = parent_of(m);
        let to = edges.entry(m.clone()).or_default();
        for c in path.captures_iter(&src) {
            // `super::super::..` climbs once more per `super`.
            let mut base = if &c[1] == "crate" {
                "crate".to_owned()
            } else {
                parent.clone()
            };
            let mut segments: Vec<&str> = c[2].split("::").collect();
            while segments.first() == Some(&"super") {
                segments.remove(0);
                base = parent_of(&base);
            }
            // The deepest module on the path; an item stands for the module it is in.
            let t = (1..=segments.len())
                .rev()
                .map(|n| child(&base, &segments[..n].join("::")))
                .find(|t| mods.contains_key(t))
                .unwrap_or(base);
            if &t != m {
                to.insert(t);
            }
        }
        for (list, base) in [(&super_list, parent.as_str()), (&crate_list, "crate")] {
            for c in list.captures_iter(&src) {
                for name in ident.find_iter(&c[1]) {
                    let t = child(base, name.as_str());
                    if mods.contains_key(&t) && &t != m {
                        to.insert(t);
                    }
                }
            }
        }
        // The module's own children, used by path (`child::item`, `use child::..`).
        let prefix = if m == "crate" {
            String::new()
        } else {
            format!("{m}::")
        };
        for c in mods.keys() {
            let Some(name) = c.strip_prefix(&prefix) else {
                continue;
            };
            if c == m || name.contains("::") || name.is_empty() {
                continue;
            }
            let used = Regex::new(&format!(r"(?:^|[^A-Za-z0-9_:]){name}::")).expect("valid");
            if used.is_match(&src) {
                to.insert(c.clone());
            }
        }
    }
    // The crate root only declares and re-exports modules.
    for to in edges.values_mut() {
        to.remove("crate");
    }
    Ok(edges)
}

/// Submodules folded into their top-level module.
fn fold_to_top(edges: BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_owned();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, to) in edges {
        let from = top(&m);
        let set = out.entry(from.clone()).or_default();
        set.extend(to.iter().map(|t| top(t)).filter(|t| *t != from));
    }
    out
}

/// The modules with dependencies first, or the modules left in a cycle.
fn order(edges: &BTreeMap<String, BTreeSet<String>>) -> Result<Vec<String>, Vec<String>> {
    let mut left: BTreeMap<&String, &BTreeSet<String>> = edges.iter().collect();
    let mut order = Vec::new();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|(_, to)| to.iter().all(|t| !left.contains_key(t)))
            .map(|(m, _)| (*m).clone())
            .collect();
        if ready.is_empty() {
            return Err(left.keys().map(|m| (*m).clone()).collect());
        }
        for m in &ready {
            left.remove(m);
        }
        order.extend(ready);
    }
    Ok(order)
}

/// `cargo xtask modgraph`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let (root, top) = match args {
        [root] => (root, false),
        [root, flag] if flag == "--top" => (root, true),
        _ => return Err(USAGE.to_owned()),
    };
    let mut graph = edges(&modules(Path::new(root))?)?;
    if top {
        graph = fold_to_top(graph);
    }
    for (m, to) in &graph {
        let list: Vec<&str> = to.iter().map(String::as_str).collect();
        let list = if list.is_empty() {
            "-".to_owned()
        } else {
            list.join(", ")
        };
        println!("{m:24} -> {list}");
    }
    match order(&graph) {
        Ok(order) => {
            println!("order (dependencies first): {}", order.join(" < "));
            Ok(())
        }
        Err(cycle) => Err(format!("module cycle among: {}", cycle.join(", "))),
    }
}

/// Checks that the modules below `src` have no cycle; returns how many there are.
pub(crate) fn check(src: &Path) -> Result<usize, String> {
    let graph = edges(&modules(src)?)?;
    order(&graph)
        .map(|o| o.len())
        .map_err(|cycle| format!("module cycle among: {}", cycle.join(", ")))
}

/// The `src` directory of every crate of the workspace (the root's subdirectories and
/// `examples/*` that have a `Cargo.toml` and a `src/`), sorted.
pub(crate) fn crate_sources(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in [root.to_path_buf(), root.join("examples")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == "target")
                || !p.join("Cargo.toml").is_file()
                || !p.join("src").is_dir()
            {
                continue;
            }
            found.push(p.join("src"));
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_crate_of_the_workspace_is_found() {
        let root = crate::paths::root();
        let found = crate_sources(&root);
        for c in [
            "cloudabi-emulator",
            "argdata",
            "xtask",
            "examples/webserver",
        ] {
            assert!(found.contains(&root.join(c).join("src")), "{c}: {found:?}");
        }
    }

    /// A scratch crate with the given files.
    fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("xtask-modgraph-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    #[test]
    fn edges_are_found_and_a_back_edge_is_a_cycle() {
        let dir = tree(
            "edges",
            &[
                ("lib.rs", "mod a;\nmod b;\npub use b::Thing;\n"),
                ("a.rs", "pub fn f() {}\n"),
                (
                    "b/mod.rs",
                    "mod c;\nuse crate::a;\npub struct Thing;\nfn g() { c::h() }\n",
                ),
                (
                    "b/c.rs",
                    "// crate::a in a comment is no edge\npub fn h() {}\n\
                     const T: &str = \"use crate::a; // \\\" use super::Thing;\";\n\
                     const R: &str = r#\"use super::Thing;\"#;\n\
                     const L: &str = \"//! a line\\\n  use super::Thing;\";\n\
                     const Q: char = '\"'; fn k() -> char { Q }\n\
                     #[cfg(test)]\nmod tests { use crate::b; }\n",
                ),
            ],
        );
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let graph = edges(&modules(&dir).unwrap()).unwrap();
        assert_eq!(graph["b"], set(&["a", "b::c"]));
        assert_eq!(graph["b::c"], set(&[]));
        assert_eq!(graph["crate"], set(&["b"]));
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(order(&graph).unwrap(), names(&["a", "b::c", "b", "crate"]));
        assert_eq!(
            order(&fold_to_top(graph)).unwrap(),
            names(&["a", "b", "crate"])
        );

        // The child reaching back into its parent closes a cycle.
        std::fs::write(dir.join("b/c.rs"), "use super::Thing;\npub fn h() {}\n").unwrap();
        let graph = edges(&modules(&dir).unwrap()).unwrap();
        assert_eq!(order(&graph).unwrap_err(), names(&["b", "b::c", "crate"]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_path_names_the_deepest_module_on_it() {
        let dir = tree(
            "deep",
            &[
                ("lib.rs", "mod a;\nmod b;\n"),
                ("a.rs", "use crate::b::c::h;\nuse crate::b::Item;\n"),
                ("b/mod.rs", "mod c;\nmod d;\npub struct Item;\n"),
                ("b/c.rs", "pub fn h() {}\n"),
                ("b/d/mod.rs", "mod e;\n"),
                (
                    "b/d/e.rs",
                    "use super::super::c::h;\nuse super::super::Item;\n",
                ),
            ],
        );
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let graph = edges(&modules(&dir).unwrap()).unwrap();
        assert_eq!(graph["a"], set(&["b", "b::c"]));
        assert_eq!(graph["b::d::e"], set(&["b", "b::c"]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
