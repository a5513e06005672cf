//! The resolved deployment: every name, role, default and derived value, decided once.
//!
//! Renderers and templates read this and nothing else, so the Dockerfile, the app, Pulumi,
//! Terraform and gcloud cannot disagree. A fact more than one target states is decided
//! here, in the polarity and spelling of the Cloud Run API where the targets differ; a
//! renderer maps it to its own spelling in one place. It also serialises to JSON
//! (`mlgen model`), which the parity tests compare with what each target actually deploys.
//!
//! One module per spec table; [`resolve`] only composes them.

mod account;
mod ci;
mod container;
mod env;
mod iam;
mod image;
pub mod lock;
mod monitoring;
mod probes;
mod python;
mod quota;
mod rollout;
mod scaling;
mod service;
mod serving;
mod source;
mod staging;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub use account::{Account, named_ids};
pub use ci::{
    CLOUDBUILD_CONFIG, Ci, CiBuild, CiGrant, CiGrantOn, Environment, Federation, GITHUB_WORKFLOW,
    Trigger,
};
pub use container::{Container, Gpu};
pub use env::{EnvVar, SecretEnv};
pub use iam::{IamGrant, IamTarget, Principal, run_service_agent};
pub use image::{BUILD_CONFIG, BUILD_IGNORE_FILE, Build, Image, Promotion, Repository};
pub use monitoring::{
    AlertPolicy, Channel, Chart, Condition, Dashboard, Monitoring, Series, UptimeCheck, metrics,
};
pub use probes::{LIVE_PATH, Probe, ProbeSetting, Probes, READY_PATH};
pub use python::{Python, package_name};
pub use quota::GpuQuota;
pub use rollout::{RevisionKey, RevisionName, Rollout, Split};
pub use scaling::Scaling;
pub use service::{Label, Service};
pub use serving::Serving;
pub use source::{
    Feature, GCS_MOUNT_PATH, Handler, IMAGE_HANDLER_DIR, IMAGE_MODEL_DIR, Model, ModelFile, Volume,
    serve_framework,
};
pub use staging::StagingBucket;

use crate::spec::Spec;
use crate::spec::validate::Checked;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// File name of the spec, for generated-file headers.
    pub spec_name: String,
    /// The spec's environment this deploys; none for a spec without `[environments]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub service: Service,
    pub image: Image,
    /// The Artifact Registry repository to create; none for an image built elsewhere.
    pub repository: Option<Repository>,
    pub runtime_account: Account,
    /// The account the image build runs as; none for an image built elsewhere.
    pub build_account: Option<Account>,
    /// The bucket the build's source is uploaded to; none for an image built elsewhere.
    pub staging_bucket: Option<StagingBucket>,
    /// APIs to enable, sorted.
    pub apis: Vec<String>,
    pub container: Container,
    pub scaling: Scaling,
    /// Plain env vars, sorted by name.
    pub env: Vec<EnvVar>,
    /// Env vars read from Secret Manager, sorted by name.
    pub secrets: Vec<SecretEnv>,
    pub volumes: Vec<Volume>,
    pub probes: Probes,
    /// Every IAM grant, in creation order.
    pub iam: Vec<IamGrant>,
    pub model: Model,
    pub python: Python,
    pub serving: Serving,
    pub build: Build,
    /// What the cost estimate `plan` prints depends on.
    pub cost: crate::cost::Inputs,
    /// Alert policies, channels, uptime check and dashboard; only with `[monitoring]`.
    pub monitoring: Option<Monitoring>,
    /// The deploy pipeline, when the spec has `[ci]`.
    pub ci: Option<Ci>,
    /// Revision names and traffic splits of a canary; none for `all-at-once`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    /// The GPU quota every target checks first; only with a GPU.
    pub gpu_quota: Option<GpuQuota>,
}

/// Builds the deployment from a validated spec. `out_dir` is the output folder relative to
/// the spec's folder (`/`-separated, inside it).
pub fn resolve(spec: &Spec, checked: &Checked, spec_name: &str, out_dir: &str) -> Deployment {
    resolve_one(spec, checked, spec_name, out_dir, None)
}

/// One deployment per environment, in the spec's order, each in its own folder under
/// `out_dir` (one deployment in `out_dir` for a spec without environments). The first
/// environment builds the image; every later one deploys that image by digest, and the
/// deploy pipeline, which lives with the build, deploys to each in turn.
pub fn resolve_all(specs: &[(Spec, Checked)], spec_name: &str, out_dir: &str) -> Vec<Deployment> {
    let mut out: Vec<Deployment> = Vec::new();
    for (spec, checked) in specs {
        let dir = match &spec.environment {
            Some(env) => format!("{out_dir}/{}", env.name),
            None => out_dir.to_string(),
        };
        let first = out.first().map(First::of);
        let d = resolve_one(spec, checked, spec_name, &dir, first.as_ref());
        out.push(d);
    }
    let environments = ci::environments(specs, &out);
    if let (Some(Deployment { ci: Some(ci), .. }), Some(envs)) = (out.first_mut(), environments) {
        ci.deploy_to(envs);
    }
    for later in out.iter_mut().skip(1) {
        later.ci = None;
    }
    out
}

/// What a later environment takes from the first: the image it built, and the deploy
/// pipeline's account, which deploys to every environment.
struct First {
    name: String,
    image: Image,
    pipeline: Option<String>,
}

impl First {
    fn of(d: &Deployment) -> Self {
        First {
            name: d.environment.clone().unwrap_or_default(),
            image: d.image.clone(),
            pipeline: d.ci.as_ref().map(|c| c.account.member.clone()),
        }
    }
}

/// `first`: for a later environment, what it takes from the first.
fn resolve_one(
    spec: &Spec,
    checked: &Checked,
    spec_name: &str,
    out_dir: &str,
    first: Option<&First>,
) -> Deployment {
    let service = service::resolve(spec);
    let (image, repository) = match first {
        Some(f) => (image::promoted(&f.image, &f.name), None),
        None => image::resolve(&spec.image, &service),
    };
    let runtime_account = account::resolve(&spec.service_account, &service);
    let build_account = image.built_here.then(|| account::build(&service));
    let staging_bucket = image.built_here.then(|| staging::resolve(&service));
    let container = container::resolve(spec, checked);
    let secrets = env::secrets(spec);
    let (model, volume) = source::resolve(spec, checked);
    let volumes: Vec<Volume> = volume.into_iter().collect();
    let iam = iam::grants(&iam::Inputs {
        access: &spec.access,
        pipeline: first.and_then(|f| f.pipeline.as_deref()),
        service: &service,
        runtime: &runtime_account,
        build: build_account.as_ref(),
        staging: staging_bucket.as_ref(),
        image: &image,
        repository: repository.as_ref(),
        secrets: &secrets,
        volumes: &volumes,
    });
    let gpu = container.gpu.is_some();
    let gpu_quota = quota::resolve(container.gpu.as_ref(), &service);
    let scaling = scaling::resolve(&spec.scaling, checked);
    let cost = crate::cost::Inputs::of(
        &service,
        &container,
        &scaling,
        &model.serve_framework,
        spec.cost.mean_request_ms.as_ref().map(|m| *m.get_ref()),
    );
    let probes = Probes::on_port(container.port);
    let environment = spec.environment.as_ref().map(|e| e.name.clone());
    let monitoring = monitoring::resolve(
        spec.monitoring.as_ref(),
        &monitoring::Inputs {
            environment: environment.as_deref(),
            service: &service,
            scaling: &scaling,
            probes: &probes,
            gpu,
        },
    );
    let mut d = Deployment {
        spec_name: spec_name.to_string(),
        environment,
        apis: apis(
            repository.is_some(),
            !secrets.is_empty(),
            !volumes.is_empty(),
            monitoring.is_some(),
            gpu,
        ),
        image,
        repository,
        runtime_account,
        build_account,
        staging_bucket,
        scaling,
        env: env::plain(spec),
        secrets,
        volumes,
        probes,
        iam,
        python: python::resolve(&spec.container, &model, gpu, checked.spec_lock.as_ref()),
        serving: serving::resolve(&spec.serving, checked, &model.serve_framework, gpu),
        build: Build::new(out_dir, &model),
        model,
        container,
        service,
        cost,
        monitoring,
        ci: None,
        rollout: None,
        gpu_quota,
    };
    d.rollout = rollout::resolve(
        &spec.rollout,
        &d.service,
        d.image.built_here,
        &rollout::Template {
            container: &d.container,
            scaling: &d.scaling,
            env: &d.env,
            secrets: &d.secrets,
            volumes: &d.volumes,
            probes: &d.probes,
            account: &d.runtime_account,
        },
    );
    d.ci = spec.ci.as_ref().map(|c| ci::resolve(c, &d));
    d
}

/// The APIs the deployment calls, sorted.
fn apis(
    image_built_here: bool,
    secrets: bool,
    volumes: bool,
    monitoring: bool,
    gpu: bool,
) -> Vec<String> {
    let mut apis: BTreeSet<&str> = ["run.googleapis.com", "iam.googleapis.com"].into();
    if image_built_here {
        // The image is built with Cloud Build from a source staged in Cloud Storage, and
        // pushed to Artifact Registry.
        apis.extend([
            "artifactregistry.googleapis.com",
            "cloudbuild.googleapis.com",
            "storage.googleapis.com",
        ]);
    }
    if secrets {
        apis.insert("secretmanager.googleapis.com");
    }
    if volumes {
        apis.insert("storage.googleapis.com");
    }
    if monitoring {
        apis.insert("monitoring.googleapis.com");
    }
    if gpu {
        // The GPU quota is read through the Cloud Quotas API before anything is created.
        apis.insert("cloudquotas.googleapis.com");
    }
    apis.into_iter().map(str::to_string).collect()
}

/// Small valid specs for the unit tests beside each part of the model.
#[cfg(test)]
mod fixture {
    use std::path::PathBuf;

    use super::Deployment;
    use crate::spec::validate::{Checked, validate};
    use crate::spec::{SourceFile, Spec, load};

    /// A minimal valid spec; tests append tables (`[env]`, `[service.labels]`) to it.
    pub const BASE: &str = r#"
[service]
name = "svc"
project = "proj-123"
region = "europe-west1"
deletion_protection = false

[model]
framework = "sklearn"
source = "models/m.joblib"
features = ["a", "b"]

[image]
repository = "repo"
tag = "1.0"

[service_account]
account_id = "svc-runtime"
"#;

    pub fn spec_text(text: &str) -> Spec {
        let file = SourceFile {
            path: PathBuf::from("mlgen.toml"),
            text: text.to_string(),
        };
        load::parse(&file).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`BASE`] with `extra` appended.
    pub fn spec(extra: &str) -> Spec {
        spec_text(&format!("{BASE}{extra}"))
    }

    pub fn checked(spec: &Spec) -> Checked {
        validate(spec).unwrap_or_else(|d| panic!("{d:?}"))
    }

    pub fn deployment(extra: &str) -> Deployment {
        let s = spec(extra);
        super::resolve(&s, &checked(&s), "mlgen.toml", "deploy")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apis_follow_what_the_deployment_uses() {
        assert_eq!(
            apis(false, false, false, false, false),
            ["iam.googleapis.com", "run.googleapis.com"]
        );
        let all = apis(true, true, true, true, true);
        assert_eq!(all.len(), 8);
        // The build's source is staged in Cloud Storage.
        assert!(apis(true, false, false, false, false).contains(&"storage.googleapis.com".into()));
        assert!(all.is_sorted());
    }

    #[test]
    fn a_gcs_model_mounts_its_bucket_and_grants_read() {
        let d = fixture::deployment("");
        let build_only = d.iam.iter().all(|g| g.principal == iam::Principal::Build);
        assert!(d.volumes.is_empty() && build_only);
        let text = fixture::BASE.replace("models/m.joblib", "gs://bkt/m.joblib");
        let s = fixture::spec_text(&text);
        let d = resolve(&s, &fixture::checked(&s), "mlgen.toml", "deploy");
        assert_eq!(d.volumes[0].bucket, "bkt");
        let g = &d.iam[0];
        assert_eq!((g.target, g.resource.as_str()), (IamTarget::Bucket, "bkt"));
        // Cloud Run checks the mount's access when deploying.
        assert!(g.before_service && g.principal == Principal::Runtime);
        assert!(d.apis.contains(&"storage.googleapis.com".to_string()));
    }
}
