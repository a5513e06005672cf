//! The terraform target.

use askama::Template;

use super::add;
use crate::error::Error;
use crate::model::Deployment;
use crate::tree::Tree;

#[derive(Template)]
#[template(path = "terraform/main.tf")]
struct Main<'a> {
    d: &'a Deployment,
}

pub fn render(d: &Deployment, tree: &mut Tree) -> Result<(), Error> {
    add(
        tree,
        d,
        "terraform/main.tf",
        "terraform/main.tf",
        &Main { d },
    )?;
    Ok(())
}
