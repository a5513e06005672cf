//! Every IAM grant of the deployment, from the `[access]`, `[secrets]` and `[model]` tables:
//! least privilege, each grant on the one resource that needs it.
//!
//! A grant says what it is on as an [`IamTarget`]; each renderer maps that to its own
//! resource type or command in one exhaustive `match`, so the targets cannot disagree on
//! which grants exist or whom they name.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Account, Image, Repository, SecretEnv, Service, StagingBucket, Volume};
use crate::spec::AccessSpec;

/// What an IAM grant is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IamTarget {
    /// A Secret Manager secret (`resource` = secret id).
    Secret,
    /// A Cloud Storage bucket (`resource` = bucket name), for a model at the bucket's root.
    Bucket,
    /// The bucket the deployment creates for the build's source (`resource` = bucket name).
    StagingBucket,
    /// A Cloud Storage managed folder (`resource` = `BUCKET/FOLDER/`, the API's id).
    ManagedFolder,
    /// An Artifact Registry repository (`resource` =
    /// `projects/P/locations/L/repositories/R`, the API's name).
    Repository,
    /// The runtime service account (`resource` = its email).
    ServiceAccount,
    /// The Cloud Run service (`resource` = service name).
    Service,
    /// The project (`resource` = its id), for what has no narrower resource: writing build
    /// logs, submitting builds.
    Project,
}

impl IamTarget {
    /// Every variant, for tests that check each renderer spells each one.
    pub const ALL: [IamTarget; 8] = [
        IamTarget::Secret,
        IamTarget::Bucket,
        IamTarget::StagingBucket,
        IamTarget::ManagedFolder,
        IamTarget::Repository,
        IamTarget::ServiceAccount,
        IamTarget::Service,
        IamTarget::Project,
    ];
}

impl IamTarget {
    /// The roles the deployment grants on a resource of this kind when it creates it: on
    /// such a resource, those roles are the spec's alone.
    pub fn roles_granted_when_created(self) -> &'static [&'static str] {
        match self {
            IamTarget::Service => &[RUN_DEVELOPER.1, INVOKER.1],
            IamTarget::ServiceAccount => &[ACT_AS.1],
            IamTarget::Repository => &[REPO_WRITER.1],
            IamTarget::StagingBucket => &[BUILD_SOURCE.1],
            // The project's policy is shared with everything else in it.
            IamTarget::Secret
            | IamTarget::Bucket
            | IamTarget::ManagedFolder
            | IamTarget::Project => &[],
        }
    }
}

impl IamTarget {
    /// The role the runtime account holds on a resource of this kind that the service
    /// reads (a secret, the model's bucket or folder): the one place it is decided, for the
    /// grants and for removing the grant once the service no longer reads the resource.
    pub fn runtime_read_role(self) -> Option<&'static str> {
        match self {
            IamTarget::Secret => Some(SECRET_READER.1),
            IamTarget::Bucket | IamTarget::ManagedFolder => Some(OBJECT_READER.1),
            IamTarget::Repository
            | IamTarget::StagingBucket
            | IamTarget::ServiceAccount
            | IamTarget::Service
            | IamTarget::Project => None,
        }
    }
}

/// Who a grant is for, where a target must refer to something it creates or looks up
/// instead of repeating `member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Principal {
    /// A member named in the spec: `member` is used as written.
    Named,
    /// The runtime account this deployment creates: IaC refers to the account's resource
    /// (and so creates it first).
    Runtime,
    /// The project's Cloud Run service agent, which pulls the image: its email holds the
    /// project number, which each target looks up ([`run_service_agent`]).
    RunServiceAgent,
    /// The account the image build runs as, which this deployment creates: IaC refers to
    /// the account's resource, and runs the build after the account's grants.
    Build,
}

/// The Cloud Run service agent's member, given the project number (or an expression
/// that yields it).
pub fn run_service_agent(project_number: &str) -> String {
    format!("serviceAccount:service-{project_number}@serverless-robot-prod.iam.gserviceaccount.com")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IamGrant {
    /// Identifier for the IaC resource: unique, `[a-z0-9_]`, stable across reorderings.
    pub key: String,
    pub target: IamTarget,
    pub resource: String,
    pub role: String,
    /// The member; for the service agent, with `PROJECT_NUMBER` standing for the number.
    pub member: String,
    pub principal: Principal,
    /// Must exist before the service is deployed: Cloud Run checks, when deploying, that
    /// the runtime account can read its secrets and model and that the image can be pulled.
    pub before_service: bool,
}

impl IamGrant {
    /// `(bucket, folder)` of a [`IamTarget::ManagedFolder`] grant.
    pub fn managed_folder(&self) -> (&str, &str) {
        self.resource
            .split_once('/')
            .unwrap_or((&self.resource, ""))
    }

    /// What to create when the grant's resource is missing, for a resource the deployment
    /// uses but does not create (a prerequisite every target checks before creating
    /// anything); `None` for what the deployment creates, or an image's repository.
    pub fn prerequisite(&self) -> Option<String> {
        match self.target {
            IamTarget::Secret => Some(format!(
                "the secret {0}: gcloud secrets create {0} --data-file=FILE",
                self.resource
            )),
            IamTarget::Bucket => Some(format!(
                "the bucket gs://{}/ holding the model",
                self.resource
            )),
            IamTarget::ManagedFolder => Some(format!(
                "the managed folder over the model's folder: \
                 gcloud storage managed-folders create gs://{}",
                self.resource
            )),
            IamTarget::Repository
            | IamTarget::StagingBucket
            | IamTarget::ServiceAccount
            | IamTarget::Service
            | IamTarget::Project => None,
        }
    }

    /// `(project, location, id)` of a [`IamTarget::Repository`] grant.
    pub fn repository(&self) -> (&str, &str, &str) {
        let parts: Vec<&str> = self.resource.split('/').collect();
        match parts[..] {
            ["projects", p, "locations", l, "repositories", r] => (p, l, r),
            _ => unreachable!("repository grants are made from a parsed name"),
        }
    }
}

/// The repository an Artifact Registry image lives in, when it is another project's:
/// this project's Cloud Run service agent needs read access to it.
fn foreign_repository(image: &Image, project: &str) -> Option<String> {
    let (host, rest) = image.url.split_once('/')?;
    let location = host.strip_suffix("-docker.pkg.dev")?;
    let mut path = rest.split('/');
    let (owner, repo) = (path.next()?, path.next()?);
    let repo = Repository {
        id: repo.to_string(),
        location: location.to_string(),
        project: owner.to_string(),
        description: String::new(),
        existing: true,
    };
    (owner != project && path.next().is_some()).then(|| repo.name())
}

/// Everything the grants are made from.
pub(super) struct Inputs<'a> {
    pub access: &'a AccessSpec,
    /// A later environment's: the deploy pipeline's account (the first environment's),
    /// which deploys here as the spec's deployers do.
    pub pipeline: Option<&'a str>,
    pub service: &'a Service,
    pub runtime: &'a Account,
    /// The account the image build runs as; none for an image built elsewhere.
    pub build: Option<&'a Account>,
    /// Where the build's source is uploaded; with `build`.
    pub staging: Option<&'a StagingBucket>,
    pub image: &'a Image,
    pub repository: Option<&'a Repository>,
    pub secrets: &'a [SecretEnv],
    pub volumes: &'a [Volume],
}

/// The grants in creation order: what the service needs to start (its reads, the image
/// pull), then deployers, then callers.
pub(super) fn grants(i: &Inputs) -> Vec<IamGrant> {
    let mut out = Grants {
        list: Vec::new(),
        keys: BTreeSet::new(),
    };
    let runtime = (i.runtime.member.as_str(), Principal::Runtime);
    let distinct_secrets: BTreeSet<&str> = i.secrets.iter().map(|s| s.secret.as_str()).collect();
    for secret in distinct_secrets {
        out.push(IamTarget::Secret, secret, SECRET_READER, runtime, true);
    }
    for v in i.volumes {
        match &v.folder {
            Some(folder) => {
                let id = format!("{}/{folder}", v.bucket);
                out.push(IamTarget::ManagedFolder, &id, OBJECT_READER, runtime, true);
            }
            None => out.push(IamTarget::Bucket, &v.bucket, OBJECT_READER, runtime, true),
        }
    }
    if let Some(repo) = foreign_repository(i.image, &i.service.project) {
        let agent = run_service_agent("PROJECT_NUMBER");
        let member = (agent.as_str(), Principal::RunServiceAgent);
        out.push(IamTarget::Repository, &repo, REPO_READER, member, true);
    }
    let own_repository = i.repository.map(Repository::name);
    let build = i.build.zip(own_repository.as_deref()).zip(i.staging);
    if let Some(((account, repository), staging)) = build {
        // What the build does: read its staged source, push to the one repository, write
        // its logs.
        let builder = (account.member.as_str(), Principal::Build);
        let bucket = staging.name.as_str();
        out.push(
            IamTarget::StagingBucket,
            bucket,
            BUILD_SOURCE,
            builder,
            true,
        );
        out.push(IamTarget::Repository, repository, BUILD_PUSH, builder, true);
        let project = i.service.project.as_str();
        out.push(IamTarget::Project, project, BUILD_LOGS, builder, true);
    }
    let deployers = i.access.deployers.iter().map(|d| d.get_ref().as_str());
    for d in deployers.chain(i.pipeline) {
        let deployer = (d, Principal::Named);
        for (target, role) in deploy_roles(own_repository.is_some()) {
            let resource = match target {
                IamTarget::ServiceAccount => i.runtime.email.as_str(),
                IamTarget::Repository => own_repository.as_deref().expect("asked for"),
                _ => i.service.name.as_str(),
            };
            out.push(target, resource, role, deployer, false);
        }
    }
    for c in &i.access.invokers {
        let caller = (c.get_ref().as_str(), Principal::Named);
        out.push(IamTarget::Service, &i.service.name, INVOKER, caller, false);
    }
    out.list
}

/// A role and the prefix of the keys of its grants.
pub(super) type Role = (&'static str, &'static str);

/// What deploying a new revision takes, for the spec's deployers and the deploy pipeline
/// alike: act as the runtime account, update the service, push the image it runs when the
/// spec owns its repository.
pub(super) fn deploy_roles(own_repository: bool) -> Vec<(IamTarget, Role)> {
    let mut roles = vec![
        (IamTarget::ServiceAccount, ACT_AS),
        (IamTarget::Service, RUN_DEVELOPER),
    ];
    if own_repository {
        roles.push((IamTarget::Repository, REPO_WRITER));
    }
    roles
}

const SECRET_READER: Role = ("secret_access", "roles/secretmanager.secretAccessor");
const OBJECT_READER: Role = ("model_read", "roles/storage.objectViewer");
const REPO_READER: Role = ("image_pull", "roles/artifactregistry.reader");
const REPO_WRITER: Role = ("deployer_push", "roles/artifactregistry.writer");
const ACT_AS: Role = ("deployer_act_as", "roles/iam.serviceAccountUser");
const RUN_DEVELOPER: Role = ("deployer_run", "roles/run.developer");
const INVOKER: Role = ("invoker", "roles/run.invoker");
const BUILD_SOURCE: Role = ("build_source", OBJECT_READER.1);
const BUILD_PUSH: Role = ("build_push", REPO_WRITER.1);
const BUILD_LOGS: Role = ("build_logs", "roles/logging.logWriter");

struct Grants {
    list: Vec<IamGrant>,
    keys: BTreeSet<String>,
}

impl Grants {
    fn push(
        &mut self,
        target: IamTarget,
        resource: &str,
        (prefix, role): Role,
        (member, principal): (&str, Principal),
        before_service: bool,
    ) {
        // Grants to a named member (or the build account) are named by it; the runtime's
        // and the agent's by what they read.
        let subject = match principal {
            Principal::Named | Principal::Build => member_id(member),
            Principal::Runtime | Principal::RunServiceAgent => resource,
        };
        self.list.push(IamGrant {
            key: unique_key(&mut self.keys, prefix, subject),
            target,
            resource: resource.to_string(),
            role: role.to_string(),
            member: member.to_string(),
            principal,
            before_service,
        });
    }
}

/// The member without its kind, and without the domain suffix of a service account: the
/// account's project says enough, the suffix only makes keys long.
fn member_id(member: &str) -> &str {
    let id = member.split_once(':').map_or(member, |(_, id)| id);
    id.strip_suffix(".iam.gserviceaccount.com")
        .or_else(|| id.strip_suffix(".gserviceaccount.com"))
        .unwrap_or(id)
}

/// `prefix_slug`, the slug naming the subject, so keys survive reordering of the spec's
/// lists; a numeric suffix separates subjects whose slugs collide.
fn unique_key(used: &mut BTreeSet<String>, prefix: &str, subject: &str) -> String {
    let base = format!("{prefix}_{}", ident(subject));
    let mut key = base.clone();
    let mut n = 2;
    while !used.insert(key.clone()) {
        key = format!("{base}_{n}");
        n += 1;
    }
    key
}

/// Lowercase `[a-z0-9_]`, collapsing runs of other characters to one `_`.
fn ident(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').chars().take(48).collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixture::deployment;
    use super::*;

    /// Fails to compile when a variant is added, and fails when `ALL` misses it.
    #[test]
    fn all_lists_every_target_once() {
        let index = |t: IamTarget| match t {
            IamTarget::Secret => 0,
            IamTarget::Bucket => 1,
            IamTarget::StagingBucket => 2,
            IamTarget::ManagedFolder => 3,
            IamTarget::Repository => 4,
            IamTarget::ServiceAccount => 5,
            IamTarget::Service => 6,
            IamTarget::Project => 7,
        };
        let got: Vec<usize> = IamTarget::ALL.into_iter().map(index).collect();
        assert_eq!(got, (0..IamTarget::ALL.len()).collect::<Vec<_>>());
    }

    #[test]
    fn each_kind_of_grant_gets_its_role_and_order() {
        let d = deployment(
            "[access]\ninvokers = [\"user:a@x.example\"]\ndeployers = [\"group:d@x.example\"]\n\
             [secrets]\nK = { secret = \"s\", version = \"1\" }\nL = { secret = \"s\", version = \"2\" }\n",
        );
        let got: Vec<_> = d
            .iam
            .iter()
            .map(|g| (g.key.as_str(), g.target, g.role.as_str(), g.before_service))
            .collect();
        let repo = "projects/proj-123/locations/europe-west1/repositories/repo";
        assert_eq!(
            got,
            [
                (
                    "secret_access_s",
                    IamTarget::Secret,
                    "roles/secretmanager.secretAccessor",
                    true
                ),
                (
                    "build_source_svc_build_proj_123",
                    IamTarget::StagingBucket,
                    "roles/storage.objectViewer",
                    true
                ),
                (
                    "build_push_svc_build_proj_123",
                    IamTarget::Repository,
                    "roles/artifactregistry.writer",
                    true
                ),
                (
                    "build_logs_svc_build_proj_123",
                    IamTarget::Project,
                    "roles/logging.logWriter",
                    true
                ),
                (
                    "deployer_act_as_d_x_example",
                    IamTarget::ServiceAccount,
                    "roles/iam.serviceAccountUser",
                    false
                ),
                (
                    "deployer_run_d_x_example",
                    IamTarget::Service,
                    "roles/run.developer",
                    false
                ),
                (
                    "deployer_push_d_x_example",
                    IamTarget::Repository,
                    "roles/artifactregistry.writer",
                    false
                ),
                (
                    "invoker_a_x_example",
                    IamTarget::Service,
                    "roles/run.invoker",
                    false
                ),
            ]
        );
        assert_eq!(d.iam[0].principal, Principal::Runtime);
        let build = d.build_account.as_ref().expect("built here");
        for g in &d.iam[1..4] {
            assert_eq!(
                (g.principal, g.member.as_str()),
                (Principal::Build, build.member.as_str())
            );
        }
        assert_eq!(d.iam[1].resource, "proj-123-svc-build");
        assert_eq!(d.iam[2].resource, repo);
        assert_eq!(d.iam[3].resource, "proj-123");
        assert_eq!(d.iam[7].principal, Principal::Named);
        assert_eq!(d.iam[4].resource, d.runtime_account.email);
        assert_eq!(d.iam[6].resource, repo);
        assert_eq!(d.iam[6].repository(), ("proj-123", "europe-west1", "repo"));
    }

    /// The build's account pushes and writes logs; nobody else gets a grant on the project
    /// (submitting builds would let a deployer run one as the project's default identity).
    #[test]
    fn only_an_image_built_here_has_a_build_account() {
        let deployers = "[access]\ndeployers = [\"group:d@x.example\"]\n";
        let built = deployment(deployers);
        let grants = |d: &crate::model::Deployment| -> Vec<(IamTarget, String)> {
            d.iam
                .iter()
                .filter(|g| g.principal == Principal::Build || g.target == IamTarget::Project)
                .map(|g| (g.target, g.role.clone()))
                .collect()
        };
        assert!(built.build_account.is_some());
        assert_eq!(
            grants(&built),
            [
                (IamTarget::StagingBucket, OBJECT_READER.1.to_string()),
                (IamTarget::Repository, REPO_WRITER.1.to_string()),
                (IamTarget::Project, "roles/logging.logWriter".to_string()),
            ]
        );
        let elsewhere = "[image]\nurl = \"us-docker.pkg.dev/proj-123/base/svc:1\"\n";
        let d = deployment_with_image(&format!("{elsewhere}{deployers}"));
        assert!(d.build_account.is_none() && d.staging_bucket.is_none());
        assert_eq!(grants(&d), []);
    }

    #[test]
    fn a_model_in_a_folder_is_read_through_its_managed_folder() {
        let d = deployment("").clone();
        assert!(d.iam.iter().all(|g| g.principal == Principal::Build));
        let text = super::super::fixture::BASE.replace("models/m.joblib", "gs://bkt/a/b/m.onnx");
        let s = super::super::fixture::spec_text(&text.replace("sklearn", "onnx"));
        let d = super::super::resolve(&s, &super::super::fixture::checked(&s), "m", "d");
        let g = &d.iam[0];
        assert_eq!(
            (g.target, g.resource.as_str()),
            (IamTarget::ManagedFolder, "bkt/a/b/")
        );
        assert_eq!(g.managed_folder(), ("bkt", "a/b/"));
        assert_eq!(
            (g.role.as_str(), g.before_service),
            ("roles/storage.objectViewer", true)
        );
    }

    #[test]
    fn an_image_of_another_project_is_pulled_by_the_service_agent() {
        let other = "[image]\nurl = \"us-docker.pkg.dev/shared-imgs/base/svc@sha256:abc\"\n";
        let d = deployment_with_image(other);
        let [g] = &d.iam[..] else {
            panic!("{:?}", d.iam)
        };
        assert_eq!(g.target, IamTarget::Repository);
        assert_eq!(g.repository(), ("shared-imgs", "us", "base"));
        assert_eq!(g.role, "roles/artifactregistry.reader");
        assert_eq!(g.principal, Principal::RunServiceAgent);
        assert_eq!(g.member, run_service_agent("PROJECT_NUMBER"));
        assert!(g.before_service);
        // This project's own registry, and other registries, need no grant.
        for url in [
            "us-docker.pkg.dev/proj-123/base/svc:1",
            "docker.io/library/python:3.12",
        ] {
            let d = deployment_with_image(&format!("[image]\nurl = \"{url}\"\n"));
            assert!(d.iam.is_empty(), "{url}");
        }
    }

    /// The fixture with its `[image]` table replaced.
    fn deployment_with_image(image: &str) -> crate::model::Deployment {
        let base = super::super::fixture::BASE
            .replace("[image]\nrepository = \"repo\"\ntag = \"1.0\"\n", image);
        let s = super::super::fixture::spec_text(&base);
        super::super::resolve(&s, &super::super::fixture::checked(&s), "m", "d")
    }

    #[test]
    fn the_runtime_reads_with_the_role_its_target_names() {
        let d = deployment("[secrets]\nK = { secret = \"s\", version = \"1\" }\n");
        let runtime: Vec<&IamGrant> = d
            .iam
            .iter()
            .filter(|g| g.principal == Principal::Runtime)
            .collect();
        assert!(!runtime.is_empty());
        for g in runtime {
            assert_eq!(g.target.runtime_read_role(), Some(g.role.as_str()), "{g:?}");
        }
        assert_eq!(IamTarget::Service.runtime_read_role(), None);
    }

    #[test]
    fn keys_name_the_subject_and_separate_collisions() {
        let mut used = BTreeSet::new();
        assert_eq!(unique_key(&mut used, "invoker", "a.b"), "invoker_a_b");
        assert_eq!(unique_key(&mut used, "invoker", "a-b"), "invoker_a_b_2");
        assert_eq!(
            member_id("serviceAccount:ci@p.iam.gserviceaccount.com"),
            "ci@p"
        );
        assert_eq!(ident("--A..b--"), "a_b");
    }
}
