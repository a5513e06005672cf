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
