//! The Pulumi target: a Python program (`pulumi/__main__.py`) with its project file and
//! pinned requirements. Every value comes from the [`Deployment`]; the templates only spell it.

use askama::Template;

use super::add;
use crate::error::Error;
use crate::model::{Deployment, IamTarget};
use crate::tree::Tree;

/// The SDK versions the generated program is validated against (tests/requirements/pulumi.txt
/// pins the same ones, and a test checks they agree).
pub const PULUMI_VERSION: &str = "3.272.0";
pub const PULUMI_GCP_VERSION: &str = "10.2.0";

#[derive(Template)]
#[template(path = "pulumi/__main__.py")]
struct Main<'a> {
    d: &'a Deployment,
}

#[derive(Template)]
#[template(path = "pulumi/Pulumi.yaml")]
struct Project<'a> {
    d: &'a Deployment,
}

#[derive(Template)]
#[template(path = "pulumi/requirements.txt")]
struct Requirements {
    pulumi: &'static str,
    pulumi_gcp: &'static str,
}

mod filters {
    /// A Rust `bool` spelled as a Python literal.
    #[askama::filter_fn]
    pub fn py_bool(value: &bool, _env: &dyn askama::Values) -> askama::Result<&'static str> {
        Ok(if *value { "True" } else { "False" })
    }
}

pub fn render(d: &Deployment, tree: &mut Tree) -> Result<(), Error> {
    add(
        tree,
        d,
        "pulumi/Pulumi.yaml",
        "pulumi/Pulumi.yaml",
        &Project { d },
    )?;
    add(
        tree,
        d,
        "pulumi/__main__.py",
        "pulumi/__main__.py",
        &Main { d },
    )?;
    add(
        tree,
        d,
        "pulumi/requirements.txt",
        "pulumi/requirements.txt",
        &Requirements {
            pulumi: PULUMI_VERSION,
            pulumi_gcp: PULUMI_GCP_VERSION,
        },
    )?;
    Ok(())
}
