//! Writing an output folder so that a failure leaves it exactly as it was.
//!
//! `apply` takes a lock, plans, refuses hand-edited or foreign files unless forced, stages
//! every new file as a temporary file beside its target, then swaps them in with renames,
//! keeping the old files as backups until the last rename succeeded. Any error rolls the
//! swaps back, deletes the temporaries and the folders it created.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::{NamedTempFile, TempPath};

use crate::error::{Entry, Error, Refusal};
use crate::manifest::{self, EnvironmentOf, Manifest};
use crate::plan::{self, Action, Plan};
use crate::tree::Tree;

/// Lock file inside the output folder while `apply` runs.
pub const LOCK_FILE: &str = ".mlgen.lock";

/// Test hook: `MLGEN_FAIL_AT=stage:N` or `commit:N` makes the Nth staging or commit step
/// fail as an I/O error would, to prove rollback. Only debug builds (what `cargo test` runs)
/// read it.
#[cfg(debug_assertions)]
const FAIL_ENV: &str = "MLGEN_FAIL_AT";

#[derive(Debug, Default)]
pub struct Outcome {
    pub written: Vec<String>,
    pub removed: Vec<String>,
}

/// Plans and applies `tree` to `out_dir` under the folder's lock; the manifest records
/// `environment`, the environment the folder is for, if any.
pub fn apply(
    tree: &Tree,
    out_dir: &Path,
    environment: Option<&EnvironmentOf>,
    force: bool,
) -> Result<(Plan, Outcome), Error> {
    let mut created = create_dirs(out_dir)?;
    let lock = match Lock::acquire(out_dir) {
        Ok(l) => l,
        Err(e) => {
            remove_created(&mut created);
            return Err(e);
        }
    };
    let result = apply_locked(tree, out_dir, environment, force);
    drop(lock);
    if result.is_err() {
        remove_created(&mut created);
    }
    result
}

fn apply_locked(
    tree: &Tree,
    out_dir: &Path,
    environment: Option<&EnvironmentOf>,
    force: bool,
) -> Result<(Plan, Outcome), Error> {
    let plan = plan::plan(tree, out_dir)?;
    let files: Vec<_> = plan
        .pending()
        .filter_map(|c| c.conflict.map(|k| (c.path.clone(), k)))
        .collect();
    if !files.is_empty() && !force {
        let out_dir = out_dir.to_path_buf();
        return Err(Refusal::Conflicts { out_dir, files }.into());
    }

    let new_manifest = Manifest::new(
        tree.iter()
            .map(|(p, c)| (p.to_string(), manifest::hash(c.as_bytes())))
            .collect(),
        environment.cloned(),
    );
    let manifest_exists = out_dir.join(manifest::FILE).exists();
    let mut tx = Transaction::new(out_dir);
    let mut outcome = Outcome::default();
    let result = (|| {
        for c in plan.pending() {
            match c.action {
                Action::Add | Action::Change => {
                    let content = tree.get(&c.path).expect("planned file is in the tree");
                    tx.stage_write(&c.path, content.as_bytes(), is_executable(&c.path))?;
                    outcome.written.push(c.path.clone());
                }
                Action::Remove => {
                    tx.stage_remove(&c.path);
                    outcome.removed.push(c.path.clone());
                }
                Action::Unchanged => {}
            }
        }
        // A folder that owns nothing keeps no manifest, which would still mark it as mlgen's.
        if tree.is_empty() {
            if manifest_exists {
                tx.stage_remove(manifest::FILE);
            }
        } else if new_manifest != plan.manifest || !manifest_exists {
            tx.stage_write(manifest::FILE, new_manifest.to_json().as_bytes(), false)?;
        }
        tx.commit()
    })();
    match result {
        Ok(()) => Ok((plan, outcome)),
        Err(e) => {
            tx.rollback();
            Err(e)
        }
    }
}

/// Removes `dir` if it holds nothing but folders that hold nothing, and those folders: what
/// is left of a folder whose every file was removed. Anything else in it keeps it.
pub fn remove_if_empty(dir: &Path) -> Result<(), Error> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("cannot read {}", dir.display()), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("cannot read {}", dir.display()), e))?;
        // A link is an entry like a file, never followed.
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_if_empty(&entry.path())?;
        }
    }
    match fs::remove_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::DirectoryNotEmpty => {
            Err(Error::io(format!("cannot remove {}", dir.display()), e))
        }
        _ => Ok(()),
    }
}

/// Generated scripts are executable; everything else is a plain file.
pub fn is_executable(path: &str) -> bool {
    path.ends_with(".sh")
}

/// Writes `tree` into a folder that must be empty or missing (`render --out`).
pub fn export(tree: &Tree, out_dir: &Path) -> Result<(), Error> {
    if let Ok(mut entries) = fs::read_dir(out_dir)
        && entries.next().is_some()
    {
        let dir = out_dir.to_path_buf();
        return Err(Refusal::NotEmpty { dir }.into());
    }
    let mut created = create_dirs(out_dir)?;
    let mut tx = Transaction::new(out_dir);
    let result = (|| {
        for (path, content) in tree.iter() {
            tx.stage_write(path, content.as_bytes(), is_executable(path))?;
        }
        tx.commit()
    })();
    if result.is_err() {
        tx.rollback();
        remove_created(&mut created);
    }
    result
}

/// Creates `dir` and missing parents; returns the folders it created, outermost first.
fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut missing = Vec::new();
    let mut p = dir.to_path_buf();
    while !p.as_os_str().is_empty() && fs::symlink_metadata(&p).is_err() {
        missing.push(p.clone());
        match p.parent() {
            Some(parent) => p = parent.to_path_buf(),
            None => break,
        }
    }
    missing.reverse();
    let mut created = Vec::new();
    for m in missing {
        match fs::create_dir(&m) {
            Ok(()) => created.push(m),
            // Another apply created it meanwhile; it is not ours to remove.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && m.is_dir() => {}
            Err(e) => {
                remove_created(&mut created);
                return Err(Error::io(format!("cannot create {}", m.display()), e));
            }
        }
    }
    Ok(created)
}

fn remove_created(created: &mut Vec<PathBuf>) {
    while let Some(d) = created.pop() {
        let _ = fs::remove_dir(&d);
    }
}

enum Step {
    Write {
        target: PathBuf,
        temp: Option<TempPath>,
    },
    Remove {
        target: PathBuf,
    },
}

struct Transaction {
    root: PathBuf,
    steps: Vec<Step>,
    /// Folders created while staging, outermost first.
    created: Vec<PathBuf>,
    /// (target, backup) of every file moved aside, and whether a new file now sits there.
    done: Vec<(PathBuf, Option<PathBuf>, bool)>,
    fail: FailPoints,
}

impl Transaction {
    fn new(root: &Path) -> Self {
        Transaction {
            root: root.to_path_buf(),
            steps: Vec::new(),
            created: Vec::new(),
            done: Vec::new(),
            fail: FailPoints::from_env(),
        }
    }

    fn stage_write(&mut self, rel: &str, content: &[u8], executable: bool) -> Result<(), Error> {
        let target = self.root.join(rel);
        let parent = target
            .parent()
            .expect("a file in the tree has a parent")
            .to_path_buf();
        self.ensure_dir(&parent)?;
        fail_at(self.fail.stage, self.steps.len() + 1, "stage", &target)?;
        let ctx = |e| Error::io(format!("cannot stage {}", target.display()), e);
        let mut tmp = temp_file(&parent, executable).map_err(ctx)?;
        tmp.write_all(content).map_err(ctx)?;
        tmp.as_file().sync_all().map_err(ctx)?;
        self.steps.push(Step::Write {
            target,
            temp: Some(tmp.into_temp_path()),
        });
        Ok(())
    }

    fn stage_remove(&mut self, rel: &str) {
        self.steps.push(Step::Remove {
            target: self.root.join(rel),
        });
    }

    /// Creates missing folders under the root, refusing symlinks and files in the way.
    fn ensure_dir(&mut self, dir: &Path) -> Result<(), Error> {
        let rel = dir.strip_prefix(&self.root).unwrap_or(Path::new(""));
        let mut p = self.root.clone();
        for part in rel.components() {
            p.push(part);
            match fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    let wanted = Entry::Folder;
                    return Err(Refusal::Symlink { path: p, wanted }.into());
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    let found = Entry::File;
                    return Err(Refusal::InTheWay { path: p, found }.into());
                }
                Err(_) => {
                    fs::create_dir(&p)
                        .map_err(|e| Error::io(format!("cannot create {}", p.display()), e))?;
                    self.created.push(p.clone());
                }
            }
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), Error> {
        let steps = std::mem::take(&mut self.steps);
        for (i, step) in steps.into_iter().enumerate() {
            let target = match &step {
                Step::Write { target, .. } | Step::Remove { target } => target,
            };
            if let Err(e) = fail_at(self.fail.commit, i + 1, "commit", target) {
                self.steps.push(step);
                return Err(e);
            }
            match step {
                Step::Write { target, mut temp } => {
                    let backup = self.move_aside(&target)?;
                    let t = temp.take().expect("staged temp is present");
                    match t.persist(&target) {
                        Ok(()) => self.done.push((target, backup, true)),
                        Err(e) => {
                            self.done.push((target.clone(), backup, false));
                            return Err(Error::io(
                                format!("cannot write {}", target.display()),
                                e.error,
                            ));
                        }
                    }
                }
                Step::Remove { target } => {
                    let backup = self.move_aside(&target)?;
                    self.done.push((target, backup, false));
                }
            }
        }
        // Every rename succeeded: the backups can go.
        for (_, backup, _) in self.done.drain(..) {
            if let Some(b) = backup {
                let _ = fs::remove_file(b);
            }
        }
        Ok(())
    }

    /// Renames an existing target to a backup beside it.
    fn move_aside(&self, target: &Path) -> Result<Option<PathBuf>, Error> {
        match fs::symlink_metadata(target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("cannot inspect {}", target.display()), e)),
            Ok(m) if m.is_dir() => Err(Refusal::InTheWay {
                path: target.to_path_buf(),
                found: Entry::Folder,
            }
            .into()),
            Ok(_) => {
                let name = target
                    .file_name()
                    .expect("target has a name")
                    .to_string_lossy();
                let backup =
                    target.with_file_name(format!(".{name}.mlgen-backup-{}", std::process::id()));
                fs::rename(target, &backup)
                    .map_err(|e| Error::io(format!("cannot move {} aside", target.display()), e))?;
                Ok(Some(backup))
            }
        }
    }

    /// Undoes every completed step in reverse and removes what staging created.
    fn rollback(&mut self) {
        while let Some((target, backup, placed)) = self.done.pop() {
            if placed {
                let _ = fs::remove_file(&target);
            }
            if let Some(b) = backup {
                let _ = fs::rename(&b, &target);
            }
        }
        // Dropping the remaining TempPaths deletes the staged temporaries.
        self.steps.clear();
        remove_created(&mut self.created);
    }
}

/// A temporary file in `dir` for a file that will be renamed into place. It is created with
/// mode 0644 (0755 when executable) less the umask, as any file a user writes would be.
pub(crate) fn temp_file(dir: &Path, executable: bool) -> io::Result<NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".mlgen-tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if executable { 0o755 } else { 0o644 };
        builder.permissions(fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = executable;
    // tempfile's errors name the temporary file; the caller names the real one.
    builder
        .tempfile_in(dir)
        .map_err(|e| io::Error::from(e.kind()))
}

/// Which staging or commit step fails on purpose (`MLGEN_FAIL_AT`); none in release builds.
#[derive(Debug, Default)]
struct FailPoints {
    stage: Option<usize>,
    commit: Option<usize>,
}

impl FailPoints {
    #[cfg(debug_assertions)]
    fn from_env() -> Self {
        let Ok(v) = std::env::var(FAIL_ENV) else {
            return FailPoints::default();
        };
        let parse = |prefix: &str| v.strip_prefix(prefix).and_then(|n| n.parse().ok());
        FailPoints {
            stage: parse("stage:"),
            commit: parse("commit:"),
        }
    }

    #[cfg(not(debug_assertions))]
    fn from_env() -> Self {
        FailPoints::default()
    }
}

/// Fails step `n` (from 1) of `action` when it is the `chosen` one, as an I/O error would.
fn fail_at(chosen: Option<usize>, n: usize, action: &str, target: &Path) -> Result<(), Error> {
    if chosen != Some(n) {
        return Ok(());
    }
    Err(Error::io(
        format!("cannot {action} {}", target.display()),
        io::Error::other("failure injected by MLGEN_FAIL_AT"),
    ))
}

/// An exclusive lock on an output folder, released on drop.
struct Lock {
    path: PathBuf,
}

impl Lock {
    fn acquire(out_dir: &Path) -> Result<Lock, Error> {
        let path = out_dir.join(LOCK_FILE);
        // The lock appears with its pid already in it (written to a temporary file, then
        // linked into place), so a concurrent apply never reads an empty lock.
        let mut staged = tempfile::NamedTempFile::new_in(out_dir)
            .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        writeln!(staged, "pid={}", std::process::id())
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
        match fs::hard_link(staged.path(), &path) {
            Ok(()) => Ok(Lock { path }),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let text = fs::read_to_string(&path).unwrap_or_default();
                let pid = text
                    .trim()
                    .strip_prefix("pid=")
                    .and_then(|p| p.parse::<u32>().ok());
                let running = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
                let out_dir = out_dir.to_path_buf();
                Err(match (pid, running) {
                    (Some(pid), true) => Refusal::Locked { pid, out_dir },
                    (Some(pid), false) => Refusal::StaleLock { pid, lock: path },
                    (None, _) => Refusal::LockExists { lock: path },
                }
                .into())
            }
            Err(e) => Err(Error::io(format!("cannot create {}", path.display()), e)),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
