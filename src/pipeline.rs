//! Spec file → validated spec → deployment → rendered tree, and where the tree goes.

use std::path::{Component, Path, PathBuf};

use crate::diagnostics::{Diagnostic, Warnings};
use crate::error::{Error, Refusal};
use crate::manifest::{EnvironmentOf, Manifest};
use crate::model::{self, Deployment};
use crate::render;
use crate::spec::validate::{self, Checked};
use crate::spec::{self, SourceFile, Spec};
use crate::tree::Tree;

/// The default output folder, beside the spec.
pub const DEFAULT_OUT: &str = "deploy";

/// Everything a command needs about one spec, or one environment of it.
#[derive(Debug)]
pub struct Prepared {
    pub file: SourceFile,
    /// The environment, for a spec with `[environments]`.
    pub environment: Option<String>,
    pub deployment: Deployment,
    pub tree: Tree,
    /// The output folder as the user named it (for messages); an environment's is its own
    /// folder inside the spec's.
    pub out_dir: PathBuf,
    /// What the spec's valid settings are unlikely to do as meant; the spec's own are shown
    /// with the first environment it prepares.
    pub warnings: Warnings,
    /// The deploy pipeline's files are written with this deployment: the spec's, or its
    /// first environment's.
    pub pipeline_here: bool,
}

/// Loads, validates, resolves and renders the spec at `spec_path` for output in `out`
/// (default `deploy/` beside the spec): one [`Prepared`] per environment, in the spec's
/// order, or only `only`'s.
pub fn prepare(
    spec_path: &Path,
    out: Option<&Path>,
    only: Option<&str>,
) -> Result<Vec<Prepared>, Error> {
    let (file, specs) = spec::load(spec_path)?;
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
    let selected = select(spec_path, &specs, only)?;
    let checked = check_all(&file, specs, Some((spec_path, &spec_dir)))?;
    let out_rel = out_relative(&spec_dir, &out_dir)?;
    let deployments = model::resolve_all(&checked, &spec_name(spec_path), &out_rel);
    let mut warnings = dedup(checked.into_iter().flat_map(|(_, c)| c.warnings).collect());
    deployments
        .into_iter()
        .enumerate()
        .filter(|(i, _)| selected.contains(i))
        .map(|(i, deployment)| {
            let tree = render::render(&deployment)?;
            let environment = deployment.environment.clone();
            let out_dir = match &environment {
                Some(env) => out_dir.join(env),
                None => out_dir.clone(),
            };
            let warnings = Warnings {
                path: file.display(),
                text: file.text.clone(),
                diagnostics: std::mem::take(&mut warnings),
            };
            Ok(Prepared {
                file: file.clone(),
                environment,
                deployment,
                tree,
                out_dir,
                warnings,
                pipeline_here: i == 0,
            })
        })
        .collect()
}

/// An output folder that still owns files the spec no longer produces, whole: the output
/// folder from before the spec had environments, or the folder of an environment it no
/// longer names.
#[derive(Debug)]
pub struct Retired {
    pub dir: PathBuf,
    /// The environment whose folder it is; `None` for the output folder itself.
    pub environment: Option<String>,
}

impl Prepared {
    /// What this folder's manifest records about whose it is: the spec's environment, if any.
    pub fn owner(&self) -> Option<EnvironmentOf> {
        self.environment.as_ref().map(|name| EnvironmentOf {
            spec: self.deployment.spec_name.clone(),
            name: name.clone(),
        })
    }
}

/// The folders whose owned files `all` (every environment of one spec) no longer produces,
/// so that they are removed under the usual ownership rules. With `[environments]`, the
/// output folder itself when its manifest records files. Either way, each direct subfolder of
/// the output folder whose manifest says it was written for an environment of this spec, by
/// the folder's own name, that the spec no longer names: a folder any deeper, or one whose
/// manifest names no environment, another spec or another folder, was not written as one
/// of this spec's environments and is left alone, as is everything outside the output folder.
pub fn retired_outputs(all: &[Prepared]) -> Result<Vec<Retired>, Error> {
    let Some(first) = all.first() else {
        return Ok(Vec::new());
    };
    let base = match &first.environment {
        Some(_) => first
            .out_dir
            .parent()
            .expect("an environment's folder has a parent"),
        None => &first.out_dir,
    };
    let mut retired = Vec::new();
    if first.environment.is_some() && !Manifest::load(base)?.files.is_empty() {
        retired.push(Retired {
            dir: base.to_path_buf(),
            environment: None,
        });
    }
    let named: Vec<&str> = all
        .iter()
        .filter_map(|p| p.environment.as_deref())
        .collect();
    for (name, dir) in subfolders(base)? {
        let wanted = Some(EnvironmentOf {
            spec: first.deployment.spec_name.clone(),
            name: name.clone(),
        });
        // A manifest that cannot be read is not known to be this spec's.
        let owned =
            Manifest::load(&dir).is_ok_and(|m| m.environment == wanted && !m.files.is_empty());
        if owned && !named.contains(&name.as_str()) {
            retired.push(Retired {
                dir,
                environment: Some(name),
            });
        }
    }
    Ok(retired)
}

/// The folders directly inside `dir` (not links to one), by name, sorted; none when `dir`
/// does not exist.
fn subfolders(dir: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let cannot = |e| Error::io(format!("cannot read {}", dir.display()), e);
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(cannot(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(cannot)?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if let (true, Ok(name)) = (is_dir, entry.file_name().into_string()) {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The indexes of the environments to prepare: all, or the one named with `--env`.
fn select(spec_path: &Path, specs: &[Spec], only: Option<&str>) -> Result<Vec<usize>, Error> {
    let Some(name) = only else {
        return Ok((0..specs.len()).collect());
    };
    let known: Vec<String> = specs
        .iter()
        .filter_map(|s| s.environment.as_ref().map(|e| e.name.clone()))
        .collect();
    match known.iter().position(|k| k == name) {
        Some(i) => Ok(vec![i]),
        None => Err(Refusal::UnknownEnvironment {
            name: name.to_string(),
            spec: spec_path.to_path_buf(),
            known,
        }
        .into()),
    }
}

/// Validates every environment (and, given the spec's folder, the files it names); the
/// problems of all of them at once, each reported once.
fn check_all(
    file: &SourceFile,
    specs: Vec<Spec>,
    beside: Option<(&Path, &Path)>,
) -> Result<Vec<(Spec, Checked)>, Error> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for spec in specs {
        let checked = validate::validate(&spec).and_then(|checked| match beside {
            Some((path, dir)) => with_files(&spec, checked, path, dir),
            None => Ok(checked),
        });
        match checked {
            Ok(c) => out.push((spec, c)),
            Err(d) => errors.extend(d),
        }
    }
    errors.extend(validate::environments(&mut out));
    let errors = dedup(errors);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::spec(file, errors))
    }
}

/// The checks that read the files beside the spec: the model, handler and includes, and the
/// spec's own lock.
fn with_files(
    spec: &Spec,
    mut checked: Checked,
    path: &Path,
    dir: &Path,
) -> Result<Checked, Vec<Diagnostic>> {
    validate::check_files(spec, &checked, dir)?;
    checked.spec_lock = validate::spec_lock(spec, path)?;
    Ok(checked)
}

/// Each diagnostic once, in text order: environments share most of the spec.
fn dedup(all: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    for d in all {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out.sort_by_key(|d| d.span.start);
    out
}

/// Validates and resolves spec text alone, as if written to the default output folder, with
/// no files beside it (a local model is not looked for); used by tests. For a spec with
/// environments, the first environment's (see [`compile_all`]).
pub fn compile(file: &SourceFile) -> Result<(Deployment, Tree), Error> {
    compile_all(file).map(|mut all| all.remove(0))
}

/// [`compile`] for every environment, in order.
pub fn compile_all(file: &SourceFile) -> Result<Vec<(Deployment, Tree)>, Error> {
    let specs = spec::load::parse_all(file)?;
    let checked = check_all(file, specs, None)?;
    model::resolve_all(&checked, &spec_name(&file.path), DEFAULT_OUT)
        .into_iter()
        .map(|d| render::render(&d).map(|tree| (d, tree)))
        .collect()
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
