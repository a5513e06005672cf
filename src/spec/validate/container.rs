//! `[container]`: Python version, extra requirements, port and base image.

use std::collections::BTreeSet;
use std::path::Path;

use toml::Spanned;

use super::ids::{is_pinned_requirement, is_safe_path};
use super::{Checker, not_beside};
use crate::model::lock;
use crate::platform::platform;
use crate::spec::{ContainerSpec, Framework, Spec};

pub(super) fn check(c: &mut Checker, ct: &ContainerSpec) {
    let offered = &platform().python;
    let py = &ct.python;
    if !offered.contains(py.get_ref()) {
        c.err(
            "container.python",
            py.span(),
            format!("Python `{}` is not offered", py.get_ref()),
            format!("use one of: {}", offered.join(", ")),
        );
    }
    for r in &ct.requirements {
        if !is_pinned_requirement(r.get_ref()) {
            c.err(
                "container.requirements",
                r.span(),
                format!("`{}` is not a pinned requirement", r.get_ref()),
                "pin every package to one version, e.g. `scikit-learn==1.6.1`, so rebuilds are reproducible",
            );
        }
    }
    let port = &ct.port;
    if !(1..=65535).contains(port.get_ref()) {
        c.err(
            "container.port",
            port.span(),
            format!("port {} is out of range", port.get_ref()),
            "use a TCP port from 1 to 65535; Cloud Run's default is 8080",
        );
    }
    if let Some(base) = &ct.base_image {
        check_image_ref(c, "container.base_image", base);
    }
    check_include(c, &ct.include);
}

/// Each include is a file, or a folder written with a trailing `/`, inside the spec's
/// folder (the build context), listed once.
fn check_include(c: &mut Checker, include: &[Spanned<String>]) {
    let mut seen = BTreeSet::new();
    for entry in include {
        let path = entry.get_ref();
        let plain = path.strip_suffix('/').unwrap_or(path);
        if !is_safe_path(plain) {
            c.err(
                "container.include",
                entry.span(),
                format!("`{path}` is not a usable path to include"),
                "use a relative path inside the spec's folder, made of letters, digits, `.`, `_`, `-` and `/`, without `..`; end a folder with `/`",
            );
        } else if !seen.insert(plain) {
            c.err(
                "container.include",
                entry.span(),
                format!("`{path}` is included twice"),
                "list each file or folder once",
            );
        }
    }
}

/// Included files sit next to the handler, which alone reads them.
pub(super) fn check_include_has_handler(c: &mut Checker, spec: &Spec) {
    let Some(first) = spec.container.include.first() else {
        return;
    };
    if *spec.model.framework.get_ref() != Framework::Custom {
        c.err(
            "container.include",
            first.span(),
            "`include` copies files for a custom handler, which this service does not have".into(),
            "remove `include`, or serve the model with `framework = \"custom\"` and a `handler` that reads them",
        );
    }
}

/// The image build copies each include from beside the spec: a folder (written with a
/// trailing `/`) or a file, as written.
pub(super) fn check_include_files(c: &mut Checker, include: &[Spanned<String>], spec_dir: &Path) {
    for entry in include {
        let path = entry.get_ref();
        let plain = path.trim_end_matches('/');
        let folder = plain != path;
        let Some(found) = not_beside(spec_dir, plain, folder) else {
            continue;
        };
        let help = if !spec_dir.join(plain).exists() {
            "put it there (the path is relative to the spec's folder), or remove it from `include`"
        } else if folder {
            "it is a file: write it without the trailing `/`"
        } else {
            "it is a folder: end it with `/` to include the folder"
        };
        c.err(
            "container.include",
            entry.span(),
            format!("{} {found}", spec_dir.join(path).display()),
            help,
        );
    }
}

/// The spec's requirements may only restate pins of the stacks the image installs: the image
/// installs nothing unlocked, so anything else would be silently different from the spec. A
/// custom handler's packages that no stack holds come from its own lock instead, which
/// [`check_spec_lock`] reads beside the spec.
pub(super) fn check_locked(c: &mut Checker, spec: &Spec) {
    let ct = &spec.container;
    let (requirements, stack) = image_stack(spec);
    let mut stacks = vec![stack.as_str()];
    if *spec.serving.convert_to_onnx.get_ref() {
        stacks.push(lock::CONVERSION);
    }
    let custom = crate::model::serve_framework(spec) == Framework::Custom;
    for (r, ours) in lock::unlocked(requirements.iter().copied(), ct.python.get_ref(), &stacks) {
        let help = match ours {
            Some(pin) => format!(
                "the image installs `{pin}`, locked with its dependencies; pin that or drop the line"
            ),
            None if custom => continue,
            None => format!(
                "the {stack} image installs only its locked packages (data/locks/runtime.toml), each with hashes; drop the line"
            ),
        };
        let message = format!("`{r}` is not in the image's locked {stack} stack");
        c.err("container.requirements", span_of(ct, r), message, help);
    }
}

/// The spec's requirements, and the locked stack of mlgen's that its image installs.
fn image_stack(spec: &Spec) -> (Vec<&str>, String) {
    let ct = &spec.container;
    let requirements: Vec<&str> = ct
        .requirements
        .iter()
        .map(|r| r.get_ref().as_str())
        .collect();
    let stack = lock::image_stack(
        ct.python.get_ref(),
        crate::model::serve_framework(spec).as_str(),
        spec.resources.gpu.is_some(),
        spec.model.takes_dataframe(),
        &requirements,
    );
    (requirements, stack)
}

fn span_of(ct: &ContainerSpec, requirement: &str) -> std::ops::Range<usize> {
    let found = ct.requirements.iter().find(|x| x.get_ref() == requirement);
    found.map_or(0..0, Spanned::span)
}

/// A custom handler whose requirements no locked stack holds installs the spec's own lock,
/// `mlgen.lock` beside it: read here, an error at the first such requirement when it is
/// missing, unreadable or resolved for another spec.
pub(super) fn check_spec_lock(
    c: &mut Checker,
    spec: &Spec,
    spec_path: &Path,
) -> Option<lock::SpecLock> {
    let (requirements, stack) = image_stack(spec);
    let python = spec.container.python.get_ref();
    let serve = crate::model::serve_framework(spec);
    if !lock::needs_spec_lock(python, serve.as_str(), &stack, &requirements) {
        return None;
    }
    let dir = spec_path.parent().unwrap_or(Path::new("."));
    let path = dir.join(lock::SPEC_LOCK);
    let why = match std::fs::read_to_string(&path) {
        Err(e) => format!("{} cannot be read: {e}", path.display()),
        Ok(text) => match toml::from_str::<lock::SpecLock>(&text) {
            Err(e) => format!(
                "{} is not a lock `mlgen lock` wrote: {}",
                path.display(),
                e.message()
            ),
            Ok(l) => match l.stale(python, &requirements) {
                None => return Some(l),
                Some(why) => format!("{} is stale: {why}", path.display()),
            },
        },
    };
    let first = lock::unlocked(requirements.iter().copied(), python, &[&stack]);
    let r = first.first().map_or("", |(r, _)| *r);
    c.err(
        "container.requirements",
        span_of(&spec.container, r),
        format!("`{r}` is in no locked stack of mlgen's, and {why}"),
        format!(
            "run `mlgen lock {}`: it resolves the handler's requirements with the serving packages (uv, needs PyPI) into {}, which the image installs with hashes",
            spec_path.display(),
            lock::SPEC_LOCK
        ),
    );
    None
}

/// A full image reference, pinned by tag or digest, outside the shut-down Container Registry.
pub(super) fn check_image_ref(c: &mut Checker, key: &str, v: &Spanned<String>) {
    let s = v.get_ref();
    let host = s.split('/').next().unwrap_or("");
    if host == "gcr.io" || host.ends_with(".gcr.io") {
        c.err(
            key,
            v.span(),
            format!("`{s}` is in Container Registry, which is shut down"),
            "use Artifact Registry: REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE:TAG",
        );
        return;
    }
    let ok = !s.is_empty()
        && s.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "./-_:@".contains(ch))
        && (s.contains('@') || s.rsplit('/').next().is_some_and(|last| last.contains(':')));
    if !ok {
        c.err(
            key,
            v.span(),
            format!("`{s}` is not a pinned image reference"),
            "write HOST/PATH:TAG or HOST/PATH@sha256:DIGEST",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{keys, spec};
    use super::*;

    #[test]
    fn python_requirements_and_port() {
        let ok = spec("port = 8080", "port = 8080").container;
        assert!(keys(|c| check(c, &ok)).is_empty());
        let bad = super::super::testing::edited(&[
            ("python = \"3.12\"", "python = \"2.7\""),
            ("\"scikit-learn==1.6.1\"", "\"scikit-learn\""),
            ("port = 8080", "port = 0"),
        ])
        .container;
        assert_eq!(
            keys(|c| check(c, &bad)),
            [
                "container.python",
                "container.requirements",
                "container.port"
            ]
        );
    }

    #[test]
    fn image_references_are_pinned_and_not_in_container_registry() {
        for (image, problems) in [
            ("europe-docker.pkg.dev/p/r/i:1", 0),
            ("europe-docker.pkg.dev/p/r/i@sha256:00", 0),
            ("europe-docker.pkg.dev/p/r/i", 1),
            ("gcr.io/p/i:1", 1),
        ] {
            let v = Spanned::new(0..1, image.to_string());
            assert_eq!(
                keys(|c| check_image_ref(c, "k", &v)).len(),
                problems,
                "{image}"
            );
        }
    }
}
