//! The Pulumi target: a Python program (`pulumi/__main__.py`) with its project file and
//! pinned requirements. Every value comes from the [`Deployment`]; the templates only spell it.

use askama::Template;

use super::{Arg, BuildStep, Value, add, arg};
use crate::error::Error;
use crate::model::{Deployment, IamGrant, IamTarget};
use crate::tree::Tree;

/// The SDK versions the generated program is validated against (tests/requirements/pulumi.txt
/// pins the same ones, and a test checks they agree).
pub const PULUMI_VERSION: &str = "3.272.0";
pub const PULUMI_GCP_VERSION: &str = "10.2.0";
pub const PULUMI_COMMAND_VERSION: &str = "1.2.1";

#[derive(Template)]
#[template(path = "pulumi/__main__.py")]
struct Main<'a> {
    d: &'a Deployment,
    build: BuildStep<'a>,
    grants: Vec<Grant<'a>>,
}

/// One IAM grant as a Pulumi resource.
struct Grant<'a> {
    key: &'a str,
    before_service: bool,
    class: &'static str,
    /// What the grant is on, then its role and member.
    args: Vec<Arg<'a>>,
}

/// The one place Pulumi spells each kind of grant: its resource class and the arguments
/// that name what it is on. The runtime account and the service are referred to, not
/// named, so Pulumi creates them first.
fn grant(g: &IamGrant) -> Grant<'_> {
    let of = |name: &str| Value::Ref(name.to_string());
    let (class, mut args) = match g.target {
        IamTarget::Secret => (
            "gcp.secretmanager.SecretIamMember",
            vec![
                arg("project", of("PROJECT")),
                arg("secret_id", Value::Text(&g.resource)),
            ],
        ),
        IamTarget::Bucket => (
            "gcp.storage.BucketIAMMember",
            vec![arg("bucket", Value::Text(&g.resource))],
        ),
        IamTarget::ServiceAccount => (
            "gcp.serviceaccount.IAMMember",
            vec![arg("service_account_id", of("runtime_account.name"))],
        ),
        IamTarget::Service => (
            "gcp.cloudrunv2.ServiceIamMember",
            vec![
                arg("project", of("service.project")),
                arg("location", of("service.location")),
                arg("name", of("service.name")),
            ],
        ),
    };
    let member = if g.member_is_runtime {
        of("runtime_account.member")
    } else {
        Value::Text(&g.member)
    };
    args.extend([arg("role", Value::Text(&g.role)), arg("member", member)]);
    Grant {
        key: &g.key,
        before_service: g.before_service,
        class,
        args,
    }
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
    pulumi_command: &'static str,
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
        &Main {
            d,
            build: BuildStep::new(d),
            grants: d.iam.iter().map(grant).collect(),
        },
    )?;
    add(
        tree,
        d,
        "pulumi/requirements.txt",
        "pulumi/requirements.txt",
        &Requirements {
            pulumi: PULUMI_VERSION,
            pulumi_command: PULUMI_COMMAND_VERSION,
            pulumi_gcp: PULUMI_GCP_VERSION,
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::render::tests::sample_grant;

    fn spelled(a: &Arg) -> String {
        match &a.value {
            Value::Text(t) => format!("{}=\"{t}\"", a.name),
            Value::Ref(r) => format!("{}={r}", a.name),
        }
    }

    #[test]
    fn each_kind_of_grant_is_its_own_resource_class() {
        let classes: BTreeSet<&str> = IamTarget::ALL
            .into_iter()
            .map(|t| {
                let g = sample_grant(t);
                let args: Vec<String> = grant(&g).args.iter().map(spelled).collect();
                assert_eq!(
                    args[args.len() - 2..],
                    ["role=\"roles/x\"", "member=\"user:a@x.example\""],
                    "{t:?}"
                );
                grant(&g).class
            })
            .collect();
        assert_eq!(classes.len(), IamTarget::ALL.len());
    }

    #[test]
    fn the_runtime_account_and_the_secret_are_referred_to_by_variable() {
        let mut g = sample_grant(IamTarget::Secret);
        g.member_is_runtime = true;
        let args: Vec<String> = grant(&g).args.iter().map(spelled).collect();
        assert_eq!(
            args,
            [
                "project=PROJECT",
                "secret_id=\"res\"",
                "role=\"roles/x\"",
                "member=runtime_account.member",
            ]
        );
    }
}
