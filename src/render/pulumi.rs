//! The Pulumi target: a Python program (`pulumi/__main__.py`) with its project file and
//! pinned requirements. Every value comes from the [`Deployment`]; the templates only spell it.

use askama::Template;

use super::{Arg, BuildStep, Value, add, arg};
use crate::error::Error;
use crate::model::{
    Deployment, IamGrant, IamTarget, Principal, RevisionKey, Rollout, run_service_agent,
};
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
    prerequisites: Vec<Prerequisite<'a>>,
    /// Whether the Cloud Run service agent's email is needed (it holds the project number).
    project_number: bool,
    grants: Vec<Grant<'a>>,
    /// Whether the build's account has grants, which the build and the service wait for.
    build_grants: bool,
}

impl Main<'_> {
    /// The constant whose value names a canary's revisions (see [`crate::model::RevisionName`]).
    fn revision_key(&self, r: &Rollout) -> &'static str {
        match r.revision.key {
            RevisionKey::ContentTag => "CONTENT_TAG",
            RevisionKey::ImageUrl => "IMAGE",
        }
    }
}

/// Something the deployment uses but does not create, looked up when the program starts
/// so that `pulumi up` stops before anything is created when it is missing.
struct Prerequisite<'a> {
    /// The variable the program keeps what it read in, when it uses it.
    variable: Option<&'static str>,
    /// The provider function that reads it (or `gpu_quota`, which reads and checks it).
    function: &'static str,
    /// What to do when it is missing.
    what: String,
    args: Vec<Arg<'a>>,
}

fn prerequisite(g: &IamGrant) -> Option<Prerequisite<'_>> {
    let create = g.prerequisite()?;
    let (function, args) = match g.target {
        IamTarget::Secret => (
            "gcp.secretmanager.get_secret",
            vec![
                arg("project", Value::Ref("PROJECT".to_string())),
                arg("secret_id", Value::Text(&g.resource)),
            ],
        ),
        IamTarget::Bucket => (
            "gcp.storage.get_bucket",
            vec![arg("name", Value::Text(&g.resource))],
        ),
        IamTarget::ManagedFolder => {
            let (bucket, folder) = g.managed_folder();
            (
                // Reading the folder's policy fails when it is not a managed folder.
                "gcp.storage.get_managed_folder_iam_policy",
                vec![
                    arg("bucket", Value::Text(bucket)),
                    arg("managed_folder", Value::Text(folder)),
                ],
            )
        }
        IamTarget::Repository
        | IamTarget::StagingBucket
        | IamTarget::ServiceAccount
        | IamTarget::Service
        | IamTarget::Project => return None,
    };
    Some(Prerequisite {
        variable: None,
        function,
        what: format!("create {create}"),
        args,
    })
}

/// The GPU quota, read and checked by the program's `gpu_quota`.
fn quota_prerequisite(d: &Deployment) -> Option<Prerequisite<'_>> {
    let q = d.gpu_quota.as_ref()?;
    Some(Prerequisite {
        variable: None,
        function: "gpu_quota",
        what: q.request.clone(),
        args: vec![
            arg("parent", Value::Ref("f\"projects/{PROJECT}\"".to_string())),
            arg("service", Value::Text(&q.service)),
            arg("quota_id", Value::Text(&q.quota_id)),
        ],
    })
}

/// An existing repository, read into `repository`, where the program otherwise creates it.
fn repository_prerequisite(d: &Deployment) -> Option<Prerequisite<'_>> {
    let r = d.repository.as_ref()?;
    Some(Prerequisite {
        variable: Some("repository"),
        function: "gcp.artifactregistry.get_repository",
        what: format!("create {}", r.prerequisite()?),
        args: vec![
            arg("project", Value::Text(&r.project)),
            arg("location", Value::Text(&r.location)),
            arg("repository_id", Value::Text(&r.id)),
        ],
    })
}

/// One IAM grant as a Pulumi resource.
struct Grant<'a> {
    key: &'a str,
    before_service: bool,
    /// The build account's: the build waits for it.
    before_build: bool,
    class: &'static str,
    /// What the grant is on, then its role and member.
    args: Vec<Arg<'a>>,
}

/// The one place Pulumi spells each kind of grant: its resource class and the arguments
/// that name what it is on. What the program creates (the runtime account, the service,
/// the repository) is referred to, not named, so Pulumi creates it first.
fn grant<'a>(g: &'a IamGrant, own_repository: Option<&str>) -> Grant<'a> {
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
        // The bucket this program creates: referring to it creates it first.
        IamTarget::StagingBucket => (
            "gcp.storage.BucketIAMMember",
            vec![arg("bucket", of("staging_bucket.name"))],
        ),
        IamTarget::ManagedFolder => {
            let (bucket, folder) = g.managed_folder();
            (
                "gcp.storage.ManagedFolderIamMember",
                vec![
                    arg("bucket", Value::Text(bucket)),
                    arg("managed_folder", Value::Text(folder)),
                ],
            )
        }
        IamTarget::Repository if own_repository == Some(g.resource.as_str()) => (
            "gcp.artifactregistry.RepositoryIamMember",
            vec![
                arg("project", of("repository.project")),
                arg("location", of("repository.location")),
                arg("repository", of("repository.name")),
            ],
        ),
        IamTarget::Repository => {
            let (project, location, id) = g.repository();
            (
                "gcp.artifactregistry.RepositoryIamMember",
                vec![
                    arg("project", Value::Text(project)),
                    arg("location", Value::Text(location)),
                    arg("repository", Value::Text(id)),
                ],
            )
        }
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
        IamTarget::Project => (
            "gcp.projects.IAMMember",
            vec![arg("project", of("PROJECT"))],
        ),
    };
    let member = match g.principal {
        Principal::Named => Value::Text(&g.member),
        Principal::Runtime => of("runtime_account.member"),
        Principal::Build => of("build_account.member"),
        Principal::RunServiceAgent => {
            Value::Ref(format!("f\"{}\"", run_service_agent("{PROJECT_NUMBER}")))
        }
    };
    args.extend([arg("role", Value::Text(&g.role)), arg("member", member)]);
    Grant {
        key: &g.key,
        before_service: g.before_service,
        before_build: g.principal == Principal::Build,
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
    let own_repository = d.repository.as_ref().map(|r| r.name());
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
            prerequisites: quota_prerequisite(d)
                .into_iter()
                .chain(repository_prerequisite(d))
                .chain(d.iam.iter().filter_map(prerequisite))
                .collect(),
            project_number: d
                .iam
                .iter()
                .any(|g| g.principal == Principal::RunServiceAgent),
            build_grants: d.iam.iter().any(|g| g.principal == Principal::Build),
            grants: d
                .iam
                .iter()
                .map(|g| grant(g, own_repository.as_deref()))
                .collect(),
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
                let args: Vec<String> = grant(&g, None).args.iter().map(spelled).collect();
                assert_eq!(
                    args[args.len() - 2..],
                    ["role=\"roles/x\"", "member=\"user:a@x.example\""],
                    "{t:?}"
                );
                grant(&g, None).class
            })
            .collect();
        // The model's bucket and the build's staging bucket are both buckets: one type,
        // the staging bucket referred to as the resource that creates it.
        assert_eq!(classes.len(), IamTarget::ALL.len() - 1);
        let bucket_arg = |t| spelled(&grant(&sample_grant(t), None).args[0]);
        assert_ne!(
            bucket_arg(IamTarget::Bucket),
            bucket_arg(IamTarget::StagingBucket)
        );
    }

    #[test]
    fn the_runtime_account_and_the_secret_are_referred_to_by_variable() {
        let mut g = sample_grant(IamTarget::Secret);
        g.principal = Principal::Runtime;
        let args: Vec<String> = grant(&g, None).args.iter().map(spelled).collect();
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

    #[test]
    fn the_service_agent_is_named_by_the_looked_up_project_number() {
        let mut g = sample_grant(IamTarget::Repository);
        g.resource = "projects/p/locations/l/repositories/r".to_string();
        g.principal = Principal::RunServiceAgent;
        let args: Vec<String> = grant(&g, None).args.iter().map(spelled).collect();
        assert_eq!(
            args[4],
            "member=f\"serviceAccount:service-{PROJECT_NUMBER}@serverless-robot-prod.iam.gserviceaccount.com\""
        );
        let own = grant(&g, Some("projects/p/locations/l/repositories/r"));
        assert_eq!(spelled(&own.args[2]), "repository=repository.name");
    }
}
