//! `data/locks/runtime.toml`: every package each generated image installs, dependencies
//! included, with the hashes of its distributions, as scripts/lock-runtime resolved them.
//!
//! An image installs exactly one stack: the serving packages with one framework's CPU or GPU
//! set, and pandas where the model takes a DataFrame (or, in the conversion stage, the ONNX
//! converter's set), for one Python version. The
//! spec's own `requirements` cannot add to a stack, since nothing unresolved may enter the
//! image; they may only restate a pin the stack already has ([`unlocked`]). A custom
//! handler's packages that no stack holds are resolved with the serving packages by
//! `mlgen lock` into the spec's own lock, `mlgen.lock` beside it ([`SpecLock`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::python::package_name;
use crate::runtime::runtime;

/// The stack of the ONNX conversion stage.
pub const CONVERSION: &str = "onnx-conversion";

/// The `data/runtime.toml` entry under `frameworks` that is no framework: what a model
/// called with a DataFrame adds to its framework's stack.
pub const FRAMES: &str = "pandas";

/// The frameworks that serve a model taking a DataFrame: sklearn, and ONNX Runtime for a
/// converted sklearn model. scripts/lock-runtime locks a pandas stack for each.
pub const FRAME_FRAMEWORKS: [&str; 2] = ["sklearn", "onnx"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Locks {
    /// Python version -> stack -> `name==version` pins.
    stacks: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// `name==version` -> the hashes of its distributions.
    hashes: BTreeMap<String, Vec<String>>,
}

fn locks() -> &'static Locks {
    static L: OnceLock<Locks> = OnceLock::new();
    L.get_or_init(|| {
        toml::from_str(include_str!("../../data/locks/runtime.toml"))
            .expect("data/locks/runtime.toml is valid (checked by a unit test)")
    })
}

/// The serving stack of a framework: its GPU set on a GPU service when it has one, with
/// pandas when the model takes a DataFrame.
pub fn serving_stack(serve_framework: &str, gpu: bool, dataframe: bool) -> String {
    let fw = &runtime().frameworks[serve_framework];
    let device = if gpu && fw.gpu_packages.is_some() {
        "gpu"
    } else {
        "cpu"
    };
    let frames = if dataframe {
        format!("-{FRAMES}")
    } else {
        String::new()
    };
    format!("{serve_framework}{frames}-{device}")
}

/// The framework whose packages are the spec's own: a custom handler.
pub const CUSTOM: &str = "custom";

/// The stack an image installs on Python `python`. A custom handler brings its packages as
/// `requirements` pins and gets the smallest locked stack that holds every one of them (the
/// serving packages alone when it has none), so what it installs is still resolved and
/// hashed as a whole; a pin no stack holds is reported by validation ([`unlocked`]).
pub fn image_stack(
    python: &str,
    serve_framework: &str,
    gpu: bool,
    dataframe: bool,
    requirements: &[&str],
) -> String {
    let stack = serving_stack(serve_framework, gpu, dataframe);
    let Some(locked) = locks().stacks.get(python) else {
        return stack; // an unknown Python version is reported on its own
    };
    if serve_framework != CUSTOM {
        return stack;
    }
    let holds_all = |pins: &Vec<String>| {
        requirements
            .iter()
            .all(|r| pins.iter().any(|p| same_pin(p, r)))
    };
    locked
        .iter()
        .filter(|(name, pins)| name.as_str() != CONVERSION && holds_all(pins))
        .min_by_key(|(name, pins)| (pins.len(), name.as_str()))
        .map_or(stack, |(name, _)| name.clone())
}

/// The pins of `stack` on Python `python`, sorted by name.
pub fn pins(python: &str, stack: &str) -> &'static [String] {
    &locks().stacks[python][stack]
}

/// The hashes of a pin's distributions, for `pip install --require-hashes`.
pub fn hashes(pin: &str) -> &'static [String] {
    &locks().hashes[pin]
}

/// Each of the spec's `requirements` that none of `stacks` pins exactly, with the first pin
/// of that package they have instead, if any.
pub fn unlocked<'a>(
    requirements: impl IntoIterator<Item = &'a str>,
    python: &str,
    stacks: &[&str],
) -> Vec<(&'a str, Option<&'static str>)> {
    let Some(locked) = locks().stacks.get(python) else {
        return Vec::new(); // an unknown Python version is reported on its own
    };
    // A stack the spec cannot have (a DataFrame for a framework that takes none) is
    // reported on its own.
    let pins: Vec<&'static String> = stacks
        .iter()
        .filter_map(|s| locked.get(*s))
        .flatten()
        .collect();
    requirements
        .into_iter()
        .filter(|r| !pins.iter().any(|p| same_pin(p, r)))
        .map(|r| {
            let name = package_name(r);
            let ours = pins.iter().find(|p| package_name(p) == name);
            (r, ours.map(|p| p.as_str()))
        })
        .collect()
}

/// `name==version` pins of the same package and version, names compared normalised.
fn same_pin(locked: &str, requirement: &str) -> bool {
    let version = |r: &str| r.split_once("==").map(|(_, v)| v.trim().to_string());
    package_name(locked) == package_name(requirement) && version(locked) == version(requirement)
}

/// The spec's own lock, beside it: what `mlgen lock` resolved for a custom handler whose
/// requirements no locked stack holds.
pub const SPEC_LOCK: &str = "mlgen.lock";

/// `mlgen.lock`: every package the image installs, dependencies included, each with the
/// hashes of its distributions, resolved from the serving packages and the spec's
/// `requirements` for the spec's Python (on the image's platform, wheels only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecLock {
    pub python: String,
    /// The spec's requirements it resolved, as written there.
    pub requirements: Vec<String>,
    /// `name==version`, sorted by name.
    pub pins: Vec<String>,
    pub hashes: BTreeMap<String, Vec<String>>,
}

impl SpecLock {
    /// Why the lock is not the resolve of this spec (`python`, `requirements`) with this
    /// mlgen's serving packages; None when it is.
    pub fn stale(&self, python: &str, requirements: &[&str]) -> Option<String> {
        if self.python != python {
            return Some(format!(
                "it was resolved for Python {}, the spec asks for {python}",
                self.python
            ));
        }
        let mut theirs: Vec<&str> = self.requirements.iter().map(String::as_str).collect();
        let mut ours = requirements.to_vec();
        theirs.sort_unstable();
        ours.sort_unstable();
        if theirs != ours {
            return Some(format!(
                "it was resolved for the requirements {theirs:?}, the spec has {ours:?}"
            ));
        }
        let serving = runtime().serving.packages.iter();
        let missing = |p: &&String| !self.pins.iter().any(|l| same_pin(l, p));
        if let Some(pin) = serving.chain(&self.requirements).find(missing) {
            return Some(format!("it does not pin `{pin}`"));
        }
        let unhashed = self
            .pins
            .iter()
            .find(|p| self.hashes.get(*p).is_none_or(Vec::is_empty));
        unhashed.map(|pin| format!("`{pin}` has no hashes"))
    }

    /// The lock of `uv pip compile --generate-hashes` output (`name==version \` lines, each
    /// followed by its `--hash=sha256:...` lines), for `python` and the spec's `requirements`.
    pub fn from_uv(python: &str, requirements: &[&str], uv: &str) -> Result<SpecLock, String> {
        let mut hashes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut last: Option<String> = None;
        for line in uv.lines().map(str::trim) {
            if let Some(hash) = line.strip_prefix("--hash=") {
                let pin = last
                    .as_ref()
                    .ok_or(format!("a hash before any pin: {line}"))?;
                hashes
                    .entry(pin.clone())
                    .or_default()
                    .push(hash.trim_end_matches(" \\").to_string());
            } else if !line.is_empty() && !line.starts_with('#') {
                let pin = line.trim_end_matches('\\').trim();
                let (name, version) = pin
                    .split_once("==")
                    .filter(|(_, v)| !v.contains([';', ' ']))
                    .ok_or(format!("not a plain `name==version` pin: {line}"))?;
                let pin = format!("{}=={version}", package_name(name));
                hashes.insert(pin.clone(), Vec::new());
                last = Some(pin);
            }
        }
        let lock = SpecLock {
            python: python.to_string(),
            requirements: requirements.iter().map(|r| r.to_string()).collect(),
            pins: hashes.keys().cloned().collect(),
            hashes,
        };
        match lock.stale(python, requirements) {
            Some(why) => Err(format!("the resolve is incomplete: {why}")),
            None => Ok(lock),
        }
    }

    /// The file `mlgen lock` writes.
    pub fn to_toml(&self) -> String {
        let header = format!(
            "# Written by `mlgen lock`: every package the image installs, dependencies included, with\n\
             # the hashes of their distributions, resolved from mlgen's serving packages and the spec's\n\
             # requirements (uv, {PLATFORM}, wheels only). Re-run `mlgen lock` after changing the\n\
             # spec's `python` or `requirements`; do not edit.\n"
        );
        header + &toml::to_string(self).expect("a lock serialises")
    }
}

/// The platform of the image, as uv names it: what every lock is resolved for.
pub const PLATFORM: &str = "x86_64-manylinux_2_28";

/// Whether a spec needs its own lock: a custom handler with requirements that no locked
/// stack holds all of (on the stack [`image_stack`] chose, some are missing).
pub fn needs_spec_lock(
    python: &str,
    serve_framework: &str,
    stack: &str,
    requirements: &[&str],
) -> bool {
    serve_framework == CUSTOM
        && unlocked(requirements.iter().copied(), python, &[stack])
            .iter()
            .any(|(_, ours)| ours.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every serving stack mlgen can choose: each framework on CPU and GPU, with pandas for
    /// those that take DataFrames.
    fn serving_stacks() -> Vec<String> {
        let frameworks = runtime().frameworks.keys().filter(|f| *f != FRAMES);
        let plain = frameworks.flat_map(|f| [(f.as_str(), false), (f.as_str(), true)]);
        let frames = FRAME_FRAMEWORKS
            .iter()
            .flat_map(|f| [(*f, false), (*f, true)]);
        let plain = plain.map(|(f, gpu)| serving_stack(f, gpu, false));
        plain
            .chain(frames.map(|(f, gpu)| serving_stack(f, gpu, true)))
            .collect()
    }

    /// Every stack mlgen can choose exists for every offered Python, and every pin in it
    /// has hashes.
    #[test]
    fn every_stack_is_locked_with_hashes() {
        for python in crate::platform::platform().python.iter() {
            let mut stacks = serving_stacks();
            stacks.push(CONVERSION.to_string());
            for stack in stacks {
                let pins = pins(python, &stack);
                assert!(!pins.is_empty(), "{python} {stack}");
                assert!(pins.iter().all(|p| !hashes(p).is_empty()), "{stack}");
            }
        }
    }

    /// The lock is the resolve of data/runtime.toml as it is: every top-level pin there is
    /// in its stacks, so an edit of runtime.toml without re-running scripts/lock-runtime fails.
    #[test]
    fn the_lock_resolves_the_runtime_pins() {
        let rt = runtime();
        let conversion = rt.frameworks["sklearn"].packages.iter();
        let conversion = conversion
            .chain(&rt.frameworks["onnx"].packages)
            .chain(&rt.onnx_conversion.packages);
        for python in crate::platform::platform().python.iter() {
            let mut wanted = vec![(
                CONVERSION.to_string(),
                conversion.clone().collect::<Vec<_>>(),
            )];
            for (name, fw) in rt.frameworks.iter().filter(|(f, _)| *f != FRAMES) {
                wanted.push((
                    serving_stack(name, false, false),
                    fw.packages.iter().collect(),
                ));
                if let Some(gpu) = &fw.gpu_packages {
                    wanted.push((serving_stack(name, true, false), gpu.iter().collect()));
                }
            }
            for name in FRAME_FRAMEWORKS {
                let fw = rt.frameworks[name].packages.iter();
                let frames = fw.chain(&rt.frameworks[FRAMES].packages).collect();
                wanted.push((serving_stack(name, false, true), frames));
            }
            for (stack, top) in wanted {
                let locked = pins(python, &stack);
                for pin in top.into_iter().chain(&rt.serving.packages) {
                    assert!(
                        locked.contains(pin),
                        "{pin} is not in {python} {stack}: re-lock"
                    );
                }
            }
        }
    }

    /// A custom handler installs the smallest stack holding all its pins, the serving
    /// stack alone without any; other frameworks their own stack whatever they restate.
    #[test]
    fn a_custom_handler_gets_the_smallest_stack_with_its_pins() {
        let stack = |framework, requirements: &[&str]| {
            image_stack("3.12", framework, false, false, requirements)
        };
        assert_eq!(stack(CUSTOM, &[]), "custom-cpu");
        assert_eq!(stack(CUSTOM, &["numpy==2.2.6"]), "custom-cpu");
        assert_eq!(stack(CUSTOM, &["Scikit_Learn==1.6.1"]), "sklearn-cpu");
        let frames = ["scikit-learn==1.6.1", "pandas==2.2.3"];
        assert_eq!(stack(CUSTOM, &frames), "sklearn-pandas-cpu");
        assert_eq!(stack(CUSTOM, &["torch==2.5.0"]), "custom-cpu");
        assert_eq!(stack("xgboost", &["scikit-learn==1.6.1"]), "xgboost-cpu");
    }

    const UV: &str = "Huggingface_Hub==2.4.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\nTokenizers==0.23.3 \\\n    --hash=sha256:cc\n";

    /// uv's output, the serving pins added: every pin with its hashes, names normalised.
    fn resolved() -> String {
        let serving = runtime().serving.packages.iter();
        let more: String = serving
            .map(|p| format!("{p} \\\n    --hash=sha256:{p}\n"))
            .collect();
        format!("{UV}{more}")
    }

    #[test]
    fn a_spec_lock_is_read_from_uv_and_written_back() {
        let lock = SpecLock::from_uv("3.12", &["tokenizers==0.23.3"], &resolved()).unwrap();
        assert_eq!(
            lock.hashes["huggingface-hub==2.4.0"],
            ["sha256:aa", "sha256:bb"]
        );
        assert_eq!(lock.hashes["tokenizers==0.23.3"], ["sha256:cc"]);
        assert!(lock.pins.windows(2).all(|w| w[0] < w[1]), "{:?}", lock.pins);
        let text = lock.to_toml();
        assert!(text.starts_with("# Written by `mlgen lock`"), "{text}");
        assert_eq!(toml::from_str::<SpecLock>(&text).unwrap(), lock);
        assert_eq!(lock.stale("3.12", &["tokenizers==0.23.3"]), None);
    }

    #[test]
    fn uv_output_that_is_no_complete_lock_is_refused() {
        let marker = "pywin32==311 ; sys_platform == 'win32' \\\n    --hash=sha256:dd\n";
        let err = SpecLock::from_uv("3.12", &[], &format!("{marker}{}", resolved())).unwrap_err();
        assert!(err.contains("not a plain `name==version` pin"), "{err}");
        let err = SpecLock::from_uv("3.12", &["tokenizers==0.23.3"], UV).unwrap_err();
        assert!(err.contains("does not pin `click==8.5.1`"), "{err}");
        let unhashed = resolved().replace("    --hash=sha256:cc\n", "");
        let err = SpecLock::from_uv("3.12", &["tokenizers==0.23.3"], &unhashed).unwrap_err();
        assert!(err.contains("`tokenizers==0.23.3` has no hashes"), "{err}");
    }

    /// Only a custom handler's requirements that no stack holds need the spec's own lock.
    #[test]
    fn a_spec_lock_is_needed_for_packages_outside_every_stack() {
        let needs = |framework, requirements: &[&str]| {
            let stack = image_stack("3.12", framework, false, false, requirements);
            needs_spec_lock("3.12", framework, &stack, requirements)
        };
        assert!(needs(CUSTOM, &["tokenizers==0.23.3"]));
        assert!(needs(
            CUSTOM,
            &["scikit-learn==1.6.1", "tokenizers==0.23.3"]
        ));
        assert!(needs(CUSTOM, &["scikit-learn==1.5.0"]));
        assert!(!needs(CUSTOM, &["scikit-learn==1.6.1"]));
        assert!(!needs(CUSTOM, &[]));
        assert!(!needs("sklearn", &["tokenizers==0.23.3"]));
    }

    #[test]
    fn only_the_stacks_own_pins_are_locked() {
        let stack = serving_stack("xgboost", false, false);
        assert_eq!(stack, "xgboost-cpu");
        let got = unlocked(
            [
                "Scikit_Learn==1.6.1",
                "numpy==2.2.6",
                "xgboost==2.1.4",
                "numpy==1.0",
            ],
            "3.12",
            &[&stack],
        );
        assert_eq!(
            got,
            [
                ("Scikit_Learn==1.6.1", None),
                ("xgboost==2.1.4", None),
                ("numpy==1.0", Some("numpy==2.2.6")),
            ]
        );
        let converted = unlocked(["scikit-learn==1.6.1"], "3.12", &["onnx-cpu", CONVERSION]);
        assert!(converted.is_empty(), "{converted:?}");
        assert_eq!(serving_stack("xgboost", true, false), "xgboost-gpu");
        assert_eq!(serving_stack("sklearn", true, false), "sklearn-cpu");
        assert_eq!(serving_stack("sklearn", false, true), "sklearn-pandas-cpu");
    }
}
