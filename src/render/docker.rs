//! The container: Dockerfile, its ignore file, and the serving app it packages.
//!
//! The app's code is static (`templates/app/*.py`); everything specific to the service goes
//! into `app/config.json`, so the Python never mixes with template syntax.

use askama::Template;

use super::{add, with_header};
use crate::error::Error;
use crate::model::Deployment;
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

#[derive(Template)]
#[template(path = "app/requirements.txt")]
struct Requirements<'a> {
    d: &'a Deployment,
}

#[derive(Template)]
#[template(path = "app/build-requirements.txt")]
struct BuildRequirements<'a> {
    d: &'a Deployment,
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
        &Requirements { d },
    )?;
    add_static(tree, d, "app/main.py", MAIN);
    add_static(tree, d, "app/server.py", SERVER);
    if d.model.convert_to_onnx {
        add(
            tree,
            d,
            "app/build-requirements.txt",
            "app/build-requirements.txt",
            &BuildRequirements { d },
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
