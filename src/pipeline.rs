//! Spec file → validated spec → deployment → rendered tree, and where the tree goes.

use std::path::{Component, Path, PathBuf};

use crate::diagnostics::Warnings;
use crate::error::{Error, Refusal};
use crate::model::{self, Deployment};
use crate::render;
use crate::spec::{self, SourceFile, validate};
use crate::tree::Tree;

/// The default output folder, beside the spec.
pub const DEFAULT_OUT: &str = "deploy";

/// Everything a command needs about one spec.
#[derive(Debug)]
pub struct Prepared {
    pub file: SourceFile,
    pub deployment: Deployment,
    pub tree: Tree,
    /// The output folder as the user named it (for messages).
    pub out_dir: PathBuf,
    /// What the spec's valid settings are unlikely to do as meant.
    pub warnings: Warnings,
}

/// Loads, validates, resolves and renders the spec at `spec_path` for output in `out`
/// (default `deploy/` beside the spec).
pub fn prepare(spec_path: &Path, out: Option<&Path>) -> Result<Prepared, Error> {
    let (file, parsed) = spec::load(spec_path)?;
    let spec_dir = match spec_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let out_dir = match out {
        Some(o) => o.to_path_buf(),
        // `deploy`, not `./deploy`, for a spec in the current folder.
        None if spec_dir == Path::new(".") => PathBuf::from(DEFAULT_OUT),
        None => spec_dir.join(DEFAULT_OUT),
    };
    let mut checked = validate::validate(&parsed).map_err(|d| Error::spec(&file, d))?;
    validate::check_files(&parsed, &checked, &spec_dir).map_err(|d| Error::spec(&file, d))?;
    checked.spec_lock =
        validate::spec_lock(&parsed, spec_path).map_err(|d| Error::spec(&file, d))?;
    let out_rel = out_relative(&spec_dir, &out_dir)?;
    let deployment = model::resolve(&parsed, &checked, &spec_name(spec_path), &out_rel);
    let tree = render::render(&deployment)?;
    let warnings = Warnings {
        path: file.display(),
        text: file.text.clone(),
        diagnostics: checked.warnings,
    };
    Ok(Prepared {
        file,
        deployment,
        tree,
        out_dir,
        warnings,
    })
}

/// Validates and resolves spec text alone, as if written to the default output folder, with
/// no files beside it (a local model is not looked for); used by tests.
pub fn compile(file: &SourceFile) -> Result<(Deployment, Tree), Error> {
    let parsed = spec::load::parse(file)?;
    let checked = validate::validate(&parsed).map_err(|d| Error::spec(file, d))?;
    let d = model::resolve(&parsed, &checked, &spec_name(&file.path), DEFAULT_OUT);
    let tree = render::render(&d)?;
    Ok((d, tree))
}

fn spec_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || crate::discover::SPEC_FILE.to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The output folder relative to the spec's folder, which is the image build context: the
/// Dockerfile copies the app from there, so the output must sit inside it.
pub(crate) fn out_relative(spec_dir: &Path, out: &Path) -> Result<String, Error> {
    let base = spec_dir
        .canonicalize()
        .map_err(|e| Error::io(format!("cannot resolve {}", spec_dir.display()), e))?;
    let target = resolve_lenient(out)?;
    let rel = target
        .strip_prefix(&base)
        .map_err(|_| outside(spec_dir, &base, out))?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        return Err(Refusal::OutIsSpecFolder {
            out: out.to_path_buf(),
            spec_dir: spec_dir.to_path_buf(),
        }
        .into());
    }
    if !parts.iter().all(|p| {
        p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    }) {
        let out = out.to_path_buf();
        return Err(Refusal::OutUnsafeName { out }.into());
    }
    Ok(parts.join("/"))
}

/// Why `out` resolves outside the spec's folder (canonically `base`): a symbolic link inside
/// the spec's folder that leads out, or a path that is elsewhere.
fn outside(spec_dir: &Path, base: &Path, out: &Path) -> Error {
    let spec_dir = spec_dir.to_path_buf();
    let link = out.ancestors().find(|a| {
        let inside = |p: &Path| {
            let p = if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            };
            p.canonicalize().is_ok_and(|c| c.starts_with(base))
        };
        a.is_symlink() && a.parent().is_some_and(inside)
    });
    match link {
        Some(link) => Refusal::OutLinksOutside {
            link: link.to_path_buf(),
            target: std::fs::read_link(link).unwrap_or_default(),
            spec_dir,
        },
        None => Refusal::OutOutsideSpecFolder {
            out: out.to_path_buf(),
            spec_dir,
        },
    }
    .into()
}

/// Canonicalises the longest existing prefix of `p` and appends the rest, which must be
/// plain names (no `..` past a folder that does not exist yet).
fn resolve_lenient(p: &Path) -> Result<PathBuf, Error> {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("cannot read the current folder", e))?
            .join(p)
    };
    let mut existing = abs.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = existing
        .canonicalize()
        .map_err(|e| Error::io(format!("cannot resolve {}", existing.display()), e))?;
    for name in rest.into_iter().rev() {
        match Path::new(&name).components().next() {
            Some(Component::Normal(_)) => out.push(name),
            _ => {
                let out = p.to_path_buf();
                return Err(Refusal::OutNotPlain { out }.into());
            }
        }
    }
    Ok(out)
}
