//! The spec as written by the user: serde types that mirror `mlgen.toml` one to one.
//!
//! Every table denies unknown keys, and every value that a later check may reject is
//! `Spanned`, so the error can point at it. Nothing here decides defaults that the targets
//! depend on beyond plain serde defaults; derived values live in [`crate::model`].

pub mod load;
pub mod validate;

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub use load::{SourceFile, load};

/// A whole `mlgen.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub service: ServiceSpec,
    pub model: ModelSpec,
    #[serde(default)]
    pub container: ContainerSpec,
    #[serde(default)]
    pub image: ImageSpec,
    #[serde(default)]
    pub resources: ResourcesSpec,
    #[serde(default)]
    pub scaling: ScalingSpec,
    pub service_account: ServiceAccountSpec,
    #[serde(default)]
    pub access: AccessSpec,
    #[serde(default)]
    pub serving: ServingSpec,
    #[serde(default)]
    pub env: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub secrets: BTreeMap<Spanned<String>, Spanned<SecretRef>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Cloud Run service name.
    pub name: Spanned<String>,
    /// GCP project id.
    pub project: Spanned<String>,
    pub region: Spanned<String>,
    #[serde(default)]
    pub description: Option<Spanned<String>>,
    #[serde(default)]
    pub labels: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Required on purpose: the provider defaults to `true`, which blocks `destroy`.
    pub deletion_protection: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub framework: Spanned<Framework>,
    /// A path relative to the spec's folder, or `gs://bucket/object`.
    pub source: Spanned<String>,
    pub features: Spanned<Vec<Spanned<String>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    #[serde(default = "default_python")]
    pub python: Spanned<String>,
    #[serde(default)]
    pub requirements: Vec<Spanned<String>>,
    #[serde(default = "default_port")]
    pub port: Spanned<i64>,
    /// Overrides the pinned base image; must carry a tag or digest.
    #[serde(default)]
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// Artifact Registry repository id, in the service's region.
    #[serde(default)]
    pub repository: Option<Spanned<String>>,
    #[serde(default)]
    pub tag: Option<Spanned<String>>,
    /// Image name inside the repository; the service name when omitted.
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// A full image reference to deploy instead of the Artifact Registry one (a digest
    /// pin, or an image built elsewhere). gcr.io is refused.
    #[serde(default)]
    pub url: Option<Spanned<String>>,
}

/// CPU as written: `1`, `2`, `0.5` or `"1"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum CpuValue {
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesSpec {
    #[serde(default = "default_cpu")]
    pub cpu: Spanned<CpuValue>,
    #[serde(default = "default_memory")]
    pub memory: Spanned<String>,
    #[serde(default)]
    pub gpu: Option<Spanned<String>>,
    #[serde(default = "default_true")]
    pub startup_cpu_boost: bool,
    /// Instance-based billing (`cpu_idle = false`); forced on with a GPU.
    #[serde(default)]
    pub cpu_always_allocated: Option<Spanned<bool>>,
    /// GPU only: opt out of zonal redundancy for a cheaper, best-effort service.
    #[serde(default)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingSpec {
    #[serde(default = "zero")]
    pub min_instances: Spanned<i64>,
    #[serde(default = "default_max")]
    pub max_instances: Spanned<i64>,
    #[serde(default = "default_concurrency")]
    pub concurrency: Spanned<i64>,
    #[serde(default = "default_timeout")]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountSpec {
    pub account_id: Spanned<String>,
    #[serde(default)]
    pub display_name: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Ingress {
    #[default]
    All,
    Internal,
    InternalAndCloudLoadBalancing,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessSpec {
    #[serde(default)]
    pub ingress: Ingress,
    /// `true` disables the invoker IAM check; `allUsers` is never generated.
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub invokers: Vec<Spanned<String>>,
    #[serde(default)]
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServingSpec {
    /// Most rows one model call takes when concurrent requests are batched.
    #[serde(default = "default_batch")]
    pub max_batch_size: Spanned<i64>,
    /// How long the first request of a batch may wait for others, in milliseconds.
    #[serde(default = "default_wait")]
    pub max_batch_wait_ms: Spanned<f64>,
    /// Request bodies above this many bytes get 413.
    #[serde(default = "default_body")]
    pub max_request_bytes: Spanned<i64>,
    /// sklearn only: convert the model to ONNX at image build time.
    #[serde(default = "no")]
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

/// A Secret Manager reference: never a value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub secret: String,
    pub version: String,
}
