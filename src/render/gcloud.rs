//! The gcloud target: bash scripts that deploy and tear down the service with the gcloud
//! CLI, plus the files they hand to gcloud (env vars, Cloud Build config, upload ignore list).
//!
//! Everything lands in `gcloud/` inside the output folder. The scripts find that folder
//! from their own path, so they run from anywhere.

use askama::Template;

use super::add;
use crate::error::Error;
use crate::model::{Deployment, IamTarget};
use crate::tree::Tree;

/// The folder, inside the output folder, that holds this target's files.
const DIR: &str = "gcloud";

/// Where the image build finds its inputs. The build runs from the build context (the
/// spec's folder), so the config and the ignore file are given relative to it.
struct BuildPaths {
    /// The build context, relative to the scripts' folder (e.g. `../..`).
    context_from_scripts: String,
    /// The Cloud Build config, relative to the build context.
    config: String,
    /// The upload ignore list, relative to the build context.
    ignore_file: String,
}

impl BuildPaths {
    fn new(d: &Deployment) -> Self {
        let in_context = |file: &str| format!("{}/{DIR}/{file}", d.build.out_dir);
        Self {
            context_from_scripts: format!("../{}", d.build.context_from_out),
            config: in_context(CLOUDBUILD),
            ignore_file: in_context(IGNORE),
        }
    }
}

const CLOUDBUILD: &str = "cloudbuild.json";
const IGNORE: &str = ".gcloudignore";
const ENV_FILE: &str = "env.yaml";

#[derive(Template)]
#[template(path = "gcloud/deploy.sh")]
struct Deploy<'a> {
    d: &'a Deployment,
    build: BuildPaths,
    env_file: &'static str,
}

#[derive(Template)]
#[template(path = "gcloud/teardown.sh")]
struct Teardown<'a> {
    d: &'a Deployment,
}

#[derive(Template)]
#[template(path = "gcloud/env.yaml")]
struct EnvFile<'a> {
    d: &'a Deployment,
}

#[derive(Template)]
#[template(path = "gcloud/cloudbuild.json")]
struct CloudBuild<'a> {
    d: &'a Deployment,
}

#[derive(Template)]
#[template(path = "gcloud/gcloudignore", ext = "gcloudignore")]
struct Ignore<'a> {
    d: &'a Deployment,
}

pub fn render(d: &Deployment, tree: &mut Tree) -> Result<(), Error> {
    let path = |file: &str| format!("{DIR}/{file}");
    let deploy = Deploy {
        d,
        build: BuildPaths::new(d),
        env_file: ENV_FILE,
    };
    add(tree, d, &path("deploy.sh"), "gcloud/deploy.sh", &deploy)?;
    add(
        tree,
        d,
        &path("teardown.sh"),
        "gcloud/teardown.sh",
        &Teardown { d },
    )?;
    if !d.env.is_empty() {
        add(tree, d, &path(ENV_FILE), "gcloud/env.yaml", &EnvFile { d })?;
    }
    if d.image.built_here {
        add(
            tree,
            d,
            &path(CLOUDBUILD),
            "gcloud/cloudbuild.json",
            &CloudBuild { d },
        )?;
        add(tree, d, &path(IGNORE), "gcloud/gcloudignore", &Ignore { d })?;
    }
    Ok(())
}
