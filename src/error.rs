//! The error type every command returns, and the refusals of the safety rules with their help.

use std::path::PathBuf;

use crate::diagnostics::{self, Diagnostic};
use crate::plan::Conflict;
use crate::spec::SourceFile;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is invalid; `rendered` holds the located report.
    #[error("{rendered}")]
    Spec {
        path: String,
        text: String,
        diagnostics: Vec<Diagnostic>,
        rendered: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("template {template} failed to render: {source}")]
    Template {
        template: &'static str,
        #[source]
        source: askama::Error,
    },
    /// A safety rule refused the operation; nothing was written.
    #[error(transparent)]
    Refused(#[from] Refusal),
}

impl Error {
    pub fn spec(file: &SourceFile, diagnostics: Vec<Diagnostic>) -> Self {
        let path = file.display();
        let rendered = diagnostics::render(&path, &file.text, &diagnostics, false);
        Error::Spec {
            path,
            text: file.text.clone(),
            diagnostics,
            rendered,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// What to do about it, printed after the message; spec errors carry theirs per diagnostic.
    pub fn help(&self) -> Option<String> {
        match self {
            Error::Refused(r) => Some(r.help()),
            _ => None,
        }
    }
}

/// Whether a link or obstacle stands where mlgen needs a file or a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    File,
    Folder,
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Entry::File => "file",
            Entry::Folder => "folder",
        })
    }
}

/// Why mlgen refused to go on. The message says what is wrong; [`Refusal::help`] what to do.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{} does not exist", path.display())]
    SpecMissing { path: PathBuf },
    #[error("no {} found under {}", crate::discover::SPEC_FILE, dir.display())]
    NoSpecUnder { dir: PathBuf },
    #[error("{} holds {} specs, but this command takes one", dir.display(), found.len())]
    SeveralSpecs { dir: PathBuf, found: Vec<PathBuf> },
    #[error("{} has no environment `{name}`", spec.display())]
    UnknownEnvironment {
        name: String,
        spec: PathBuf,
        /// The spec's environments, in order; empty without `[environments]`.
        known: Vec<String>,
    },
    #[error("--out names one output folder, but {count} specs were given")]
    OutWithSeveralSpecs { count: usize },
    #[error("{} already exists", path.display())]
    Exists { path: PathBuf },
    #[error(
        "output folder {} is not inside the spec's folder {}: the spec's folder is the image build context, so the generated app must live inside it",
        out.display(), spec_dir.display()
    )]
    OutOutsideSpecFolder { out: PathBuf, spec_dir: PathBuf },
    #[error(
        "{} is a symbolic link to {}, outside the spec's folder {}: the spec's folder is the image build context, so the generated app must live inside it",
        link.display(), target.display(), spec_dir.display()
    )]
    OutLinksOutside {
        link: PathBuf,
        target: PathBuf,
        spec_dir: PathBuf,
    },
    #[error("output folder {} is the spec's folder itself", out.display())]
    OutIsSpecFolder { out: PathBuf, spec_dir: PathBuf },
    #[error("output folder {} has characters a Dockerfile path cannot hold safely", out.display())]
    OutUnsafeName { out: PathBuf },
    #[error("output folder {} is not a plain path", out.display())]
    OutNotPlain { out: PathBuf },
    #[error("{} is a symbolic link; mlgen never follows links inside its output folder", path.display())]
    Symlink { path: PathBuf, wanted: Entry },
    #[error("{} is a {found}, but mlgen needs a {} there", path.display(), found.other())]
    InTheWay { path: PathBuf, found: Entry },
    #[error("refusing to overwrite or remove files in {}:{}", out_dir.display(), conflict_lines(files))]
    Conflicts {
        out_dir: PathBuf,
        files: Vec<(String, Conflict)>,
    },
    #[error("{} is not empty; `render --out` only writes into a new or empty folder", dir.display())]
    NotEmpty { dir: PathBuf },
    #[error("another mlgen apply (pid {pid}) is writing {}", out_dir.display())]
    Locked { pid: u32, out_dir: PathBuf },
    #[error("{} was left by mlgen pid {pid}, which is no longer running (it was probably killed mid-apply; its writes were not committed or were rolled back)", lock.display())]
    StaleLock { pid: u32, lock: PathBuf },
    #[error("{} exists: another mlgen apply may be running", lock.display())]
    LockExists { lock: PathBuf },
    #[error("{} is not a valid mlgen manifest ({reason}); it records which files mlgen owns", path.display())]
    BadManifest { path: PathBuf, reason: String },
    #[error(
        "--ci-root {} with [ci] directory = \"{directory}\" names {}, but the spec is in {}: the pipeline would run mlgen in another folder",
        ci_root.display(), ci_root.join(directory).display(), spec_dir.display()
    )]
    CiRootMismatch {
        ci_root: PathBuf,
        directory: String,
        spec_dir: PathBuf,
        /// The spec's folder relative to the root, when the root holds it.
        inside: Option<String>,
    },
}

impl Entry {
    fn other(self) -> Entry {
        match self {
            Entry::File => Entry::Folder,
            Entry::Folder => Entry::File,
        }
    }
}

fn conflict_lines(files: &[(String, Conflict)]) -> String {
    files
        .iter()
        .map(|(path, c)| match c {
            Conflict::EditedByHand => format!("\n  {path} (edited by hand since the last apply)"),
            Conflict::NotOwned => format!("\n  {path} (exists, not written by mlgen)"),
        })
        .collect()
}

impl Refusal {
    pub fn help(&self) -> String {
        match self {
            Refusal::SpecMissing { path } => format!(
                "`mlgen init {}` writes a commented starter spec there",
                path.display()
            ),
            Refusal::NoSpecUnder { dir } => format!(
                "name a spec file, or write one with `mlgen init {}`",
                dir.join(crate::discover::SPEC_FILE).display()
            ),
            Refusal::SeveralSpecs { found, .. } => {
                const SHOWN: usize = 3;
                let mut names: Vec<String> =
                    found.iter().take(SHOWN).map(|p| p.display().to_string()).collect();
                if found.len() > SHOWN {
                    names.push(format!("and {} more", found.len() - SHOWN));
                }
                format!(
                    "name one of them ({}); `mlgen plan` and `mlgen apply` take a folder of specs",
                    names.join(", ")
                )
            }
            Refusal::UnknownEnvironment { known, .. } if known.is_empty() => {
                "the spec has no [environments]: leave --env out".to_string()
            }
            Refusal::UnknownEnvironment { known, .. } => {
                let names: Vec<&str> = known.iter().map(String::as_str).collect();
                format!("its environments are {}", crate::spec::environments::quoted(&names))
            }
            Refusal::OutWithSeveralSpecs { .. } => {
                "leave --out out to use deploy/ beside each spec".to_string()
            }
            Refusal::Exists { .. } => "pass --force to overwrite it".to_string(),
            Refusal::OutOutsideSpecFolder { spec_dir, .. } => {
                format!("e.g. --out {}", spec_dir.join("deploy").display())
            }
            Refusal::OutLinksOutside { link, spec_dir, .. } => format!(
                "replace the link {} with a folder, or name another folder inside {} with --out (e.g. --out {})",
                link.display(),
                spec_dir.display(),
                spec_dir.join("generated").display()
            ),
            Refusal::CiRootMismatch { inside, .. } => match inside {
                Some(dir) => format!(
                    "set `directory = \"{dir}\"` under [ci], or pass the repository root as --ci-root"
                ),
                None => "pass the repository root that holds the spec as --ci-root".to_string(),
            },
            Refusal::OutIsSpecFolder { spec_dir, .. } => {
                format!("use a subfolder such as {}", spec_dir.join("deploy").display())
            }
            Refusal::OutUnsafeName { .. } => {
                "use letters, digits, `.`, `_` and `-` in its name".to_string()
            }
            Refusal::OutNotPlain { .. } => {
                "name it without `..` past a folder that does not exist yet".to_string()
            }
            Refusal::Symlink { wanted, .. } => format!("replace it with a plain {wanted}"),
            Refusal::InTheWay { path, .. } => format!("move {} out of the way", path.display()),
            Refusal::Conflicts { .. } => "nothing was written; review them with `mlgen plan`, then keep your changes in the spec, or run `mlgen apply --force` to replace them".to_string(),
            Refusal::NotEmpty { dir } => format!(
                "use `mlgen apply --out {}` to update a folder mlgen manages",
                dir.display()
            ),
            Refusal::Locked { .. } => "wait for it to finish".to_string(),
            Refusal::StaleLock { .. } => {
                "nothing holds the folder now: delete the lock file and run apply again".to_string()
            }
            Refusal::LockExists { .. } => {
                "if none is running, delete the lock file and run apply again".to_string()
            }
            Refusal::BadManifest { .. } => "restore it from version control, or delete it to treat every file as not owned by mlgen".to_string(),
        }
    }
}
