//! The `[container]` Python settings: the base image and the image's pinned packages.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::{Model, lock};
use crate::spec::ContainerSpec;

/// `data/base-images.toml`: each offered Python version's base image, pinned by digest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaseImages {
    python: BTreeMap<String, String>,
}

fn base_images() -> &'static BaseImages {
    static B: OnceLock<BaseImages> = OnceLock::new();
    B.get_or_init(|| {
        toml::from_str(include_str!("../../data/base-images.toml"))
            .expect("data/base-images.toml is valid (checked by a unit test)")
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Python {
    pub version: String,
    pub base_image: String,
    /// The locked stack the image installs (data/locks/runtime.toml), e.g. `sklearn-cpu`.
    pub stack: String,
    /// Everything the image installs, dependencies included, pinned (`name==version`) from
    /// the lock, sorted by name; the spec's `requirements` only restate some of these.
    pub requirements: Vec<String>,
    /// Installed only in the build stage, to convert the model.
    pub build_requirements: Vec<String>,
    /// The hashes of `requirements` where the spec's own lock pins them (`mlgen.lock`);
    /// empty where they come from mlgen's lock, which holds theirs.
    #[serde(skip)]
    pub spec_lock_hashes: BTreeMap<String, Vec<String>>,
}

pub(super) fn resolve(
    spec: &ContainerSpec,
    model: &Model,
    gpu: bool,
    spec_lock: Option<&lock::SpecLock>,
) -> Python {
    let version = spec.python.get_ref().clone();
    let base_image = spec.base_image.as_ref().map_or_else(
        || base_images().python[&version].clone(),
        |b| b.get_ref().clone(),
    );
    let user: Vec<&str> = spec
        .requirements
        .iter()
        .map(|r| r.get_ref().as_str())
        .collect();
    let dataframe = model.input == "dataframe";
    let stack = lock::image_stack(&version, &model.serve_framework, gpu, dataframe, &user);
    let (stack, requirements, spec_lock_hashes) = match spec_lock {
        Some(l) => (
            lock::SPEC_LOCK.to_string(),
            l.pins.clone(),
            l.hashes.clone(),
        ),
        None => (
            stack.clone(),
            lock::pins(&version, &stack).to_vec(),
            BTreeMap::new(),
        ),
    };
    Python {
        requirements,
        spec_lock_hashes,
        stack,
        build_requirements: if model.convert_to_onnx {
            lock::pins(&version, lock::CONVERSION).to_vec()
        } else {
            Vec::new()
        },
        version,
        base_image,
    }
}

/// Normalised package name (PEP 503), without extras or version.
pub fn package_name(req: &str) -> String {
    let name = req
        .split(['=', '[', '<', '>', '!', '~'])
        .next()
        .unwrap_or(req);
    name.trim().to_ascii_lowercase().replace(['_', '.'], "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every offered version has a base image, pinned by digest to the same Python release
    /// its tag names.
    #[test]
    fn every_offered_python_has_a_base_image_by_digest() {
        let offered = &crate::platform::platform().python;
        let pinned = &base_images().python;
        assert_eq!(
            offered.iter().collect::<Vec<_>>(),
            pinned.keys().collect::<Vec<_>>()
        );
        for (version, image) in pinned {
            let (tag, digest) = image.split_once("@sha256:").expect("pinned by digest");
            assert!(
                digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()),
                "{image}"
            );
            let release = tag
                .strip_prefix("python:")
                .and_then(|t| t.split('-').next());
            assert!(
                release.is_some_and(|r| r.starts_with(&format!("{version}."))),
                "{image} is not Python {version}"
            );
        }
    }

    fn python_of(text: &str) -> Python {
        use super::super::fixture::{checked, spec_text};
        let s = spec_text(text);
        super::super::resolve(&s, &checked(&s), "mlgen.toml", "deploy").python
    }

    /// A model called with a DataFrame gets the stack with pandas, converted or not; a
    /// matrix model never installs it.
    #[test]
    fn a_dataframe_model_installs_pandas() {
        use super::super::fixture::BASE;
        let pandas = |p: &Python| p.requirements.iter().any(|r| r.starts_with("pandas=="));
        let matrix = python_of(BASE);
        assert_eq!(matrix.stack, "sklearn-cpu");
        assert!(!pandas(&matrix), "{:?}", matrix.requirements);
        let frames = BASE.replace("features = [", "input = \"dataframe\"\nfeatures = [");
        let framed = python_of(&frames);
        assert_eq!(framed.stack, "sklearn-pandas-cpu");
        assert!(pandas(&framed), "{:?}", framed.requirements);
        let converted = python_of(&format!("{frames}\n[serving]\nconvert_to_onnx = true\n"));
        assert_eq!(converted.stack, "onnx-pandas-cpu");
        assert!(pandas(&converted), "{:?}", converted.requirements);
    }

    #[test]
    fn package_names_are_normalised() {
        assert_eq!(package_name("Scikit_Learn[extra]==1.0"), "scikit-learn");
        assert_eq!(package_name("zope.interface>=5"), "zope-interface");
    }
}
