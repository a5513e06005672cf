//! Every example renders exactly to its committed tree under `snapshots/<example>/`.
//!
//! On a mismatch the test prints a unified diff per file and lists missing and extra
//! files. `MLGEN_BLESS=1 cargo test --test snapshots` rewrites the snapshots (stale files
//! included); review the `git diff` before committing.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use mlgen::pipeline;
use mlgen::spec::SourceFile;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn examples() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root().join("examples"))
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.path()
                .join("mlgen.toml")
                .exists()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    v.sort();
    v
}

fn read_tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Whether an `MLGEN_BLESS` value asks to rewrite the snapshots: `1` or `true` only, so
/// that `MLGEN_BLESS=0` (or an empty value) compares.
fn blesses(value: Option<&str>) -> bool {
    matches!(value, Some("1" | "true"))
}

/// Compares `dir` with `want`; with MLGEN_BLESS=1 rewrites it instead.
fn assert_tree(dir: &Path, want: &BTreeMap<String, String>) -> Result<(), String> {
    let have = read_tree(dir);
    if blesses(std::env::var("MLGEN_BLESS").ok().as_deref()) {
        for path in have.keys().filter(|p| !want.contains_key(*p)) {
            fs::remove_file(dir.join(path)).unwrap();
        }
        for (path, content) in want {
            if have.get(path) != Some(content) {
                let p = dir.join(path);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(p, content).unwrap();
            }
        }
        return Ok(());
    }
    let mut report = String::new();
    for (path, content) in want {
        match have.get(path) {
            None => report.push_str(&format!("missing snapshot file {path}\n")),
            Some(old) if old != content => {
                report.push_str(
                    &similar::TextDiff::from_lines(old.as_str(), content.as_str())
                        .unified_diff()
                        .header(&format!("snapshot/{path}"), &format!("rendered/{path}"))
                        .to_string(),
                );
            }
            Some(_) => {}
        }
    }
    for path in have.keys().filter(|p| !want.contains_key(*p)) {
        report.push_str(&format!(
            "stale snapshot file {path} (no longer rendered)\n"
        ));
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(report)
    }
}

#[test]
fn examples_match_their_snapshots() {
    let examples = examples();
    assert!(examples.len() >= 4, "expected at least four examples");
    let mut failures = String::new();
    for ex in &examples {
        let path = root().join("examples").join(ex).join("mlgen.toml");
        let file = SourceFile {
            path: PathBuf::from(format!("examples/{ex}/mlgen.toml")),
            text: fs::read_to_string(&path).unwrap(),
        };
        // An environment's files sit in its own folder, as `apply` writes them.
        let want: BTreeMap<String, String> = pipeline::compile_all(&file)
            .unwrap_or_else(|e| panic!("{ex}: {e}"))
            .iter()
            .flat_map(|(d, tree)| {
                let folder = d.environment.as_ref().map(|e| format!("{e}/"));
                tree.iter().map(move |(p, c)| {
                    (
                        format!("{}{p}", folder.as_deref().unwrap_or("")),
                        c.to_string(),
                    )
                })
            })
            .collect();
        if let Err(report) = assert_tree(&root().join("snapshots").join(ex), &want) {
            failures.push_str(&format!("=== {ex} ===\n{report}\n"));
        }
    }
    assert!(
        failures.is_empty(),
        "rendered output differs from snapshots/ (run `MLGEN_BLESS=1 cargo test --test snapshots` to accept):\n{failures}"
    );
}

#[test]
fn only_1_or_true_blesses() {
    for (value, bless) in [
        (None, false),
        (Some("0"), false),
        (Some(""), false),
        (Some("false"), false),
        (Some("1"), true),
        (Some("true"), true),
    ] {
        assert_eq!(blesses(value), bless, "MLGEN_BLESS={value:?}");
    }
}
