//! `[container]`: Python version, extra requirements, port and base image.

use toml::Spanned;

use super::Checker;
use super::ids::is_pinned_requirement;
use crate::model::lock;
use crate::platform::platform;
use crate::spec::{ContainerSpec, Spec};

pub(super) fn check(c: &mut Checker, ct: &ContainerSpec) {
    let offered = &platform().python;
    let py = &ct.python;
    if !offered.contains_key(py.get_ref()) {
        c.err(
            "container.python",
            py.span(),
            format!("Python `{}` is not offered", py.get_ref()),
            format!(
                "use one of: {}",
                offered.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
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
}

/// The spec's requirements may only restate pins of the stacks the image installs: the image
/// installs nothing unlocked, so anything else would be silently different from the spec.
pub(super) fn check_locked(c: &mut Checker, spec: &Spec) {
    let ct = &spec.container;
    let serve = crate::model::serve_framework(spec);
    let stack = lock::serving_stack(
        serve.as_str(),
        spec.resources.gpu.is_some(),
        spec.model.takes_dataframe(),
    );
    let mut stacks = vec![stack.as_str()];
    if *spec.serving.convert_to_onnx.get_ref() {
        stacks.push(lock::CONVERSION);
    }
    let requirements = ct.requirements.iter().map(|r| r.get_ref().as_str());
    for (r, ours) in lock::unlocked(requirements, ct.python.get_ref(), &stacks) {
        let span = ct
            .requirements
            .iter()
            .find(|x| x.get_ref() == r)
            .map(Spanned::span);
        let help = match ours {
            Some(pin) => format!(
                "the image installs `{pin}`, locked with its dependencies; pin that or drop the line"
            ),
            None => format!(
                "the {stack} image installs only its locked packages (data/locks/runtime.toml), each with hashes; drop the line"
            ),
        };
        let message = format!("`{r}` is not in the image's locked {stack} stack");
        c.err(
            "container.requirements",
            span.unwrap_or(0..0),
            message,
            help,
        );
    }
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
