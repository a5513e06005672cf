//! The resolved deployment: every name, role, default and derived value, decided once.
//!
//! Renderers and templates read this and nothing else, so the Dockerfile, the app, Pulumi,
//! Terraform and gcloud cannot disagree. It also serialises to JSON (`mlgen model`), which
//! the parity tests compare with what each target actually deploys.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::platform::platform;
use crate::runtime::runtime;
use crate::spec::validate::{Checked, ModelSource, cpu_text, mib_text};
use crate::spec::{Framework, Ingress, ModelSpec, Spec};

/// Where the model is mounted when it comes from Cloud Storage.
pub const GCS_MOUNT_PATH: &str = "/mnt/model";
/// Where a baked-in model lives inside the image.
pub const IMAGE_MODEL_DIR: &str = "/app/model";
/// Serving routes, shared by the app and the probes.
pub const READY_PATH: &str = "/ready";
/// Not `/healthz`: Cloud Run reserves paths ending in `z` for its own use.
pub const LIVE_PATH: &str = "/live";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// File name of the spec, for generated-file headers.
    pub spec_name: String,
    pub service: Service,
    pub image: Image,
    /// The Artifact Registry repository to create; none for an image built elsewhere.
    pub repository: Option<Repository>,
    pub runtime_account: Account,
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
}

/// How the image is built: the spec's folder is the context, the output folder inside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Build {
    /// The output folder relative to the build context, `/`-separated (e.g. `deploy`).
    pub out_dir: String,
    /// The Dockerfile relative to the build context.
    pub dockerfile: String,
    /// The build context relative to the output folder (e.g. `..`).
    pub context_from_out: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub project: String,
    pub region: String,
    pub description: Option<String>,
    pub labels: Vec<Label>,
    pub deletion_protection: bool,
    /// gcloud spelling: `all`, `internal`, `internal-and-cloud-load-balancing`.
    pub ingress: String,
    /// API spelling: `INGRESS_TRAFFIC_ALL`, ...
    pub ingress_api: String,
    /// `true` turns the invoker IAM check off (never `allUsers`).
    pub invoker_iam_disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// The full reference the service runs.
    pub url: String,
    /// `false` when the spec names an image built elsewhere (`image.url`).
    pub built_here: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repository {
    pub id: String,
    pub location: String,
    pub project: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub display_name: String,
    pub email: String,
    /// `serviceAccount:EMAIL`.
    pub member: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    pub port: u16,
    /// As Cloud Run spells it: `1`, `0.5`.
    pub cpu: String,
    /// `512Mi`, `2Gi`.
    pub memory: String,
    pub gpu: Option<Gpu>,
    /// `false` = CPU always allocated (instance-based billing).
    pub cpu_idle: bool,
    pub startup_cpu_boost: bool,
    /// `gen1` or `gen2`.
    pub execution_environment: String,
    /// API spelling: `EXECUTION_ENVIRONMENT_GEN2`.
    pub execution_environment_api: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpu {
    pub kind: String,
    pub count: u32,
    pub zonal_redundancy: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    pub min_instances: u32,
    pub max_instances: u32,
    pub concurrency: u32,
    pub timeout_seconds: u32,
    /// `300s`, the form Terraform and Pulumi take.
    pub timeout: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretEnv {
    pub name: String,
    pub secret: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub bucket: String,
    pub read_only: bool,
    pub mount_path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probes {
    pub startup: Probe,
    pub liveness: Probe,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub path: String,
    pub port: u16,
    pub initial_delay_seconds: u32,
    pub period_seconds: u32,
    pub timeout_seconds: u32,
    pub failure_threshold: u32,
}

/// What an IAM grant is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IamTarget {
    /// A Secret Manager secret (`resource` = secret id).
    Secret,
    /// A Cloud Storage bucket (`resource` = bucket name).
    Bucket,
    /// The runtime service account (`resource` = its email).
    ServiceAccount,
    /// The Cloud Run service (`resource` = service name).
    Service,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IamGrant {
    /// Identifier for the IaC resource: unique, `[a-z0-9_]`, stable across reorderings.
    pub key: String,
    pub target: IamTarget,
    pub resource: String,
    pub role: String,
    pub member: String,
    /// Must exist before the service is deployed (secret and bucket access).
    pub before_service: bool,
    /// The member is the runtime account this deployment creates, so IaC refers to the
    /// account's resource (and so creates it first) instead of repeating its email.
    pub member_is_runtime: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub framework: String,
    /// For `local`: the path relative to the build context (the spec's folder).
    pub local_path: Option<String>,
    /// For `gcs`: the `gs://` URI.
    pub gcs_uri: Option<String>,
    /// Where the app finds the model at run time.
    pub container_path: String,
    pub file_name: String,
    pub features: Vec<Feature>,
    /// What the app calls the model with: `matrix` (floats) or `dataframe` (pandas).
    pub input: String,
    /// What each prediction is: `predict`, or `proba` (classes and their scores).
    pub output: String,
    /// sklearn only: convert to ONNX while building the image.
    pub convert_to_onnx: bool,
    /// The library that loads `container_path` at run time: `onnx` for a converted sklearn
    /// model, otherwise `framework`.
    pub serve_framework: String,
}

/// One input column, as the app checks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    /// `number`, `integer`, `boolean`, `string` or `category`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `category` only: the values it may take.
    pub values: Vec<String>,
}

/// The spec's features, each with its type.
fn features(model: &ModelSpec) -> Vec<Feature> {
    model
        .features
        .get_ref()
        .iter()
        .map(|f| Feature {
            name: f.get_ref().name().to_string(),
            kind: f.get_ref().kind().as_str().to_string(),
            values: f.get_ref().values(),
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Python {
    pub version: String,
    pub base_image: String,
    /// Everything the image installs, pinned, sorted by package name.
    pub requirements: Vec<String>,
    /// Installed only in the build stage, to convert the model.
    pub build_requirements: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Serving {
    /// Server processes: one per whole vCPU (one with a GPU).
    pub workers: u32,
    pub max_batch_size: u32,
    pub max_batch_wait_ms: f64,
    pub max_request_bytes: u64,
    /// Compute threads each worker gives the model library: the vCPUs left per worker.
    pub threads: u32,
    /// Where the model runs: `cpu`, or the GPU device the framework's data names (`cuda`).
    pub device: String,
}

/// Builds the deployment from a validated spec. `out_dir` is the output folder relative to
/// the spec's folder (`/`-separated, inside it).
pub fn resolve(spec: &Spec, checked: &Checked, spec_name: &str, out_dir: &str) -> Deployment {
    let name = spec.service.name.get_ref().clone();
    let project = spec.service.project.get_ref().clone();
    let region = spec.service.region.get_ref().clone();
    let framework = *spec.model.framework.get_ref();

    let (ingress, ingress_api) = match spec.access.ingress {
        Ingress::All => ("all", "INGRESS_TRAFFIC_ALL"),
        Ingress::Internal => ("internal", "INGRESS_TRAFFIC_INTERNAL_ONLY"),
        Ingress::InternalAndCloudLoadBalancing => (
            "internal-and-cloud-load-balancing",
            "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
        ),
    };
    let service = Service {
        name: name.clone(),
        project: project.clone(),
        region: region.clone(),
        description: spec
            .service
            .description
            .as_ref()
            .map(|d| d.get_ref().clone()),
        labels: spec
            .service
            .labels
            .iter()
            .map(|(k, v)| Label {
                key: k.get_ref().clone(),
                value: v.get_ref().clone(),
            })
            .collect(),
        deletion_protection: spec.service.deletion_protection,
        ingress: ingress.to_string(),
        ingress_api: ingress_api.to_string(),
        invoker_iam_disabled: spec.access.public,
    };

    let (image, repository) = match &spec.image.url {
        Some(url) => (
            Image {
                url: url.get_ref().clone(),
                built_here: false,
            },
            None,
        ),
        None => {
            let repo_id = spec.image.repository.as_ref().expect("validated").get_ref();
            let tag = spec.image.tag.as_ref().expect("validated").get_ref();
            let image_name = spec
                .image
                .name
                .as_ref()
                .map_or_else(|| name.clone(), |n| n.get_ref().clone());
            (
                Image {
                    url: format!("{region}-docker.pkg.dev/{project}/{repo_id}/{image_name}:{tag}"),
                    built_here: true,
                },
                Some(Repository {
                    id: repo_id.clone(),
                    location: region.clone(),
                    project: project.clone(),
                    description: format!("Container images for {name}"),
                }),
            )
        }
    };

    let account_id = spec.service_account.account_id.get_ref().clone();
    let email = format!("{account_id}@{project}.iam.gserviceaccount.com");
    let runtime_account = Account {
        display_name: spec
            .service_account
            .display_name
            .as_ref()
            .map_or_else(|| format!("{name} runtime"), |d| d.get_ref().clone()),
        member: format!("serviceAccount:{email}"),
        email,
        account_id,
    };

    let gpu = checked.gpu.map(|g| Gpu {
        kind: g.kind.clone(),
        count: 1,
        zonal_redundancy: spec
            .resources
            .gpu_zonal_redundancy
            .as_ref()
            .is_none_or(|z| *z.get_ref()),
    });
    // GPUs need instance-based billing; otherwise the user's choice, request-based by default.
    let cpu_idle = gpu.is_none()
        && !spec
            .resources
            .cpu_always_allocated
            .as_ref()
            .is_some_and(|a| *a.get_ref());
    // Fractional CPU only runs on gen1; everything else (GPU, Cloud Storage mounts) wants gen2.
    let gen2 = checked.millicpu >= 1000;
    let container = Container {
        port: *spec.container.port.get_ref() as u16,
        cpu: cpu_text(checked.millicpu),
        memory: mib_text(checked.memory_mib),
        gpu,
        cpu_idle,
        startup_cpu_boost: spec.resources.startup_cpu_boost,
        execution_environment: if gen2 { "gen2" } else { "gen1" }.to_string(),
        execution_environment_api: if gen2 {
            "EXECUTION_ENVIRONMENT_GEN2"
        } else {
            "EXECUTION_ENVIRONMENT_GEN1"
        }
        .to_string(),
    };

    let concurrency = *spec.scaling.concurrency.get_ref() as u32;
    let scaling = Scaling {
        min_instances: *spec.scaling.min_instances.get_ref() as u32,
        max_instances: *spec.scaling.max_instances.get_ref() as u32,
        concurrency,
        timeout_seconds: checked.timeout_s,
        timeout: format!("{}s", checked.timeout_s),
    };

    let env = spec
        .env
        .iter()
        .map(|(k, v)| EnvVar {
            name: k.get_ref().clone(),
            value: v.get_ref().clone(),
        })
        .collect();
    let secrets: Vec<SecretEnv> = spec
        .secrets
        .iter()
        .map(|(k, v)| SecretEnv {
            name: k.get_ref().clone(),
            secret: v.get_ref().secret.clone(),
            version: v.get_ref().version.clone(),
        })
        .collect();

    // Where the model comes from decides where the app finds it and what gets mounted.
    let (volumes, local_path, gcs_uri, source_path) = match &checked.source {
        ModelSource::Local { path } => (
            Vec::new(),
            Some(path.clone()),
            None,
            format!("{IMAGE_MODEL_DIR}/{}", file_name(path)),
        ),
        ModelSource::Gcs { bucket, object } => (
            vec![Volume {
                name: "model".to_string(),
                bucket: bucket.clone(),
                read_only: true,
                mount_path: GCS_MOUNT_PATH.to_string(),
            }],
            None,
            Some(format!("gs://{bucket}/{object}")),
            format!("{GCS_MOUNT_PATH}/{object}"),
        ),
    };
    let convert_to_onnx = *spec.serving.convert_to_onnx.get_ref();
    // A converted model is written next to where the original would be, as `.onnx`.
    let container_path = if convert_to_onnx {
        let stem = source_path
            .rsplit_once('.')
            .map_or(source_path.as_str(), |(s, _)| s);
        format!("{stem}.onnx")
    } else {
        source_path.clone()
    };
    let serve_framework = if convert_to_onnx {
        Framework::Onnx.as_str()
    } else {
        framework.as_str()
    };
    let model = Model {
        framework: framework.as_str().to_string(),
        file_name: file_name(&source_path),
        local_path,
        gcs_uri,
        container_path,
        features: features(&spec.model),
        input: if spec.model.takes_dataframe() {
            "dataframe"
        } else {
            "matrix"
        }
        .to_string(),
        output: spec.model.output.as_str().to_string(),
        convert_to_onnx,
        serve_framework: serve_framework.to_string(),
    };

    let port = container.port;
    // Startup window: 48 x 5 s = 240 s, the documented maximum for services.
    let probes = Probes {
        startup: Probe {
            path: READY_PATH.to_string(),
            port,
            initial_delay_seconds: 0,
            period_seconds: 5,
            timeout_seconds: 3,
            failure_threshold: 48,
        },
        liveness: Probe {
            path: LIVE_PATH.to_string(),
            port,
            initial_delay_seconds: 0,
            period_seconds: 30,
            timeout_seconds: 5,
            failure_threshold: 3,
        },
    };

    let iam = grants(spec, &runtime_account, &secrets, &volumes, &name);

    let mut apis: BTreeSet<&str> = ["run.googleapis.com", "iam.googleapis.com"].into();
    if repository.is_some() {
        // The image is built with Cloud Build and pushed to Artifact Registry.
        apis.insert("artifactregistry.googleapis.com");
        apis.insert("cloudbuild.googleapis.com");
    }
    if !secrets.is_empty() {
        apis.insert("secretmanager.googleapis.com");
    }
    if !volumes.is_empty() {
        apis.insert("storage.googleapis.com");
    }

    let gpu_on = container.gpu.is_some();
    let python = python(spec, framework, convert_to_onnx, gpu_on);
    let rt_framework = &runtime().frameworks[serve_framework];
    let workers = if gpu_on {
        1
    } else {
        (checked.millicpu / 1000).max(1)
    };
    let serving = Serving {
        workers,
        max_batch_size: *spec.serving.max_batch_size.get_ref() as u32,
        max_batch_wait_ms: *spec.serving.max_batch_wait_ms.get_ref(),
        max_request_bytes: *spec.serving.max_request_bytes.get_ref() as u64,
        threads: (checked.millicpu / 1000 / workers).max(1),
        device: match (&rt_framework.gpu_device, gpu_on) {
            (Some(device), true) => device.clone(),
            _ => "cpu".to_string(),
        },
    };

    Deployment {
        spec_name: spec_name.to_string(),
        service,
        image,
        repository,
        runtime_account,
        apis: apis.into_iter().map(str::to_string).collect(),
        container,
        scaling,
        env,
        secrets,
        volumes,
        probes,
        iam,
        model,
        python,
        serving,
        build: Build {
            out_dir: out_dir.to_string(),
            dockerfile: format!("{out_dir}/Dockerfile"),
            context_from_out: out_dir
                .split('/')
                .map(|_| "..")
                .collect::<Vec<_>>()
                .join("/"),
        },
    }
}

/// Least privilege, each grant on the one resource that needs it.
fn grants(
    spec: &Spec,
    runtime: &Account,
    secrets: &[SecretEnv],
    volumes: &[Volume],
    service: &str,
) -> Vec<IamGrant> {
    let mut out = Vec::new();
    let mut keys = BTreeSet::new();
    let mut push = |prefix: &str, target, resource: &str, role: &str, member: &str, before| {
        let key = unique_key(&mut keys, prefix, resource, member);
        out.push(IamGrant {
            key,
            target,
            resource: resource.to_string(),
            role: role.to_string(),
            member: member.to_string(),
            before_service: before,
            member_is_runtime: member == runtime.member,
        });
    };
    let distinct_secrets: BTreeSet<&str> = secrets.iter().map(|s| s.secret.as_str()).collect();
    for secret in distinct_secrets {
        push(
            "secret_access",
            IamTarget::Secret,
            secret,
            "roles/secretmanager.secretAccessor",
            &runtime.member,
            true,
        );
    }
    for v in volumes {
        push(
            "model_read",
            IamTarget::Bucket,
            &v.bucket,
            "roles/storage.objectViewer",
            &runtime.member,
            true,
        );
    }
    for d in &spec.access.deployers {
        push(
            "deployer_act_as",
            IamTarget::ServiceAccount,
            &runtime.email,
            "roles/iam.serviceAccountUser",
            d.get_ref(),
            false,
        );
    }
    for i in &spec.access.invokers {
        push(
            "invoker",
            IamTarget::Service,
            service,
            "roles/run.invoker",
            i.get_ref(),
            false,
        );
    }
    out
}

/// `prefix_slug`, where the slug names the member (and the resource where several share a
/// prefix), so keys survive reordering of the spec's lists.
fn unique_key(used: &mut BTreeSet<String>, prefix: &str, resource: &str, member: &str) -> String {
    let subject = match prefix {
        "secret_access" | "model_read" => resource,
        _ => {
            let id = member.split_once(':').map_or(member, |(_, id)| id);
            // The account's project says enough; the domain suffix only makes keys long.
            id.strip_suffix(".iam.gserviceaccount.com")
                .or_else(|| id.strip_suffix(".gserviceaccount.com"))
                .unwrap_or(id)
        }
    };
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

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// The image's pinned package set: serving stack, framework runtime, user pins; the user's
/// pin wins when it names the same package.
fn python(spec: &Spec, framework: Framework, convert_to_onnx: bool, gpu: bool) -> Python {
    let rt = runtime();
    let version = spec.container.python.get_ref().clone();
    let base_image = spec.container.base_image.as_ref().map_or_else(
        || platform().python[&version].clone(),
        |b| b.get_ref().clone(),
    );
    let mut reqs: BTreeMap<String, String> = BTreeMap::new();
    let mut add = |req: &str| {
        reqs.insert(package_name(req), req.to_string());
    };
    rt.serving.packages.iter().for_each(|r| add(r));
    if spec.model.takes_dataframe() {
        rt.frameworks["pandas"].packages.iter().for_each(|r| add(r));
    }
    let fw = if convert_to_onnx {
        &rt.frameworks["onnx"]
    } else {
        &rt.frameworks[framework.as_str()]
    };
    let fw_packages = match &fw.gpu_packages {
        Some(gpu_packages) if gpu => gpu_packages,
        _ => &fw.packages,
    };
    let user_names: BTreeSet<String> = spec
        .container
        .requirements
        .iter()
        .map(|r| package_name(r.get_ref()))
        .collect();
    for r in fw_packages {
        let name = package_name(r);
        // A user pin of another distribution of the same module replaces ours.
        let replaced =
            fw.provided_by.contains(&name) && fw.provided_by.iter().any(|p| user_names.contains(p));
        if !replaced {
            add(r);
        }
    }
    spec.container
        .requirements
        .iter()
        .for_each(|r| add(r.get_ref()));
    let build_requirements = if convert_to_onnx {
        let mut b: BTreeMap<String, String> = BTreeMap::new();
        for r in rt.frameworks["sklearn"]
            .packages
            .iter()
            .chain(&rt.frameworks["onnx"].packages)
            .chain(&rt.onnx_conversion.packages)
            .chain(&rt.serving.packages)
        {
            b.insert(package_name(r), r.clone());
        }
        for r in &spec.container.requirements {
            b.insert(package_name(r.get_ref()), r.get_ref().clone());
        }
        b.into_values().collect()
    } else {
        Vec::new()
    };
    Python {
        version,
        base_image,
        requirements: reqs.into_values().collect(),
        build_requirements,
    }
}

/// Normalised package name (PEP 503), without extras or version.
pub fn package_name(req: &str) -> String {
    let name = req
        .split(['=', '[', '<', '>', '!', '~'])
        .next()
        .unwrap_or(req);
    name.trim().to_ascii_lowercase().replace(['_', '.'], "-")
}
