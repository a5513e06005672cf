//! What `apply` would do to an output folder, and how to show it.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anstyle::{AnsiColor, Style};
use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use crate::error::Error;
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

impl FileChange {
    /// The `---` / `+++` names: `a/PATH` and `b/PATH`, `/dev/null` for a side that is absent.
    fn headers(&self) -> (String, String) {
        let name = |side: &Option<String>, prefix: &str| {
            side.as_ref().map_or_else(
                || "/dev/null".to_string(),
                |_| format!("{prefix}/{}", self.path),
            )
        };
        (name(&self.old, "a"), name(&self.new, "b"))
    }

    /// Unified diff from the file on disk to the generated one.
    pub fn diff(&self) -> String {
        let (a, b) = self.headers();
        TextDiff::from_lines(
            self.old.as_deref().unwrap_or(""),
            self.new.as_deref().unwrap_or(""),
        )
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string()
    }
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
pub fn read_owned_path(out_dir: &Path, rel: &str) -> Result<Option<Vec<u8>>, Error> {
    let mut p = out_dir.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        p.push(part);
        let meta = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("cannot inspect {}", p.display()), e)),
        };
        if meta.file_type().is_symlink() {
            return Err(Error::Refused(format!(
                "{} is a symbolic link; mlgen never follows links inside its output folder. Replace it with a plain {}",
                p.display(),
                if i + 1 == parts.len() {
                    "file"
                } else {
                    "folder"
                }
            )));
        }
        let last = i + 1 == parts.len();
        if !last && !meta.is_dir() {
            return Err(Error::Refused(format!(
                "{} is a file, but mlgen needs a folder there for {rel}",
                p.display()
            )));
        }
        if last && meta.is_dir() {
            return Err(Error::Refused(format!(
                "{} is a folder, but mlgen generates a file there",
                p.display()
            )));
        }
    }
    std::fs::read(&p)
        .map(Some)
        .map_err(|e| Error::io(format!("cannot read {}", p.display()), e))
}

/// Writes the human-readable plan: coloured diffs, conflicts, then a summary line.
pub fn write_text(plan: &Plan, out: &mut impl Write) -> io::Result<()> {
    let cyan = Style::new().fg_color(Some(AnsiColor::Cyan.into()));
    let red = Style::new().fg_color(Some(AnsiColor::Red.into()));
    let green = Style::new().fg_color(Some(AnsiColor::Green.into()));
    let bold = Style::new().bold();
    let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold();
    for c in plan.pending() {
        let old = c.old.as_deref().unwrap_or("");
        let new = c.new.as_deref().unwrap_or("");
        let (a, b) = c.headers();
        writeln!(out, "{bold}--- {a}{bold:#}")?;
        writeln!(out, "{bold}+++ {b}{bold:#}")?;
        let diff = TextDiff::from_lines(old, new);
        for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
            writeln!(out, "{cyan}{}{cyan:#}", hunk.header())?;
            for change in hunk.iter_changes() {
                let (sign, style) = match change.tag() {
                    ChangeTag::Delete => ('-', red),
                    ChangeTag::Insert => ('+', green),
                    ChangeTag::Equal => (' ', Style::new()),
                };
                write!(out, "{style}{sign}{}{style:#}", change.value())?;
                if change.missing_newline() {
                    writeln!(out, "\n\\ No newline at end of file")?;
                }
            }
        }
        if let Some(conflict) = c.conflict {
            let why = match conflict {
                Conflict::EditedByHand => "was edited by hand since the last apply",
                Conflict::NotOwned => "exists but was not written by mlgen",
            };
            writeln!(
                out,
                "{yellow}! {} {why}; `mlgen apply` refuses to overwrite it without --force{yellow:#}",
                c.path
            )?;
        }
        writeln!(out)?;
    }
    let s = plan.summary();
    let dir = plan.out_dir.display();
    if plan.is_current() {
        writeln!(out, "No changes: {dir} is up to date.")
    } else {
        writeln!(
            out,
            "Plan: {} to add, {} to change, {} to remove in {dir}.{}",
            s.add,
            s.change,
            s.remove,
            if s.conflicts > 0 {
                format!(
                    " {} file{} edited by hand or not owned by mlgen.",
                    s.conflicts,
                    if s.conflicts == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            }
        )
    }
}

/// One spec's entry in the machine-readable plan (`plan --format json`).
pub fn to_json(plan: &Plan, spec: &Path) -> serde_json::Value {
    let files: Vec<serde_json::Value> = plan
        .pending()
        .map(|c| {
            let mut v = serde_json::to_value(c).expect("file change serialises");
            v["diff"] = serde_json::Value::String(c.diff());
            v
        })
        .collect();
    serde_json::json!({
        "spec": spec.display().to_string(),
        "out_dir": plan.out_dir.display().to_string(),
        "current": plan.is_current(),
        "summary": plan.summary(),
        "files": files,
    })
}
