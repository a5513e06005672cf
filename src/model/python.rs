//! The `[container]` Python settings: the base image and the image's pinned packages.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Model;
use crate::platform::platform;
use crate::runtime::runtime;
use crate::spec::ContainerSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Python {
    pub version: String,
    pub base_image: String,
    /// Everything the image installs, pinned, sorted by package name.
    pub requirements: Vec<String>,
    /// Installed only in the build stage, to convert the model.
    pub build_requirements: Vec<String>,
}

pub(super) fn resolve(spec: &ContainerSpec, model: &Model, gpu: bool) -> Python {
    let version = spec.python.get_ref().clone();
    let base_image = spec.base_image.as_ref().map_or_else(
        || platform().python[&version].clone(),
        |b| b.get_ref().clone(),
    );
    let user: Vec<&str> = spec
        .requirements
        .iter()
        .map(|r| r.get_ref().as_str())
        .collect();
    Python {
        version,
        base_image,
        requirements: requirements(
            &user,
            &model.serve_framework,
            model.input == "dataframe",
            gpu,
        ),
        build_requirements: if model.convert_to_onnx {
            build_requirements(&user)
        } else {
            Vec::new()
        },
    }
}

/// Serving stack, the framework's runtime, the user's pins; the user's pin wins when it
/// names the same package.
fn requirements(user: &[&str], serve_framework: &str, dataframe: bool, gpu: bool) -> Vec<String> {
    let rt = runtime();
    let fw = &rt.frameworks[serve_framework];
    let fw_packages = match &fw.gpu_packages {
        Some(gpu_packages) if gpu => gpu_packages,
        _ => &fw.packages,
    };
    let user_names: BTreeSet<String> = user.iter().map(|r| package_name(r)).collect();
    // A user pin of another distribution of the same module replaces ours.
    let replaced = |name: &str| {
        fw.provided_by.iter().any(|p| p == name)
            && fw.provided_by.iter().any(|p| user_names.contains(p))
    };
    let ours = fw_packages.iter().filter(|r| !replaced(&package_name(r)));
    // pandas only where the app builds DataFrames: the float-matrix path never imports it.
    let frames = match dataframe {
        true => rt.frameworks["pandas"].packages.as_slice(),
        false => &[],
    };
    pinned(
        rt.serving
            .packages
            .iter()
            .chain(ours)
            .chain(frames)
            .map(String::as_str),
        user,
    )
}

/// What converting a sklearn model to ONNX needs, in the build stage only.
fn build_requirements(user: &[&str]) -> Vec<String> {
    let rt = runtime();
    let ours = rt.frameworks["sklearn"]
        .packages
        .iter()
        .chain(&rt.frameworks["onnx"].packages)
        .chain(&rt.onnx_conversion.packages)
        .chain(&rt.serving.packages);
    pinned(ours.map(String::as_str), user)
}

/// One requirement per package, sorted by name, the user's pin last so it wins.
fn pinned<'a>(ours: impl Iterator<Item = &'a str>, user: &[&'a str]) -> Vec<String> {
    let mut by_name: BTreeMap<String, &str> = BTreeMap::new();
    for r in ours.chain(user.iter().copied()) {
        by_name.insert(package_name(r), r);
    }
    by_name.into_values().map(str::to_string).collect()
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

    #[test]
    fn package_names_are_normalised() {
        assert_eq!(package_name("Scikit_Learn[extra]==1.0"), "scikit-learn");
        assert_eq!(package_name("zope.interface>=5"), "zope-interface");
    }

    #[test]
    fn the_users_pin_wins() {
        let got = pinned(["a==1", "b==1"].into_iter(), &["A==2"]);
        assert_eq!(got, ["A==2", "b==1"]);
    }

    #[test]
    fn a_user_pin_of_another_distribution_replaces_the_frameworks() {
        let reqs = requirements(&["xgboost==3.1.0"], "xgboost", false, false);
        assert!(reqs.contains(&"xgboost==3.1.0".to_string()), "{reqs:?}");
        assert!(
            !reqs.iter().any(|r| r.starts_with("xgboost-cpu")),
            "{reqs:?}"
        );
        let reqs = requirements(&[], "xgboost", false, true);
        assert!(reqs.iter().any(|r| r.starts_with("xgboost==")), "{reqs:?}");
    }
}
