//! The container: Dockerfile, its ignore file, and the serving app it packages.
//!
//! The app's code is static (`templates/app/*.py`); everything specific to the service goes
//! into `app/config.json`, so the Python never mixes with template syntax.

use askama::Template;

use super::{add, with_header};
use crate::error::Error;
use crate::model::{Deployment, lock};
use crate::tree::Tree;

#[derive(Template)]
#[template(path = "docker/Dockerfile", ext = "dockerfile")]
struct Dockerfile<'a> {
    d: &'a Deployment,
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
    stack: String,
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
    hashes: &'static [String],
}

fn locked(pins: &[String]) -> Vec<Locked<'_>> {
    pins.iter()
        .map(|pin| Locked {
            pin,
            hashes: lock::hashes(pin),
        })
        .collect()
}

const MAIN: &str = include_str!("../../templates/app/main.py");
const SERVER: &str = include_str!("../../templates/app/server.py");
const CONVERT: &str = include_str!("../../templates/app/convert.py");

pub fn render(d: &Deployment, tree: &mut Tree) -> Result<(), Error> {
    add(
        tree,
        d,
        "Dockerfile",
        "docker/Dockerfile",
        &Dockerfile { d },
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
            stack: lock::serving_stack(&d.model.serve_framework, d.container.gpu.is_some()),
            requirements: locked(&d.python.requirements),
        },
    )?;
    add_static(tree, d, "app/main.py", MAIN);
    add_static(tree, d, "app/server.py", SERVER);
    if d.model.convert_to_onnx {
        add(
            tree,
            d,
            "app/build-requirements.txt",
            "app/build-requirements.txt",
            &BuildRequirements {
                stack: lock::CONVERSION,
                requirements: locked(&d.python.build_requirements),
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

    /// The build's inputs (what is uploaded and hashed) are exactly what the Dockerfile
    /// copies, plus its ignore file, for a baked-in, a converted and a mounted model.
    #[test]
    fn the_build_inputs_are_what_the_dockerfile_copies() {
        for example in [
            "iris-sklearn",
            "fraud-onnx-gcs",
            "churn-public",
            "forecast-gpu",
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
