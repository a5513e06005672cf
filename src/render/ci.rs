//! The deploy pipeline: the GitHub workflow or the Cloud Build config, and its cloud side in
//! each IaC target (`terraform/ci.tf`, the Pulumi program's `_ci.py` part,
//! `gcloud/ci-setup.sh`). Nothing is rendered without `[ci]`.

use askama::Template;

use super::{Arg, Value, add, add_text, arg, render_one, terraform};
use crate::error::Error;
use crate::model::{
    CLOUDBUILD_CONFIG, Ci, CiGrant, CiGrantOn, Deployment, Environment, Federation,
    GITHUB_WORKFLOW, Trigger,
};
use crate::spec::CiProvider;
use crate::tree::Tree;

/// An action pinned by commit; the tag is the release that commit is, for review.
pub struct Pin {
    pub sha: &'static str,
    pub tag: &'static str,
}

pub struct Pins {
    pub checkout: Pin,
    pub auth: Pin,
    pub setup_gcloud: Pin,
}

/// Every action the workflow uses, by the commit of a release tag.
pub const PINS: Pins = Pins {
    checkout: Pin {
        sha: "3d3c42e5aac5ba805825da76410c181273ba90b1",
        tag: "v7.0.1",
    },
    auth: Pin {
        sha: "7c6bc770dae815cd3e89ee6cdf493a5fab2cc093",
        tag: "v3.0.0",
    },
    setup_gcloud: Pin {
        sha: "aa5489c8933f4cc7a4f7d45035b3b1440c9c10db",
        tag: "v3.0.1",
    },
};

pub fn render(d: &Deployment, tree: &mut Tree) -> Result<(), Error> {
    let Some(ci) = &d.ci else {
        return Ok(());
    };
    match (&ci.federation, &ci.trigger) {
        (Some(f), _) if ci.provider == CiProvider::Github => {
            let jobs = deploy_jobs(ci);
            let workflow = Workflow {
                d,
                ci,
                content_tag: super::content_tag_script(d)?,
                f,
                jobs,
                pins: &PINS,
            };
            add(tree, d, GITHUB_WORKFLOW, "ci/github/mlgen.yml", &workflow)?;
        }
        (_, Some(trigger)) => {
            // Cloud Build reads `$NAME` as a substitution: `$$` is a plain `$`.
            let content_tag = super::content_tag_script(d)?.replace('$', "$$");
            let config = CloudBuild {
                d,
                ci,
                trigger,
                content_tag,
            };
            add(
                tree,
                d,
                CLOUDBUILD_CONFIG,
                "ci/cloudbuild/cloudbuild.yaml",
                &config,
            )?;
        }
        _ => unreachable!("the model gives github a pool and cloudbuild a trigger"),
    }
    let grants = ci.grants.iter().map(|g| terraform_grant(g, d)).collect();
    let tf = render_one("terraform/ci.tf", &TerraformCi { ci, grants })?;
    add_text(tree, d, "terraform/ci.tf", &terraform::align(&tf));
    let setup = Setup {
        d,
        ci,
        mark: PIPELINE_MARK,
        attribute_mapping: ci.federation.as_ref().map_or_else(String::new, |f| {
            let pairs: Vec<String> = f
                .attribute_mapping
                .iter()
                .map(|(a, b)| format!("{a}={b}"))
                .collect();
            pairs.join(",")
        }),
    };
    add(tree, d, "gcloud/ci-setup.sh", "gcloud/ci-setup.sh", &setup)
}

/// One deploy job per environment, each after the build and the environment before it.
pub struct Job<'a> {
    pub id: String,
    pub env: &'a Environment,
    pub needs: Vec<String>,
}

fn deploy_jobs(ci: &Ci) -> Vec<Job<'_>> {
    let mut previous: Vec<String> = vec![if ci.build.is_some() { "build" } else { "check" }.into()];
    ci.environments
        .iter()
        .map(|env| {
            let id = format!("deploy-{}", env.name);
            let mut needs = std::mem::replace(&mut previous, vec![id.clone()]);
            if ci.build.is_some() && needs[0] != "build" {
                // The image the build pushed is read from the build job's outputs, which
                // only a job that needs the build job directly can read.
                needs.insert(0, "build".into());
            }
            Job { id, env, needs }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "ci/github/mlgen.yml")]
struct Workflow<'a> {
    d: &'a Deployment,
    ci: &'a Ci,
    /// The `content_tag` function the build step runs.
    content_tag: String,
    f: &'a Federation,
    jobs: Vec<Job<'a>>,
    pins: &'a Pins,
}

#[derive(Template)]
#[template(path = "ci/cloudbuild/cloudbuild.yaml")]
struct CloudBuild<'a> {
    d: &'a Deployment,
    ci: &'a Ci,
    trigger: &'a Trigger,
    /// The `content_tag` function the build runs, escaped for Cloud Build.
    content_tag: String,
}

/// A grant of the deploy account as an IaC resource: its type (Terraform) or class
/// (Pulumi), and the arguments naming what it is on.
pub(crate) struct IacGrant<'a> {
    pub key: &'a str,
    pub role: &'a str,
    pub tf_type: &'static str,
    pub class: &'static str,
    pub args: Vec<Arg<'a>>,
}

/// The one place Terraform spells each kind of deploy grant.
fn terraform_grant<'a>(g: &'a CiGrant, d: &'a Deployment) -> IacGrant<'a> {
    let r = |s: &str| Value::Ref(s.to_string());
    let repository = terraform::repository_address(d);
    let (tf_type, args) = match g.on {
        CiGrantOn::RuntimeAccount => (
            "google_service_account_iam_member",
            vec![arg(
                "service_account_id",
                r("google_service_account.runtime.name"),
            )],
        ),
        CiGrantOn::Service => (
            "google_cloud_run_v2_service_iam_member",
            vec![
                arg("project", r("google_cloud_run_v2_service.service.project")),
                arg(
                    "location",
                    r("google_cloud_run_v2_service.service.location"),
                ),
                arg("name", r("google_cloud_run_v2_service.service.name")),
            ],
        ),
        CiGrantOn::Repository => (
            "google_artifact_registry_repository_iam_member",
            vec![
                arg("project", r(&format!("{repository}.project"))),
                arg("location", r(&format!("{repository}.location"))),
                arg("repository", r(&format!("{repository}.name"))),
            ],
        ),
        CiGrantOn::Project => (
            "google_project_iam_member",
            vec![arg("project", r("var.project"))],
        ),
    };
    IacGrant {
        key: &g.key,
        role: &g.role,
        tf_type,
        class: "",
        args,
    }
}

/// The one place Pulumi spells each kind of deploy grant; called from `pulumi/_ci.py`.
pub(crate) fn pulumi_grants(ci: &Ci) -> Vec<IacGrant<'_>> {
    let r = |s: &str| Value::Ref(s.to_string());
    ci.grants
        .iter()
        .map(|g| {
            let (class, args) = match g.on {
                CiGrantOn::RuntimeAccount => (
                    "gcp.serviceaccount.IAMMember",
                    vec![arg("service_account_id", r("runtime_account.name"))],
                ),
                CiGrantOn::Service => (
                    "gcp.cloudrunv2.ServiceIamMember",
                    vec![
                        arg("project", r("service.project")),
                        arg("location", r("service.location")),
                        arg("name", r("service.name")),
                    ],
                ),
                CiGrantOn::Repository => (
                    "gcp.artifactregistry.RepositoryIamMember",
                    vec![
                        arg("project", r("repository.project")),
                        arg("location", r("repository.location")),
                        arg("repository", r("repository.name")),
                    ],
                ),
                CiGrantOn::Project => {
                    ("gcp.projects.IAMMember", vec![arg("project", r("PROJECT"))])
                }
            };
            IacGrant {
                key: &g.key,
                role: &g.role,
                tf_type: "",
                class,
                args,
            }
        })
        .collect()
}

/// A deploy grant as gcloud spells it: the command group, the resource, its location flags.
pub struct ShellGrant<'a> {
    pub role: &'a str,
    /// On the service: deleting the service deletes the grant with it.
    pub on_service: bool,
    pub group: &'static [&'static str],
    pub resource: String,
    pub flags: Vec<String>,
}

/// The one place gcloud spells each kind of deploy grant; called from `gcloud/ci-setup.sh`.
pub fn gcloud_grants<'a>(ci: &'a Ci, d: &Deployment) -> Vec<ShellGrant<'a>> {
    let project = format!("--project={}", d.service.project);
    ci.grants
        .iter()
        .map(|g| {
            let (group, resource, flags): (&'static [&'static str], String, Vec<String>) =
                match g.on {
                    CiGrantOn::RuntimeAccount => (
                        &["iam", "service-accounts"],
                        d.runtime_account.email.clone(),
                        vec![project.clone()],
                    ),
                    CiGrantOn::Service => (
                        &["run", "services"],
                        d.service.name.clone(),
                        vec![format!("--region={}", d.service.region), project.clone()],
                    ),
                    CiGrantOn::Repository => {
                        let repo = d
                            .repository
                            .as_ref()
                            .expect("a push grant has a repository");
                        (
                            &["artifacts", "repositories"],
                            repo.id.clone(),
                            vec![
                                format!("--location={}", repo.location),
                                format!("--project={}", repo.project),
                            ],
                        )
                    }
                    CiGrantOn::Project => (&["projects"], d.service.project.clone(), vec![]),
                };
            ShellGrant {
                role: &g.role,
                on_service: g.on == CiGrantOn::Service,
                group,
                resource,
                flags,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "terraform/ci.tf")]
struct TerraformCi<'a> {
    ci: &'a Ci,
    grants: Vec<IacGrant<'a>>,
}

#[derive(Template)]
#[template(path = "gcloud/ci-setup.sh")]
struct Setup<'a> {
    d: &'a Deployment,
    ci: &'a Ci,
    mark: &'static str,
    attribute_mapping: String,
}

/// The description ci-setup.sh gives the account and the trigger it creates, the mark
/// teardown.sh deletes them by; inside double quotes in the scripts.
pub(crate) const PIPELINE_MARK: &str = "Created by ci-setup.sh for Cloud Run service $service";
