//! Module circles: within one crate, no two modules import each other (`use crate::a` in
//! `b` and `use crate::b` in `a`). A tidy check over every crate's `src/`; test modules
//! may reach anywhere, only library code counts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The module path of `file` below `src` (`client/mod.rs` → `client`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .filter(|p| p != "mod")
        .collect::<Vec<_>>()
        .join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules each module imports through `use crate::…`, given each module's source:
/// the longest prefix of an imported path that names a module counts.
pub fn imports(sources: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<&str> = sources.iter().map(|(m, _)| m.as_str()).collect();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (this, text) in sources {
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for line in code.lines().map(str::trim) {
            let Some(path) = line
                .strip_prefix("use crate::")
                .or_else(|| line.strip_prefix("pub use crate::"))
                .or_else(|| line.strip_prefix("pub(crate) use crate::"))
            else {
                continue;
            };
            let segs: Vec<&str> = path
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or("")
                .split("::")
                .collect();
            let target = (1..=segs.len())
                .rev()
                .map(|i| segs[..i].join("::"))
                .find(|m| modules.contains(m.as_str()));
            if let Some(t) = target.filter(|t| t != this) {
                out.entry(this.clone()).or_default().insert(t);
            }
        }
    }
    out
}

/// The pairs of modules that import each other, as "a <-> b".
pub fn circles(imports: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    for (a, targets) in imports {
        for b in targets {
            if a < b && imports.get(b).is_some_and(|t| t.contains(a)) {
                found.push(format!("{a} <-> {b}"));
            }
        }
    }
    found
}

/// The circles of every crate below `crates/` (its `src/`), as "crate: a <-> b", and how
/// many modules were read.
///
/// # Errors
/// When `crates/` cannot be read.
pub fn in_tree(root: &Path) -> Result<(Vec<String>, usize), String> {
    let crates = root.join("crates");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&crates)
        .map_err(|e| format!("{}: {e}", crates.display()))?
        .flatten()
        .map(|e| e.path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut found = Vec::new();
    let mut modules = 0;
    for src in dirs {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let sources: Vec<(String, String)> = files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).unwrap_or_default();
                (module_of(&src, f), text)
            })
            .collect();
        modules += sources.len();
        let name = src
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        found.extend(
            circles(&imports(&sources))
                .into_iter()
                .map(|c| format!("crates/{name}: modules importing each other: {c}")),
        );
    }
    Ok((found, modules))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(m: &str, text: &str) -> (String, String) {
        (m.to_string(), text.to_string())
    }

    #[test]
    fn two_modules_importing_each_other_are_a_circle() {
        let sources = [
            src("a", "use crate::b::Thing;\n"),
            src("b", "pub(crate) use crate::a;\n"),
            src("c", "use crate::a::x::Deep;\n"),
        ];
        let i = imports(&sources);
        assert_eq!(circles(&i), vec!["a <-> b".to_string()]);
        // `a::x` names no module: the import is of `a`.
        assert!(i["c"].contains("a"));
    }

    #[test]
    fn imports_in_test_modules_and_one_way_imports_are_no_circle() {
        let sources = [
            src("a", "use crate::b::Thing;\n"),
            src(
                "b",
                "fn f() {}\n#[cfg(test)]\nmod tests { use crate::a; }\n",
            ),
        ];
        assert!(circles(&imports(&sources)).is_empty());
    }

    #[test]
    fn no_crate_of_this_repository_has_a_module_circle() {
        let (found, modules) = in_tree(&crate::util::root()).expect("crates/ is readable");
        assert!(modules > 50, "the scan read the crates: {modules} modules");
        assert!(found.is_empty(), "{}", found.join("\n"));
    }
}
