//! Pinned packages of the generated image, loaded from `data/runtime.toml`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    pub serving: Packages,
    pub frameworks: BTreeMap<String, Packages>,
    pub onnx_conversion: Packages,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packages {
    pub packages: Vec<String>,
    /// Replaces `packages` on a GPU service; none means the framework stays on the CPU.
    #[serde(default)]
    pub gpu_packages: Option<Vec<String>>,
    /// The device name the app hands the library on a GPU service (e.g. `cuda`).
    #[serde(default)]
    pub gpu_device: Option<String>,
}

pub fn runtime() -> &'static Runtime {
    static R: OnceLock<Runtime> = OnceLock::new();
    R.get_or_init(|| {
        toml::from_str(include_str!("../data/runtime.toml"))
            .expect("data/runtime.toml is valid (checked by a unit test)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_data_parses_and_covers_every_framework() {
        let r = runtime();
        for f in ["sklearn", "xgboost", "lightgbm", "onnx"] {
            assert!(r.frameworks.contains_key(f), "{f} has no runtime packages");
        }
        for p in r
            .serving
            .packages
            .iter()
            .chain(r.frameworks.values().flat_map(|p| &p.packages))
            .chain(
                r.frameworks
                    .values()
                    .flat_map(|p| p.gpu_packages.iter().flatten()),
            )
            .chain(&r.onnx_conversion.packages)
        {
            assert!(p.contains("=="), "{p} is not pinned");
        }
        for (name, p) in &r.frameworks {
            assert_eq!(
                p.gpu_packages.is_some(),
                p.gpu_device.is_some(),
                "{name}: gpu_packages and gpu_device come together"
            );
        }
    }
}
