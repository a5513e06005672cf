//! Turning command-line arguments into spec files: a file is a spec; a folder is searched
//! for `mlgen.toml` files.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// The spec file name searched for in folders.
pub const SPEC_FILE: &str = "mlgen.toml";

/// Folders never searched: build output, VCS data, virtualenvs, generated trees.
const SKIP: [&str; 6] = [
    ".git",
    "target",
    "node_modules",
    ".venv",
    "__pycache__",
    ".terraform",
];

/// Expands `args` into spec paths, in a stable order without duplicates.
pub fn specs(args: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            let before = out.len();
            walk(a, &mut out)?;
            if out.len() == before {
                return Err(Error::Refused(format!(
                    "no {SPEC_FILE} found under {}",
                    a.display()
                )));
            }
        } else {
            out.push(a.clone());
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|p| seen.insert(p.canonicalize().unwrap_or_else(|_| p.clone())));
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot read {}", dir.display()), e))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    let spec = dir.join(SPEC_FILE);
    if spec.is_file() {
        out.push(spec);
    }
    for e in entries {
        let name = e.file_name();
        let name = name.to_string_lossy();
        // file_type() does not follow symlinks, so linked folders are not searched.
        if e.file_type().is_ok_and(|t| t.is_dir()) && !SKIP.contains(&name.as_ref()) {
            // A generated output folder holds a manifest; it has no specs.
            if e.path().join(crate::manifest::FILE).exists() {
                continue;
            }
            walk(&e.path(), out)?;
        }
    }
    Ok(())
}
