//! The gcloud target.

use askama::Template;

use super::add;
use crate::error::Error;
use crate::model::Deployment;
use crate::tree::Tree;

#[derive(Template)]
#[template(path = "gcloud/deploy.sh")]
struct Main<'a> {
    d: &'a Deployment,
}

pub fn render(d: &Deployment, tree: &mut Tree) -> Result<(), Error> {
    add(tree, d, "gcloud/deploy.sh", "gcloud/deploy.sh", &Main { d })?;
    Ok(())
}
