//! Repository hygiene checks (rust-analyzer's "tidy" idea): properties of the tree that a
//! fresh clone must have, checked as tests and as a `test-all` stage: nothing refers
//! outside the repository, and no two modules of a crate import each other
//! ([`crate::circles`]).

use std::path::Path;
use std::process::Command;

/// Text that points outside the repository: the folder beside a developer's clone that held
/// the vectors and specs once, or a path climbing out of a crate past the workspace root.
const OUTSIDE: &[&str] = &[
    // Spelled in pieces so that this file does not contain what it looks for.
    concat!("..", "/shared/"),
    concat!("../../..", "/shared"),
    concat!("shared", "/vectors/"),
    concat!("shared", "/notes/"),
    concat!("shared", "/specs/"),
];

/// One reference to something outside the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideRef {
    /// The file (relative to the root).
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// The offending text.
    pub text: String,
}

impl std::fmt::Display for OutsideRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: refers outside the repository: {}",
            self.file, self.line, self.text
        )
    }
}

/// Files a check reads: what git tracks plus untracked files it does not ignore (what a
/// commit would contain), without the vendored copies of upstream texts.
fn repo_files(root: &Path) -> Result<Vec<String>, String> {
    let out = Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("git ls-files: {e}"))?;
    if !out.status.success() {
        return Err("git ls-files failed (is this a git checkout?)".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|f| !f.starts_with("vectors/") && !f.starts_with("docs/specs/"))
        .map(str::to_string)
        .collect())
}

/// The references in `text` (a file's contents) to paths outside the repository.
pub fn outside_refs_in(file: &str, text: &str) -> Vec<OutsideRef> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| OUTSIDE.iter().any(|p| l.contains(p)))
        .map(|(i, l)| OutsideRef {
            file: file.to_string(),
            line: i + 1,
            text: l.trim().chars().take(120).collect(),
        })
        .collect()
}

/// Every reference to a path outside the repository, in every text file of the tree
/// (this checker included: it spells its patterns in pieces).
///
/// # Errors
/// When git cannot list the files.
pub fn outside_refs(root: &Path) -> Result<Vec<OutsideRef>, String> {
    let mut found = Vec::new();
    for f in repo_files(root)? {
        let Ok(text) = std::fs::read_to_string(root.join(&f)) else {
            continue; // binary or unreadable: not a reference
        };
        found.extend(outside_refs_in(&f, &text));
    }
    Ok(found)
}

/// The `tidy` stage: fails naming every offending line.
///
/// # Errors
/// One line per reference outside the repository and per module circle.
pub fn check(root: &Path) -> Result<(), String> {
    let mut problems: Vec<String> = outside_refs(root)?
        .iter()
        .map(ToString::to_string)
        .collect();
    let (circles, modules) = crate::circles::in_tree(root)?;
    problems.extend(circles);
    if problems.is_empty() {
        eprintln!(
            "tidy: no file refers outside the repository; no module circle in {modules} modules"
        );
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_path_beside_the_clone_is_found() {
        let text = concat!(
            "const V: &str = concat!(env!(\"CARGO_MANIFEST_DIR\"),\n    \"/../../..",
            "/shared",
            "/vectors/mls/x.json\");\n"
        );
        let refs = outside_refs_in("crates/a/tests/v.rs", text);
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].line, 2);
    }

    #[test]
    fn in_repository_paths_pass() {
        let text = "concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../../vectors/mls/x.json\")";
        assert!(outside_refs_in("a.rs", text).is_empty());
    }

    #[test]
    fn this_repository_refers_to_nothing_outside_itself() {
        let root = crate::util::root();
        let refs = outside_refs(&root).expect("git lists the files");
        assert!(
            refs.is_empty(),
            "{}",
            refs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
