//! The container: Dockerfile, its ignore file, and the serving app it packages.
//!
//! The app's code is static (`templates/app/**.py`); everything specific to the service goes
//! into `app/config.json`, so the Python never mixes with template syntax. Of the framework
//! modules, only the one the service serves with is rendered and copied into the image.

use askama::Template;

use super::{add, with_header};
use crate::error::Error;
use crate::model::Deployment;
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

/// The serving app's code in every image, by path under `app/`.
const APP: &[(&str, &str)] = &[
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
];

/// One module per framework the app serves with (the model's `serve_framework`).
const FRAMEWORKS: &[(&str, &str)] = &[
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
    let module = format!("frameworks/{}.py", d.model.serve_framework);
    let framework = FRAMEWORKS.iter().filter(|(path, _)| *path == module);
    APP.iter().chain(framework).copied().collect()
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
        &Requirements { d },
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
