//! Turning command-line arguments into spec files: a file is a spec; a folder is searched
//! for `mlgen.toml` files.

use std::path::{Path, PathBuf};

use crate::error::{Error, Refusal};

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
pub(crate) fn specs(args: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            let before = out.len();
            walk(a, &mut out)?;
            if out.len() == before {
                return Err(Refusal::NoSpecUnder { dir: a.clone() }.into());
            }
        } else if let Ok(false) = a.try_exists() {
            return Err(Refusal::SpecMissing { path: a.clone() }.into());
        } else {
            // Other failures to read it are reported, with their cause, by the loader.
            out.push(a.clone());
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|p| seen.insert(p.canonicalize().unwrap_or_else(|_| p.clone())));
    Ok(out)
}

/// The one spec `arg` names, for commands that take one: the file itself, else the
/// folder's own `mlgen.toml`, else the single spec found under the folder.
pub(crate) fn one(arg: &Path) -> Result<PathBuf, Error> {
    let own = arg.join(SPEC_FILE);
    if arg.is_dir() && own.is_file() {
        return Ok(own);
    }
    let mut found = specs(&[arg.to_path_buf()])?;
    if found.len() > 1 {
        let dir = arg.to_path_buf();
        return Err(Refusal::SeveralSpecs { dir, found }.into());
    }
    Ok(found.remove(0))
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
