//! The spec as written by the user: serde types that mirror `mlgen.toml` one to one.
//!
//! Every table denies unknown keys, and every value that a later check may reject is
//! `Spanned`, so the error can point at it. Nothing here decides defaults that the targets
//! depend on beyond plain serde defaults; derived values live in [`crate::model`].

pub mod cost;
pub mod load;
pub mod validate;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

pub use load::{SourceFile, load};

/// A whole `mlgen.toml`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The Cloud Run service.
    pub service: ServiceSpec,
    /// The model the service serves.
    pub model: ModelSpec,
    /// The Python image the model runs in.
    #[serde(default)]
    pub container: ContainerSpec,
    /// Where the image is pushed (Artifact Registry) or which image to run.
    #[serde(default)]
    pub image: ImageSpec,
    /// CPU, memory and GPU of each instance.
    #[serde(default)]
    pub resources: ResourcesSpec,
    /// Instance counts, concurrency and request timeout.
    #[serde(default)]
    pub scaling: ScalingSpec,
    /// The dedicated runtime identity the service runs as.
    pub service_account: ServiceAccountSpec,
    /// Who may call and deploy the service, and from where.
    #[serde(default)]
    pub access: AccessSpec,
    /// How the generated app batches and bounds requests.
    #[serde(default)]
    pub serving: ServingSpec,
    /// Plain environment variables. Credentials belong in [secrets].
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub env: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Environment variables read from Secret Manager: a reference, never a value.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, SecretRef>")]
    pub secrets: BTreeMap<Spanned<String>, Spanned<SecretRef>>,
    /// Inputs of the cost estimate `mlgen plan` prints.
    #[serde(default)]
    pub cost: CostSpec,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Cloud Run service name.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// GCP project id.
    #[schemars(with = "String")]
    pub project: Spanned<String>,
    /// Cloud Run region, e.g. europe-west1.
    #[schemars(with = "String")]
    pub region: Spanned<String>,
    /// Free text shown in the console.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub description: Option<Spanned<String>>,
    /// GCP labels: lowercase keys and values, up to 63 characters.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub labels: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Required on purpose: the provider defaults to `true`, which blocks `destroy`.
    pub deletion_protection: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    Sklearn,
    Xgboost,
    Lightgbm,
    Onnx,
}

impl Framework {
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::Sklearn => "sklearn",
            Framework::Xgboost => "xgboost",
            Framework::Lightgbm => "lightgbm",
            Framework::Onnx => "onnx",
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The library that loads and runs the model.
    #[schemars(with = "Framework")]
    pub framework: Spanned<Framework>,
    /// A path relative to the spec's folder, or `gs://bucket/object`.
    #[schemars(with = "String")]
    pub source: Spanned<String>,
    /// Input columns, in the order the model expects them.
    #[schemars(with = "Vec<String>")]
    pub features: Spanned<Vec<Spanned<String>>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// Python version of the image.
    #[serde(default = "default_python")]
    #[schemars(with = "String")]
    pub python: Spanned<String>,
    /// Extra pinned packages (`name==version`); mlgen adds the serving stack and the framework's runtime.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub requirements: Vec<Spanned<String>>,
    /// Port the app listens on (Cloud Run sets $PORT to it).
    #[serde(default = "default_port")]
    #[schemars(with = "i64")]
    pub port: Spanned<i64>,
    /// Overrides the pinned base image; must carry a tag or digest.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub base_image: Option<Spanned<String>>,
}

fn default_python() -> Spanned<String> {
    Spanned::new(0..0, "3.12".to_string())
}
fn default_port() -> Spanned<i64> {
    Spanned::new(0..0, 8080)
}

impl Default for ContainerSpec {
    fn default() -> Self {
        ContainerSpec {
            python: default_python(),
            requirements: Vec::new(),
            port: default_port(),
            base_image: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// Artifact Registry repository id, in the service's region.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub repository: Option<Spanned<String>>,
    /// Image tag; a new tag rolls out a new revision. `latest` is refused.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub tag: Option<Spanned<String>>,
    /// Image name inside the repository; the service name when omitted.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// A full image reference to deploy instead of the Artifact Registry one (a digest
    /// pin, or an image built elsewhere). gcr.io is refused.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
}

/// CPU as written: `1`, `2`, `0.5` or `"1"`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CpuValue {
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourcesSpec {
    /// vCPUs: 0.08 to below 1 (fractional), or 1, 2, 4, 6, 8.
    #[serde(default = "default_cpu")]
    #[schemars(with = "CpuValue")]
    pub cpu: Spanned<CpuValue>,
    /// Memory, e.g. `512Mi`, `2Gi`; the allowed range depends on the CPU.
    #[serde(default = "default_memory")]
    #[schemars(with = "String")]
    pub memory: Spanned<String>,
    /// GPU type, e.g. `nvidia-l4` (needs at least 4 CPU and 16Gi).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub gpu: Option<Spanned<String>>,
    /// Extra CPU while an instance starts, for faster model loading.
    #[serde(default = "default_true")]
    pub startup_cpu_boost: bool,
    /// Instance-based billing (`cpu_idle = false`); forced on with a GPU.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub cpu_always_allocated: Option<Spanned<bool>>,
    /// GPU only: opt out of zonal redundancy for a cheaper, best-effort service.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub gpu_zonal_redundancy: Option<Spanned<bool>>,
}

fn default_cpu() -> Spanned<CpuValue> {
    Spanned::new(0..0, CpuValue::Int(1))
}
fn default_memory() -> Spanned<String> {
    Spanned::new(0..0, "512Mi".to_string())
}
fn default_true() -> bool {
    true
}

impl Default for ResourcesSpec {
    fn default() -> Self {
        ResourcesSpec {
            cpu: default_cpu(),
            memory: default_memory(),
            gpu: None,
            startup_cpu_boost: true,
            cpu_always_allocated: None,
            gpu_zonal_redundancy: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScalingSpec {
    /// Instances kept warm (billed while idle).
    #[serde(default = "zero")]
    #[schemars(with = "i64")]
    pub min_instances: Spanned<i64>,
    /// Upper bound on instances.
    #[serde(default = "default_max")]
    #[schemars(with = "i64")]
    pub max_instances: Spanned<i64>,
    /// Requests one instance handles at once (1-1000).
    #[serde(default = "default_concurrency")]
    #[schemars(with = "i64")]
    pub concurrency: Spanned<i64>,
    /// Request timeout, `1s` to `3600s` (also `15m`, `1h`).
    #[serde(default = "default_timeout")]
    #[schemars(with = "String")]
    pub timeout: Spanned<String>,
}

fn zero() -> Spanned<i64> {
    Spanned::new(0..0, 0)
}
fn default_max() -> Spanned<i64> {
    Spanned::new(0..0, 10)
}
fn default_concurrency() -> Spanned<i64> {
    Spanned::new(0..0, 80)
}
fn default_timeout() -> Spanned<String> {
    Spanned::new(0..0, "300s".to_string())
}

impl Default for ScalingSpec {
    fn default() -> Self {
        ScalingSpec {
            min_instances: zero(),
            max_instances: default_max(),
            concurrency: default_concurrency(),
            timeout: default_timeout(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountSpec {
    /// Service account id: 6-30 lowercase letters, digits and hyphens.
    #[schemars(with = "String")]
    pub account_id: Spanned<String>,
    /// Human-readable name of the account.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub display_name: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Ingress {
    #[default]
    All,
    Internal,
    InternalAndCloudLoadBalancing,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessSpec {
    /// Where requests may come from.
    #[serde(default)]
    pub ingress: Ingress,
    /// `true` disables the invoker IAM check; `allUsers` is never generated.
    #[serde(default)]
    pub public: bool,
    /// IAM members granted roles/run.invoker on the service, e.g. `group:clients@example.com`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub invokers: Vec<Spanned<String>>,
    /// IAM members that may deploy as the runtime account (roles/iam.serviceAccountUser on it).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub deployers: Vec<Spanned<String>>,
}

impl Default for AccessSpec {
    fn default() -> Self {
        AccessSpec {
            ingress: Ingress::All,
            public: false,
            invokers: Vec::new(),
            deployers: Vec::new(),
        }
    }
}

/// How the generated app batches and bounds requests.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServingSpec {
    /// Most rows one model call takes when concurrent requests are batched.
    #[serde(default = "default_batch")]
    #[schemars(with = "i64")]
    pub max_batch_size: Spanned<i64>,
    /// How long the first request of a batch may wait for others, in milliseconds.
    #[serde(default = "default_wait")]
    #[schemars(with = "f64")]
    pub max_batch_wait_ms: Spanned<f64>,
    /// Request bodies above this many bytes get 413.
    #[serde(default = "default_body")]
    #[schemars(with = "i64")]
    pub max_request_bytes: Spanned<i64>,
    /// sklearn with a local model only: convert the model to ONNX at image build time.
    #[serde(default = "no")]
    #[schemars(with = "bool")]
    pub convert_to_onnx: Spanned<bool>,
}

fn no() -> Spanned<bool> {
    Spanned::new(0..0, false)
}
fn default_batch() -> Spanned<i64> {
    Spanned::new(0..0, 64)
}
fn default_wait() -> Spanned<f64> {
    Spanned::new(0..0, 2.0)
}
fn default_body() -> Spanned<i64> {
    Spanned::new(0..0, 10 * 1024 * 1024)
}

impl Default for ServingSpec {
    fn default() -> Self {
        ServingSpec {
            max_batch_size: default_batch(),
            max_batch_wait_ms: default_wait(),
            max_request_bytes: default_body(),
            convert_to_onnx: Spanned::new(0..0, false),
        }
    }
}

/// Inputs of the cost estimate `mlgen plan` prints.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostSpec {
    /// Mean time one request takes, in milliseconds; by default the benchmark's figure for
    /// the framework (data/pricing.toml).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub mean_request_ms: Option<Spanned<f64>>,
}

/// A Secret Manager reference: never a value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// Secret Manager secret id.
    pub secret: String,
    /// Pinned version number, e.g. "3".
    pub version: String,
}
