//! The pulumi target.

use askama::Template;

use super::add;
use crate::error::Error;
use crate::model::Deployment;
use crate::tree::Tree;

#[derive(Template)]
#[template(path = "pulumi/__main__.py")]
struct Main<'a> {
    d: &'a Deployment,
}

pub fn render(d: &Deployment, tree: &mut Tree) -> Result<(), Error> {
    add(
        tree,
        d,
        "pulumi/__main__.py",
        "pulumi/__main__.py",
        &Main { d },
    )?;
    Ok(())
}
