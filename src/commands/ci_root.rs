//! `--ci-root DIR`: the GitHub workflow goes where GitHub reads it, `DIR/.github/workflows/`,
//! instead of the output folder. That folder gets its own manifest, so mlgen owns the
//! workflow there under the same rules as the output folder: conflicts are refused, edits
//! by hand are kept unless forced, every write is atomic.

use std::fs;
use std::path::Path;

use crate::error::{Error, Refusal};
use crate::manifest::EnvironmentOf;
use crate::model::{Deployment, GITHUB_WORKFLOW};
use crate::plan::{self, Plan};
use crate::tree::Tree;
use crate::write::{self, Outcome};

/// Where the workflow goes under the ci root.
pub const WORKFLOW_IN_ROOT: &str = ".github/workflows/mlgen.yml";

/// The pipeline runs mlgen in `[ci] directory` of the repository: with a ci root, that
/// folder must be the spec's, or the workflow written there would check another spec.
pub fn check(ci_root: Option<&Path>, spec: &Path, d: &Deployment) -> Result<(), Error> {
    let (Some(root), Some(ci)) = (ci_root, &d.ci) else {
        return Ok(());
    };
    let spec_dir = match spec.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let real = |p: &Path| fs::canonicalize(p).ok();
    let want = real(spec_dir);
    if want.is_some() && real(&root.join(&ci.directory)) == want {
        return Ok(());
    }
    let inside = match (real(root), want) {
        (Some(r), Some(w)) => w.strip_prefix(&r).ok().map(|rel| match rel.to_str() {
            Some("") => ".".to_string(),
            _ => rel.display().to_string(),
        }),
        _ => None,
    };
    Err(Refusal::CiRootMismatch {
        ci_root: root.to_path_buf(),
        directory: ci.directory.clone(),
        spec_dir: spec_dir.to_path_buf(),
        inside,
    }
    .into())
}

/// The tree for the output folder and, with a ci root, the one for that root.
fn split(tree: &Tree, ci_root: Option<&Path>) -> (Tree, Option<Tree>) {
    let Some(_) = ci_root else {
        return (tree.clone(), None);
    };
    let mut out = Tree::default();
    let mut root = Tree::default();
    for (path, content) in tree.iter() {
        if path == GITHUB_WORKFLOW {
            root.add(WORKFLOW_IN_ROOT, content);
        } else {
            out.add(path, content);
        }
    }
    (out, Some(root))
}

/// One plan over both folders; the root's files are named from the current folder.
pub fn plan(tree: &Tree, out_dir: &Path, ci_root: Option<&Path>) -> Result<Plan, Error> {
    let (out, root) = split(tree, ci_root);
    let mut p = plan::plan(&out, out_dir)?;
    if let (Some(root), Some(dir)) = (root, ci_root) {
        for mut change in plan::plan(&root, dir)?.changes {
            change.path = dir.join(&change.path).display().to_string();
            p.changes.push(change);
        }
    }
    Ok(p)
}

/// Applies the output folder (for `environment`, if any), then the ci root, each atomically.
pub fn apply(
    tree: &Tree,
    out_dir: &Path,
    environment: Option<&EnvironmentOf>,
    ci_root: Option<&Path>,
    force: bool,
) -> Result<(Plan, Outcome), Error> {
    let (out, root) = split(tree, ci_root);
    let (mut p, mut outcome) = write::apply(&out, out_dir, environment, force)?;
    if let (Some(root), Some(dir)) = (root, ci_root) {
        let (rp, ro) = write::apply(&root, dir, None, force)?;
        let named = |path: String| dir.join(path).display().to_string();
        p.changes.extend(rp.changes.into_iter().map(|mut c| {
            c.path = named(c.path);
            c
        }));
        outcome.written.extend(ro.written.into_iter().map(named));
        outcome.removed.extend(ro.removed.into_iter().map(named));
    }
    Ok((p, outcome))
}
