//! The container: Dockerfile, its ignore file, and the serving app it packages.
//!
//! The app's code is static (`templates/app/**.py`); everything specific to the service goes
//! into `app/config.json`, so the Python never mixes with template syntax. Of the framework
//! modules, only the one the service serves with is rendered and copied into the image.

use std::collections::BTreeMap;

use askama::Template;

use super::{add, with_header};
use crate::error::Error;
use crate::model::{Deployment, lock};
use crate::tree::Tree;

#[derive(Template)]
#[template(path = "docker/Dockerfile", ext = "dockerfile")]
struct Dockerfile<'a> {
    d: &'a Deployment,
    /// The app's files, one COPY per folder of the image.
    copies: Vec<Copy>,
}

/// One COPY of app files: their paths under the output's `app/`, into `/app/{folder}`.
struct Copy {
    folder: &'static str,
    files: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "docker/Dockerfile.dockerignore")]
struct DockerIgnore<'a> {
    d: &'a Deployment,
}

#[derive(Template)]
#[template(path = "app/config.json")]
struct Config<'a> {
    d: &'a Deployment,
}

/// A requirements file: one locked stack, each pin with its hashes.
#[derive(Template)]
#[template(path = "app/requirements.txt")]
struct Requirements<'a> {
    stack: &'a str,
    resolved_by: &'static str,
    requirements: Vec<Locked<'a>>,
}

#[derive(Template)]
#[template(path = "app/build-requirements.txt")]
struct BuildRequirements<'a> {
    stack: &'static str,
    requirements: Vec<Locked<'a>>,
}

struct Locked<'a> {
    pin: &'a str,
    hashes: &'a [String],
}

/// Each pin with its hashes: from the spec's own lock where it has them, else mlgen's.
fn locked<'a>(pins: &'a [String], spec_lock: &'a BTreeMap<String, Vec<String>>) -> Vec<Locked<'a>> {
    pins.iter()
        .map(|pin| Locked {
            pin,
            hashes: spec_lock
                .get(pin)
                .map_or_else(|| lock::hashes(pin), Vec::as_slice),
        })
        .collect()
}

/// The serving app's code, by path under `app/`: each image copies the files its model's
/// `build.app_code` names.
const APP_CODE: &[(&str, &str)] = &[
    ("main.py", include_str!("../../templates/app/main.py")),
    ("server.py", include_str!("../../templates/app/server.py")),
    (
        "settings.py",
        include_str!("../../templates/app/settings.py"),
    ),
    ("logs.py", include_str!("../../templates/app/logs.py")),
    (
        "batching.py",
        include_str!("../../templates/app/batching.py"),
    ),
    ("inputs.py", include_str!("../../templates/app/inputs.py")),
    ("outputs.py", include_str!("../../templates/app/outputs.py")),
    ("openapi.py", include_str!("../../templates/app/openapi.py")),
    ("frames.py", include_str!("../../templates/app/frames.py")),
    (
        "frameworks/__init__.py",
        include_str!("../../templates/app/frameworks/__init__.py"),
    ),
    (
        "protocols/__init__.py",
        include_str!("../../templates/app/protocols/__init__.py"),
    ),
    (
        "protocols/vertex.py",
        include_str!("../../templates/app/protocols/vertex.py"),
    ),
    (
        "protocols/oip.py",
        include_str!("../../templates/app/protocols/oip.py"),
    ),
    (
        "frameworks/sklearn.py",
        include_str!("../../templates/app/frameworks/sklearn.py"),
    ),
    (
        "frameworks/xgboost.py",
        include_str!("../../templates/app/frameworks/xgboost.py"),
    ),
    (
        "frameworks/lightgbm.py",
        include_str!("../../templates/app/frameworks/lightgbm.py"),
    ),
    (
        "frameworks/onnx.py",
        include_str!("../../templates/app/frameworks/onnx.py"),
    ),
    (
        "frameworks/custom.py",
        include_str!("../../templates/app/frameworks/custom.py"),
    ),
];

const CONVERT: &str = include_str!("../../templates/app/convert.py");

/// The app's code files of this service's image, by path under `app/`.
fn app_files(d: &Deployment) -> Vec<(&'static str, &'static str)> {
    let body = |path: &String| {
        *APP_CODE
            .iter()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("app/{path} has no template"))
    };
    d.build.app_code.iter().map(body).collect()
}

/// The COPY instructions for `files` and `app/config.json`, one per destination folder.
fn copies(files: &[(&'static str, &'static str)]) -> Vec<Copy> {
    let mut copies = vec![Copy {
        folder: "",
        files: vec!["config.json"],
    }];
    for (path, _) in files {
        let folder = path.rfind('/').map_or("", |i| &path[..=i]);
        match copies.iter_mut().find(|c| c.folder == folder) {
            Some(copy) => copy.files.push(path),
            None => copies.push(Copy {
                folder,
                files: vec![path],
            }),
        }
    }
    copies
}

pub fn render(d: &Deployment, tree: &mut Tree) -> Result<(), Error> {
    let files = app_files(d);
    let copies = copies(&files);
    add(
        tree,
        d,
        "Dockerfile",
        "docker/Dockerfile",
        &Dockerfile { d, copies },
    )?;
    // BuildKit reads `<Dockerfile>.dockerignore` beside the Dockerfile; a plain
    // `.dockerignore` here would be ignored, the context being the spec's folder.
    add(
        tree,
        d,
        "Dockerfile.dockerignore",
        "docker/Dockerfile.dockerignore",
        &DockerIgnore { d },
    )?;
    add(tree, d, "app/config.json", "app/config.json", &Config { d })?;
    add(
        tree,
        d,
        "app/requirements.txt",
        "app/requirements.txt",
        &Requirements {
            stack: &d.python.stack,
            resolved_by: if d.python.stack == lock::SPEC_LOCK {
                "the spec's own mlgen.lock, written by `mlgen lock`"
            } else {
                "mlgen's data/locks/runtime.toml, resolved by scripts/lock-runtime"
            },
            requirements: locked(&d.python.requirements, &d.python.spec_lock_hashes),
        },
    )?;
    for (path, body) in files {
        add_static(tree, d, &format!("app/{path}"), body);
    }
    if d.model.convert_to_onnx {
        add(
            tree,
            d,
            "app/build-requirements.txt",
            "app/build-requirements.txt",
            &BuildRequirements {
                stack: lock::CONVERSION,
                requirements: locked(&d.python.build_requirements, &d.python.spec_lock_hashes),
            },
        )?;
        add_static(tree, d, "app/convert.py", CONVERT);
    }
    Ok(())
}

/// A file with no per-service content, copied with the generated-file header.
fn add_static(tree: &mut Tree, d: &Deployment, path: &str, body: &str) {
    tree.add(path, &with_header(path, body, &d.spec_name));
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{APP_CODE, lock};
    use crate::spec::SourceFile;

    /// Every file the Dockerfile copies from the context, relative to it.
    fn copied(dockerfile: &str) -> Vec<String> {
        let mut out: Vec<String> = dockerfile
            .lines()
            .filter_map(|l| l.strip_prefix("COPY "))
            .filter(|l| !l.starts_with("--from"))
            .flat_map(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                words[..words.len() - 1].to_vec()
            })
            .map(str::to_string)
            .collect();
        out.sort();
        out
    }

    /// pip installs each requirements file in hash-checking mode without resolving anything,
    /// and every pin in it carries hashes: nothing unpinned can enter the image.
    #[test]
    fn every_package_is_installed_by_hash_only() {
        let path = PathBuf::from("examples/iris-sklearn/mlgen.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("\n[serving]\nconvert_to_onnx = true\n");
        let file = SourceFile { text, path };
        let (_, tree) = crate::pipeline::compile(&file).unwrap_or_else(|e| panic!("{e}"));
        let dockerfile = tree.get("Dockerfile").unwrap();
        let installs: Vec<&str> = dockerfile
            .lines()
            .filter(|l| l.contains("-r /tmp/"))
            .collect();
        assert_eq!(installs.len(), 2, "{dockerfile}");
        for line in installs {
            assert!(line.contains("--require-hashes --no-deps"), "{line}");
        }
        for file in ["app/requirements.txt", "app/build-requirements.txt"] {
            let body = tree.get(file).unwrap();
            let pins: Vec<&str> = body.split("\n").filter(|l| l.contains("==")).collect();
            assert!(pins.len() > 5, "{body}");
            for pin in pins {
                assert!(pin.ends_with(" \\"), "{pin} has no hash");
            }
            assert!(body.contains("    --hash=sha256:"), "{body}");
        }
    }

    /// Every framework the app can serve with has its module, which `app_files` looks up.
    #[test]
    fn every_framework_has_its_app_module() {
        let frameworks = crate::runtime::runtime().frameworks.keys();
        for f in frameworks.filter(|f| *f != lock::FRAMES) {
            let module = format!("frameworks/{f}.py");
            assert!(APP_CODE.iter().any(|(p, _)| *p == module), "{module}");
        }
    }

    /// The build's inputs (what is uploaded and hashed) are exactly what the Dockerfile
    /// copies, plus its ignore file, for a baked-in, a converted and a mounted model.
    #[test]
    fn the_build_inputs_are_what_the_dockerfile_copies() {
        for example in [
            "iris-sklearn",
            "fraud-onnx-gcs",
            "churn-public",
            "forecast-gpu",
            "review-sentiment",
        ] {
            let path = PathBuf::from(format!("examples/{example}/mlgen.toml"));
            let file = SourceFile {
                text: std::fs::read_to_string(&path).unwrap(),
                path,
            };
            let (d, tree) = crate::pipeline::compile(&file).unwrap_or_else(|e| panic!("{e}"));
            let mut want = d.build.inputs.clone();
            want.retain(|f| !f.ends_with(".dockerignore") && *f != d.build.dockerfile);
            assert_eq!(copied(tree.get("Dockerfile").unwrap()), want, "{example}");
        }
    }
}
