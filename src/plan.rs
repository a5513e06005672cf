//! What `apply` would do to an output folder; [`crate::output`] shows it.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Entry, Error, Refusal};
use crate::manifest::{self, Manifest};
use crate::tree::Tree;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Change,
    Remove,
    Unchanged,
}

/// Why `apply` would refuse to touch a file without `--force`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    /// mlgen wrote it, and it was edited since.
    EditedByHand,
    /// It exists but mlgen never wrote it.
    NotOwned,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    pub path: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<Conflict>,
    #[serde(skip)]
    pub old: Option<String>,
    #[serde(skip)]
    pub new: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub out_dir: PathBuf,
    /// Every generated or owned file, sorted by path.
    pub changes: Vec<FileChange>,
    pub manifest: Manifest,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub remove: usize,
    pub unchanged: usize,
    pub conflicts: usize,
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::Add => s.add += 1,
                Action::Change => s.change += 1,
                Action::Remove => s.remove += 1,
                Action::Unchanged => s.unchanged += 1,
            }
            if c.conflict.is_some() {
                s.conflicts += 1;
            }
        }
        s
    }

    pub fn is_current(&self) -> bool {
        self.changes.iter().all(|c| c.action == Action::Unchanged)
    }

    pub fn pending(&self) -> impl Iterator<Item = &FileChange> {
        self.changes
            .iter()
            .filter(|c| c.action != Action::Unchanged)
    }
}

/// Compares `tree` with `out_dir` and its manifest.
pub fn plan(tree: &Tree, out_dir: &Path) -> Result<Plan, Error> {
    let manifest = Manifest::load(out_dir)?;
    let mut changes = Vec::new();
    for (path, new) in tree.iter() {
        let disk = read_owned_path(out_dir, path)?;
        let (action, conflict) = match &disk {
            None => (Action::Add, None),
            Some(bytes) if bytes.as_slice() == new.as_bytes() => (Action::Unchanged, None),
            Some(bytes) => (Action::Change, conflict(&manifest, path, bytes)),
        };
        changes.push(FileChange {
            path: path.to_string(),
            action,
            conflict,
            old: disk.map(|b| String::from_utf8_lossy(&b).into_owned()),
            new: Some(new.to_string()),
        });
    }
    for path in manifest.files.keys() {
        if tree.get(path).is_some() || !crate::tree::is_relative_path(path) {
            continue;
        }
        if let Some(bytes) = read_owned_path(out_dir, path)? {
            changes.push(FileChange {
                path: path.clone(),
                action: Action::Remove,
                conflict: conflict(&manifest, path, &bytes),
                old: Some(String::from_utf8_lossy(&bytes).into_owned()),
                new: None,
            });
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Plan {
        out_dir: out_dir.to_path_buf(),
        changes,
        manifest,
    })
}

fn conflict(manifest: &Manifest, path: &str, disk: &[u8]) -> Option<Conflict> {
    match manifest.files.get(path) {
        None => Some(Conflict::NotOwned),
        Some(h) if *h != manifest::hash(disk) => Some(Conflict::EditedByHand),
        Some(_) => None,
    }
}

/// Reads `out_dir/rel` without following symlinks inside the output folder. `None` when
/// it does not exist.
pub(crate) fn read_owned_path(out_dir: &Path, rel: &str) -> Result<Option<Vec<u8>>, Error> {
    let mut p = out_dir.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        p.push(part);
        let meta = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("cannot inspect {}", p.display()), e)),
        };
        let last = i + 1 == parts.len();
        let wanted = if last { Entry::File } else { Entry::Folder };
        if meta.file_type().is_symlink() {
            return Err(Refusal::Symlink { path: p, wanted }.into());
        }
        if meta.is_dir() != (wanted == Entry::Folder) {
            let found = if meta.is_dir() {
                Entry::Folder
            } else {
                Entry::File
            };
            return Err(Refusal::InTheWay { path: p, found }.into());
        }
    }
    std::fs::read(&p)
        .map(Some)
        .map_err(|e| Error::io(format!("cannot read {}", p.display()), e))
}
