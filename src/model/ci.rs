//! The `[ci]` table: the pipeline that checks the generated files, builds the image once and
//! deploys it by digest to each environment in order, authenticated without keys.
//!
//! Every target that creates the pipeline's cloud side (Terraform, Pulumi, the gcloud setup
//! script) and both pipeline files read the names, roles and conditions decided here.

use serde::{Deserialize, Serialize};

use super::account;
use super::iam::{self, IamTarget};
use super::{Account, Deployment, Image, Repository, Service};
use crate::spec::{CiProvider, CiSpec};

/// Issuer of the tokens GitHub Actions hands a job.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ci {
    pub provider: CiProvider,
    /// `owner/name`.
    pub repository: String,
    pub owner: String,
    pub name: String,
    pub branch: String,
    /// The branch as the anchored regex Cloud Build triggers take.
    pub branch_regex: String,
    /// The spec's folder relative to the repository root; the pipeline runs there.
    pub directory: String,
    /// The command that runs mlgen on the runner.
    pub mlgen: String,
    /// The spec's file name, in `directory`.
    pub spec_file: String,
    /// The repository root relative to `directory`, for `--ci-root`.
    pub root_from_directory: String,
    /// APIs the pipeline's sign-in or trigger calls, sorted.
    pub apis: Vec<String>,
    /// The identity the pipeline deploys as.
    pub account: Account,
    /// What the deploy account may do, each on the one resource it needs.
    pub grants: Vec<CiGrant>,
    /// The image build; none when the service runs an image built elsewhere.
    pub build: Option<CiBuild>,
    /// Where the image goes, in order; the first environment is the one that builds.
    pub environments: Vec<Environment>,
    /// GitHub only: the Workload Identity pool and provider the workflow signs in through.
    pub federation: Option<Federation>,
    /// Cloud Build only: the trigger that runs the pipeline file.
    pub trigger: Option<Trigger>,
}

/// What a grant of the deploy account is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiGrantOn {
    /// The runtime service account: deploying a revision acts as it.
    RuntimeAccount,
    /// The Cloud Run service: new revisions.
    Service,
    /// The Artifact Registry repository: pushing the image.
    Repository,
    /// The project: a build running as the account writes its logs.
    Project,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiGrant {
    /// Identifier for the IaC resource.
    pub key: String,
    pub on: CiGrantOn,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiBuild {
    /// The reference with the spec's tag, which each build moves to its image, as the
    /// deploy targets move it. The image itself is tagged with its content tag
    /// ([`super::Build`]), whose digest every environment deploys.
    pub tagged: String,
    /// The reference without its tag; the digest is appended to it to deploy.
    pub name: String,
    /// The registry host `docker` signs in to.
    pub registry: String,
    /// The Dockerfile relative to the spec's folder.
    pub dockerfile: String,
}

/// One place the pipeline deploys to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// Also the GitHub environment of its job, whose protection rules apply.
    pub name: String,
    pub project: String,
    pub region: String,
    pub service: String,
    /// A person approves before the deploy runs.
    pub approval: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Federation {
    pub pool_id: String,
    pub pool_display_name: String,
    /// Also how the gcloud scripts recognise the pool as theirs.
    pub pool_description: String,
    pub provider_id: String,
    pub issuer_uri: String,
    /// Token claims the provider keeps, as `(attribute, assertion)`.
    pub attribute_mapping: Vec<(String, String)>,
    /// Only tokens of the repository's deploy branch are accepted.
    pub attribute_condition: String,
    /// The principal set of the repository, after `.../workloadIdentityPools/POOL/`.
    pub principal_suffix: String,
    /// The GitHub Actions secret that holds the provider's full name.
    pub provider_variable: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    pub name: String,
    /// The same in every target; teardown.sh deletes only a trigger that carries it.
    pub description: String,
    /// The pipeline file relative to the repository root.
    pub filename: String,
    /// Whether a person approves each build: any environment asking for approval does.
    pub approval_required: bool,
}

/// The pipeline file of each provider, inside the output folder.
pub const GITHUB_WORKFLOW: &str = "ci/github/mlgen.yml";
pub const CLOUDBUILD_CONFIG: &str = "ci/cloudbuild/cloudbuild.yaml";

pub(super) fn resolve(spec: &CiSpec, d: &Deployment) -> Ci {
    let repository = spec.repository.get_ref().clone();
    let (owner, name) = repository.split_once('/').expect("validated");
    let (owner, name) = (owner.to_string(), name.to_string());
    let branch = spec.branch.get_ref().clone();
    let directory = spec.directory.get_ref().clone();
    let provider = *spec.provider.get_ref();
    let account = deploy_account(&d.service);
    let in_repo = |path: &str| match directory.as_str() {
        "." => path.to_string(),
        dir => format!("{dir}/{path}"),
    };
    let trigger = (provider == CiProvider::Cloudbuild).then(|| Trigger {
        name: format!("{}-deploy", d.service.name),
        description: format!("Deploys Cloud Run service {}", d.service.name),
        filename: in_repo(&format!("{}/{CLOUDBUILD_CONFIG}", d.build.out_dir)),
        approval_required: false,
    });
    let federation =
        (provider == CiProvider::Github).then(|| federation(&d.service.name, &repository, &branch));
    Ci {
        provider,
        owner,
        name,
        branch_regex: format!("^{}$", branch.replace('.', "\\.")),
        root_from_directory: back_to_root(&directory),
        spec_file: d.spec_name.clone(),
        mlgen: spec.mlgen.get_ref().clone(),
        grants: grants(provider, d.repository.as_ref()),
        apis: match provider {
            // Exchanging a GitHub token for the account's: STS, then IAM credentials.
            CiProvider::Github => vec!["iamcredentials.googleapis.com", "sts.googleapis.com"],
            CiProvider::Cloudbuild => vec!["cloudbuild.googleapis.com"],
        }
        .into_iter()
        .map(str::to_string)
        .collect(),
        build: build(&d.image, &d.build.dockerfile),
        environments: vec![Environment {
            name: d.service.project.clone(),
            project: d.service.project.clone(),
            region: d.service.region.clone(),
            service: d.service.name.clone(),
            approval: false,
        }],
        account,
        federation,
        trigger,
        repository,
        branch,
        directory,
    }
    .with_approval()
}

/// The spec's environments, in order, as the pipeline deploys to them; none for a spec
/// without `[environments]`, whose one deployment is the pipeline's one environment.
pub(super) fn environments(
    specs: &[(crate::spec::Spec, crate::spec::validate::Checked)],
    deployments: &[Deployment],
) -> Option<Vec<Environment>> {
    specs
        .iter()
        .zip(deployments)
        .map(|((spec, _), d)| {
            let env = spec.environment.as_ref()?;
            Some(Environment {
                name: env.name.clone(),
                project: d.service.project.clone(),
                region: d.service.region.clone(),
                service: d.service.name.clone(),
                approval: env.approval,
            })
        })
        .collect()
}

impl Ci {
    /// Deploys to the spec's environments, in order, instead of the one deployment's.
    pub(super) fn deploy_to(&mut self, environments: Vec<Environment>) {
        self.environments = environments;
        self.hold_for_approval();
    }

    /// Cloud Build approves whole builds: one environment asking for it holds them all.
    fn with_approval(mut self) -> Self {
        self.hold_for_approval();
        self
    }

    fn hold_for_approval(&mut self) {
        let any = self.environments.iter().any(|e| e.approval);
        if let Some(t) = &mut self.trigger {
            t.approval_required = any;
        }
    }
}

/// `SERVICE-deploy`, cut so the id stays within IAM's 6-30 characters.
fn deploy_account(service: &Service) -> Account {
    account::named_after(
        service,
        account::DEPLOY_SUFFIX,
        format!("{} deploy pipeline", service.name),
    )
}

/// What a deploy does, and nothing else: what the spec's deployers get, each on the one
/// resource it concerns, and for Cloud Build the logs its builds write.
fn grants(provider: CiProvider, repository: Option<&Repository>) -> Vec<CiGrant> {
    let mut out: Vec<CiGrant> = iam::deploy_roles(repository.is_some())
        .into_iter()
        .map(|(target, (_, role))| match target {
            IamTarget::ServiceAccount => {
                grant("ci_act_as_runtime", CiGrantOn::RuntimeAccount, role)
            }
            IamTarget::Repository => grant("ci_push_image", CiGrantOn::Repository, role),
            _ => grant("ci_deploy_service", CiGrantOn::Service, role),
        })
        .collect();
    if provider == CiProvider::Cloudbuild {
        out.push(grant(
            "ci_write_logs",
            CiGrantOn::Project,
            "roles/logging.logWriter",
        ));
    }
    out
}

fn grant(key: &str, on: CiGrantOn, role: &str) -> CiGrant {
    CiGrant {
        key: key.to_string(),
        on,
        role: role.to_string(),
    }
}

fn build(image: &Image, dockerfile: &str) -> Option<CiBuild> {
    if !image.built_here {
        return None;
    }
    let (name, _tag) = image.url.rsplit_once(':').expect("a built image has a tag");
    let registry = name.split('/').next().expect("a host").to_string();
    Some(CiBuild {
        tagged: image.url.clone(),
        name: name.to_string(),
        registry,
        dockerfile: dockerfile.to_string(),
    })
}

/// The pool is named after the service (`gh-SERVICE`, within IAM's 4-32 characters of
/// `[a-z0-9-]`; the `gcp-` prefix is reserved) and holds one provider for GitHub.
fn federation(service: &str, repository: &str, branch: &str) -> Federation {
    let stem: String = service.chars().take(29).collect();
    let variable: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    Federation {
        pool_id: format!("gh-{}", stem.trim_end_matches('-')),
        pool_display_name: format!("GitHub {repository}"),
        pool_description: format!("GitHub Actions runs of {repository} that deploy {service}"),
        provider_id: "github".to_string(),
        issuer_uri: GITHUB_ISSUER.to_string(),
        attribute_mapping: [
            ("google.subject", "assertion.sub"),
            ("attribute.repository", "assertion.repository"),
            ("attribute.ref", "assertion.ref"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .to_vec(),
        attribute_condition: format!(
            "assertion.repository == '{repository}' && assertion.ref == 'refs/heads/{branch}'"
        ),
        principal_suffix: format!("attribute.repository/{repository}"),
        provider_variable: format!("MLGEN_WIF_PROVIDER_{variable}"),
    }
}

/// `..` once per folder of `directory`; `.` for the root itself.
fn back_to_root(directory: &str) -> String {
    if directory == "." {
        return ".".to_string();
    }
    vec![".."; directory.split('/').count()].join("/")
}

#[cfg(test)]
mod tests {
    use super::super::fixture::deployment;
    use super::*;

    const GITHUB: &str = "[ci]\nprovider = \"github\"\nrepository = \"acme/models\"\n";

    fn ci(extra: &str) -> Ci {
        deployment(extra).ci.expect("[ci] resolves")
    }

    #[test]
    fn no_table_no_pipeline() {
        assert!(deployment("").ci.is_none());
    }

    #[test]
    fn github_signs_in_through_a_pool_restricted_to_the_repository_and_branch() {
        let c = ci(GITHUB);
        let f = c.federation.expect("github federates");
        assert_eq!(
            (f.pool_id.as_str(), f.provider_id.as_str()),
            ("gh-svc", "github")
        );
        assert_eq!(
            f.attribute_condition,
            "assertion.repository == 'acme/models' && assertion.ref == 'refs/heads/main'"
        );
        assert_eq!(f.principal_suffix, "attribute.repository/acme/models");
        assert!(c.trigger.is_none());
    }

    #[test]
    fn ids_stay_within_iam_limits() {
        let mut service = deployment("").service;
        for name in ["s".to_string(), "a".repeat(22) + "-bcdef", "a".repeat(49)] {
            service.name = name.clone();
            let pool = federation(&name, "a/b", "main").pool_id;
            assert!(
                (4..=32).contains(&pool.len()) && !pool.ends_with('-'),
                "{pool}"
            );
            let id = deploy_account(&service).account_id;
            assert!((6..=30).contains(&id.len()) && !id.contains("--"), "{id}");
        }
        assert_eq!(federation("s", "a/b", "main").pool_id, "gh-s");
        service.name = "s".into();
        assert_eq!(deploy_account(&service).account_id, "s-deploy");
    }

    #[test]
    fn the_deploy_account_gets_only_what_a_deploy_needs() {
        let roles = |c: &Ci| -> Vec<(CiGrantOn, String)> {
            c.grants.iter().map(|g| (g.on, g.role.clone())).collect()
        };
        let gh = ci(GITHUB);
        assert_eq!(
            roles(&gh),
            [
                (
                    CiGrantOn::RuntimeAccount,
                    "roles/iam.serviceAccountUser".into()
                ),
                (CiGrantOn::Service, "roles/run.developer".into()),
                (
                    CiGrantOn::Repository,
                    "roles/artifactregistry.writer".into()
                ),
            ]
        );
        let cb = ci(&GITHUB.replace("github", "cloudbuild"));
        assert_eq!(roles(&cb).last().unwrap().1, "roles/logging.logWriter");
        let t = cb.trigger.unwrap();
        assert_eq!(t.filename, "deploy/ci/cloudbuild/cloudbuild.yaml");
        assert!(!t.approval_required);
    }

    #[test]
    fn the_deploy_account_gets_what_the_specs_deployers_get() {
        let d = deployment(&format!(
            "[access]\ndeployers = [\"group:d@x.example\"]\n{GITHUB}"
        ));
        let deployer: Vec<&str> = d
            .iam
            .iter()
            .filter(|g| g.member == "group:d@x.example")
            .map(|g| g.role.as_str())
            .collect();
        let ci = d.ci.expect("[ci] resolves");
        let pipeline: Vec<&str> = ci.grants.iter().map(|g| g.role.as_str()).collect();
        assert_eq!(deployer, pipeline);
    }

    #[test]
    fn the_build_is_deployed_by_digest_to_each_environment() {
        let c = ci(&format!(
            "{GITHUB}branch = \"release/1.x\"\ndirectory = \"svc/a\"\n"
        ));
        let b = c.build.unwrap();
        assert_eq!(b.name, "europe-west1-docker.pkg.dev/proj-123/repo/svc");
        assert_eq!(b.registry, "europe-west1-docker.pkg.dev");
        assert_eq!(c.branch_regex, "^release/1\\.x$");
        assert_eq!(c.root_from_directory, "../..");
        assert_eq!(c.environments.len(), 1);
        assert_eq!(c.environments[0].service, "svc");
    }
}
