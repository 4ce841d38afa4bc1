//! The shape of the code, checked: no file of the three library crates grows past 700 lines
//! (the stream thread's loop past 450), and no two files of streams-core import each other,
//! directly or round a circle.
//!
//! Imports are read from the source text: every `crate::` and `super::` path outside comments
//! and test modules, resolved to the file that defines the module it names (a `pub use` in a
//! module file counts as that file importing). `mod` declarations are containment, not
//! imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest a library source file may be.
const MAX_LINES: usize = 700;
/// Longest the stream thread (its loop and recovery) may be.
const MAX_THREAD_LINES: usize = 450;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate sits in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
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

#[test]
fn no_library_file_is_past_its_size() {
    let root = workspace();
    let mut too_long = Vec::new();
    for krate in ["streams-core", "state-stores", "streams-dsl"] {
        let mut files = Vec::new();
        rust_files(&root.join(krate).join("src"), &mut files);
        for file in files {
            let lines = std::fs::read_to_string(&file)
                .expect("readable source")
                .lines()
                .count();
            let rel = file.strip_prefix(&root).expect("under the workspace");
            let max = if rel.ends_with("runtime/thread.rs") {
                MAX_THREAD_LINES
            } else {
                MAX_LINES
            };
            if lines > max {
                too_long.push(format!(
                    "{} has {lines} lines (at most {max})",
                    rel.display()
                ));
            }
        }
    }
    assert!(too_long.is_empty(), "split these: {too_long:#?}");
}

/// The module path of a source file: `src/runtime/thread.rs` -> `["runtime", "thread"]`,
/// `src/metrics/mod.rs` -> `["metrics"]`, `src/lib.rs` -> `[]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The file defining the longest prefix of `path` that is a module.
fn file_of(src: &Path, path: &[String]) -> PathBuf {
    for n in (1..=path.len()).rev() {
        let base = src.join(path[..n].join("/"));
        let file = base.with_extension("rs");
        if file.is_file() {
            return file;
        }
        let dir = base.join("mod.rs");
        if dir.is_file() {
            return dir;
        }
    }
    src.join("lib.rs")
}

/// The paths a line names after `crate::` or `super::` (a `{...}` group gives one path per
/// item), as module paths relative to the crate root.
fn paths_in(line: &str, module: &[String]) -> Vec<Vec<String>> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find(['c', 's']) {
        let tail = &rest[at..];
        let boundary = rest[..at].chars().last().is_none_or(|c| !ident(c));
        let (base, after): (Vec<String>, &str) = if boundary && tail.starts_with("crate::") {
            (Vec::new(), &tail["crate::".len()..])
        } else if boundary && tail.starts_with("super::") {
            // In `a/b.rs` (module a::b) `super` is `a`; in `a/mod.rs` (module a) it is the
            // crate root.
            let mut parent = module.to_vec();
            parent.pop();
            let mut after = &tail["super::".len()..];
            while let Some(more) = after.strip_prefix("super::") {
                parent.pop();
                after = more;
            }
            (parent, after)
        } else {
            rest = &tail[1..];
            continue;
        };
        let mut segments = base;
        let mut cursor = after;
        loop {
            let end = cursor.find(|c: char| !ident(c)).unwrap_or(cursor.len());
            if end == 0 {
                break;
            }
            segments.push(cursor[..end].to_string());
            cursor = &cursor[end..];
            match cursor.strip_prefix("::") {
                Some(next) => cursor = next,
                None => break,
            }
        }
        if let Some(group) = cursor.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let first: String = item.trim().chars().take_while(|c| ident(*c)).collect();
                if !first.is_empty() && first != "self" {
                    let mut p = segments.clone();
                    p.push(first);
                    out.push(p);
                }
            }
        }
        out.push(segments);
        rest = cursor;
    }
    out
}

/// Files of streams-core/src and the files each imports.
fn import_graph() -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let src = workspace().join("streams-core").join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = BTreeMap::new();
    for file in files {
        let module = module_of(&src, &file);
        let text = std::fs::read_to_string(&file).expect("readable source");
        let mut targets = BTreeSet::new();
        for line in text.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("#[cfg(test)]") {
                break;
            }
            if trimmed.starts_with("//") {
                continue;
            }
            for path in paths_in(line, &module) {
                let target = file_of(&src, &path);
                if target != file {
                    targets.insert(target);
                }
            }
        }
        graph.insert(file, targets);
    }
    graph
}

/// Strongly connected components of more than one file (Tarjan's algorithm).
fn circles(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct State<'a> {
        graph: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        next: usize,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a PathBuf) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_two_core_files_import_each_other() {
    let graph = import_graph();
    let src = workspace().join("streams-core").join("src");
    // The reading itself works: the stream thread imports its task manager.
    let thread = src.join("runtime/thread.rs");
    assert!(
        graph[&thread].contains(&src.join("runtime/task_manager.rs")),
        "imports read from thread.rs: {:?}",
        graph[&thread]
    );
    let found: Vec<Vec<String>> = circles(&graph)
        .into_iter()
        .map(|c| {
            c.iter()
                .map(|f| {
                    f.strip_prefix(&src)
                        .expect("under src")
                        .display()
                        .to_string()
                })
                .collect()
        })
        .collect();
    assert!(found.is_empty(), "import circles: {found:#?}");
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    let a = PathBuf::from("a.rs");
    let b = PathBuf::from("b.rs");
    let c = PathBuf::from("c.rs");
    let graph = BTreeMap::from([
        (a.clone(), BTreeSet::from([b.clone()])),
        (b.clone(), BTreeSet::from([c.clone()])),
        (c.clone(), BTreeSet::from([a.clone()])),
    ]);
    assert_eq!(circles(&graph), vec![vec![a, b, c]]);
    let module = vec!["runtime".to_string(), "thread".to_string()];
    assert_eq!(
        paths_in(
            "use super::producer::{CommitOutcome, ProducerSpec};",
            &module
        ),
        vec![
            vec!["runtime", "producer", "CommitOutcome"],
            vec!["runtime", "producer", "ProducerSpec"],
            vec!["runtime", "producer"],
        ]
        .into_iter()
        .map(|p| p.into_iter().map(String::from).collect::<Vec<_>>())
        .collect::<Vec<_>>()
    );
}
