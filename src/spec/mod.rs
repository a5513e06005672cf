//! The spec as written by the user: serde types that mirror `mlgen.toml` one to one.
//!
//! Every table denies unknown keys, and every value that a later check may reject is
//! `Spanned`, so the error can point at it. Nothing here decides defaults that the targets
//! depend on beyond plain serde defaults; derived values live in [`crate::model`].
//!
//! Each optional table's `Default` impl is the one source of its default values: serde
//! uses it both for an omitted table and for a key left out of a written one.

pub mod environments;
mod explain;
mod layout;
pub mod load;
mod required;
mod shape;
pub mod validate;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Serialize};
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
    /// Alert policies, an uptime check and a dashboard in Cloud Monitoring; none without it.
    #[serde(default)]
    pub monitoring: Option<MonitoringSpec>,
    /// The pipeline that deploys on merge, with keyless authentication.
    #[serde(default)]
    pub ci: Option<CiSpec>,
    /// Where the service is deployed, in order: each environment overrides the keys that
    /// differ (project, region, labels, image repository, resources, scaling, access, env,
    /// secrets); the first one builds the image, the others deploy it by digest.
    // `load::parse_all` takes the table out of the document and fills this in.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, environments::EnvironmentSpec>")]
    pub environments: Vec<environments::Environment>,
    /// The environment this spec is, with its overrides merged in, filled in by
    /// [`load::parse_all`]; none without `[environments]`.
    #[serde(skip)]
    #[schemars(skip)]
    pub environment: Option<environments::Environment>,
    /// How a new revision takes traffic: all at once, or as a tagged canary in steps.
    #[serde(default)]
    pub rollout: RolloutSpec,
    /// Where each table sits in the text, filled in by [`load::parse`].
    #[serde(skip)]
    #[schemars(skip)]
    pub(crate) layout: layout::Layout,
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
    // The service's own Python class (`handler`) loads and runs the model.
    Custom,
}

impl Framework {
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::Sklearn => "sklearn",
            Framework::Xgboost => "xgboost",
            Framework::Lightgbm => "lightgbm",
            Framework::Onnx => "onnx",
            Framework::Custom => "custom",
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The library that loads and runs the model.
    #[schemars(with = "Framework")]
    pub framework: Spanned<Framework>,
    /// A path relative to the spec's folder, or `gs://bucket/object`. Only a custom
    /// handler may go without one: its `load` then gets `None`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub source: Option<Spanned<String>>,
    /// Input columns, in the order the model expects them: a name (a number), or a table
    /// `{ name, type, values }` for another type. A custom handler without them receives
    /// each instance as the request sent it.
    #[serde(default = "no_features")]
    #[schemars(with = "Vec<FeatureSpec>")]
    pub features: Spanned<Vec<Spanned<FeatureSpec>>>,
    /// What the model is called with: `matrix` (a float array in feature order) or
    /// `dataframe` (sklearn only: a pandas DataFrame with the features' names and types).
    /// When omitted, a DataFrame where a feature is a string or category, else a matrix.
    #[serde(default)]
    #[schemars(with = "Option<ModelInput>")]
    pub input: Option<Spanned<ModelInput>>,
    /// What each prediction is: `predict` (the model's prediction) or `proba` (a
    /// classifier's `{"classes": [...], "scores": [...]}`).
    #[serde(default)]
    pub output: ModelOutput,
    /// `framework = "custom"` only: `FILE.py:CLASS`, a Python file beside the spec and the
    /// class in it that loads the model and predicts.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub handler: Option<Spanned<String>>,
}

fn no_features() -> Spanned<Vec<Spanned<FeatureSpec>>> {
    unset(Vec::new())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelOutput {
    #[default]
    Predict,
    Proba,
}

impl ModelOutput {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelOutput::Predict => "predict",
            ModelOutput::Proba => "proba",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelInput {
    Matrix,
    Dataframe,
}

impl ModelSpec {
    /// Whether the model is called with a DataFrame: asked for, or a feature holds text.
    pub fn takes_dataframe(&self) -> bool {
        match &self.input {
            Some(input) => *input.get_ref() == ModelInput::Dataframe,
            None => self.features.get_ref().iter().any(|f| {
                matches!(
                    f.get_ref().kind(),
                    FeatureType::String | FeatureType::Category
                )
            }),
        }
    }
}

/// One input column as written: a bare name is a number.
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
pub enum FeatureSpec {
    /// A number column.
    Name(String),
    /// A column with its type.
    Typed(TypedFeatureSpec),
}

/// What serde says a feature entry takes, matched in explain.rs to say it in the spec's words.
pub(crate) const FEATURE_EXPECTED: &str = "a feature name or a feature table";

// By hand rather than `untagged`, so an entry's own error (an unknown key, a type that is
// not one of the names) reaches the user instead of "did not match any variant".
impl<'de> Deserialize<'de> for FeatureSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = FeatureSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(FEATURE_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<FeatureSpec, E> {
                Ok(FeatureSpec::Name(name.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FeatureSpec, A::Error> {
                TypedFeatureSpec::deserialize(MapAccessDeserializer::new(map))
                    .map(FeatureSpec::Typed)
            }
        }
        deserializer.deserialize_any(Entry)
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypedFeatureSpec {
    /// The column's name.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// The JSON values the column takes; `number` when omitted.
    #[serde(default, rename = "type")]
    #[schemars(rename = "type", with = "Option<FeatureType>")]
    pub kind: Option<Spanned<FeatureType>>,
    /// `category` only, and required there: the values the column may take.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub values: Option<Spanned<Vec<Spanned<String>>>>,
}

/// What a feature's values are: `number` (any JSON number), `integer` (a whole number),
/// `boolean`, `string` (any text) or `category` (one of the feature's `values`). `null` is a
/// missing value in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FeatureType {
    Number,
    Integer,
    Boolean,
    String,
    Category,
}

impl FeatureType {
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureType::Number => "number",
            FeatureType::Integer => "integer",
            FeatureType::Boolean => "boolean",
            FeatureType::String => "string",
            FeatureType::Category => "category",
        }
    }
}

impl FeatureSpec {
    pub fn name(&self) -> &str {
        match self {
            FeatureSpec::Name(name) => name,
            FeatureSpec::Typed(t) => t.name.get_ref(),
        }
    }

    pub fn kind(&self) -> FeatureType {
        match self {
            FeatureSpec::Name(_) => FeatureType::Number,
            FeatureSpec::Typed(t) => t
                .kind
                .as_ref()
                .map_or(FeatureType::Number, |k| *k.get_ref()),
        }
    }

    /// A category's values as written; empty for other types.
    pub fn values(&self) -> Vec<String> {
        match self {
            FeatureSpec::Typed(TypedFeatureSpec {
                values: Some(values),
                ..
            }) => values
                .get_ref()
                .iter()
                .map(|v| v.get_ref().clone())
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ContainerSpec {
    /// Python version of the image.
    #[schemars(with = "String")]
    pub python: Spanned<String>,
    /// Extra pinned packages (`name==version`); mlgen adds the serving stack and the framework's runtime.
    #[schemars(with = "Vec<String>")]
    pub requirements: Vec<Spanned<String>>,
    /// Port the app listens on (Cloud Run sets $PORT to it).
    #[schemars(with = "i64")]
    pub port: Spanned<i64>,
    /// Overrides the pinned base image; must carry a tag or digest.
    #[schemars(with = "Option<String>")]
    pub base_image: Option<Spanned<String>>,
    /// Files and folders (ending in `/`) beside the spec that a custom handler reads,
    /// copied into the image next to it.
    #[schemars(with = "Vec<String>")]
    pub include: Vec<Spanned<String>>,
}

impl Default for ContainerSpec {
    fn default() -> Self {
        ContainerSpec {
            python: unset("3.12".to_string()),
            requirements: Vec::new(),
            port: unset(8080),
            base_image: None,
            include: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ImageSpec {
    /// Artifact Registry repository id, in the service's region.
    #[schemars(with = "Option<String>")]
    pub repository: Option<Spanned<String>>,
    /// Image tag; a new tag rolls out a new revision. `latest` is refused.
    #[schemars(with = "Option<String>")]
    pub tag: Option<Spanned<String>>,
    /// Image name inside the repository; the service name when omitted.
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// A full image reference to deploy instead of the Artifact Registry one (a digest
    /// pin, or an image built elsewhere). gcr.io is refused.
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// The repository exists already, shared with other images: every target checks it
    /// before creating anything and pushes into it, and none creates or deletes it.
    #[schemars(with = "Option<bool>")]
    pub repository_exists: Option<Spanned<bool>>,
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
#[serde(default, deny_unknown_fields)]
pub struct ResourcesSpec {
    /// vCPUs: 0.08 to below 1 (fractional), or 1, 2, 4, 6, 8.
    #[schemars(with = "CpuValue")]
    pub cpu: Spanned<CpuValue>,
    /// Memory, e.g. `512Mi`, `2Gi`; the allowed range depends on the CPU.
    #[schemars(with = "String")]
    pub memory: Spanned<String>,
    /// GPU type, e.g. `nvidia-l4` (needs at least 4 CPU and 16Gi).
    #[schemars(with = "Option<String>")]
    pub gpu: Option<Spanned<String>>,
    /// Extra CPU while an instance starts, for faster model loading.
    pub startup_cpu_boost: bool,
    /// Instance-based billing (`cpu_idle = false`); forced on with a GPU.
    #[schemars(with = "Option<bool>")]
    pub cpu_always_allocated: Option<Spanned<bool>>,
    /// GPU only: opt out of zonal redundancy for a cheaper, best-effort service.
    #[schemars(with = "Option<bool>")]
    pub gpu_zonal_redundancy: Option<Spanned<bool>>,
}

impl Default for ResourcesSpec {
    fn default() -> Self {
        ResourcesSpec {
            cpu: unset(CpuValue::Int(1)),
            memory: unset("512Mi".to_string()),
            gpu: None,
            startup_cpu_boost: true,
            cpu_always_allocated: None,
            gpu_zonal_redundancy: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ScalingSpec {
    /// Instances kept warm (billed while idle).
    #[schemars(with = "i64")]
    pub min_instances: Spanned<i64>,
    /// Upper bound on instances.
    #[schemars(with = "i64")]
    pub max_instances: Spanned<i64>,
    /// Requests one instance handles at once (1-1000).
    #[schemars(with = "i64")]
    pub concurrency: Spanned<i64>,
    /// Request timeout, `1s` to `3600s` (also `15m`, `1h`).
    #[schemars(with = "String")]
    pub timeout: Spanned<String>,
}

impl Default for ScalingSpec {
    fn default() -> Self {
        ScalingSpec {
            min_instances: unset(0),
            max_instances: unset(10),
            concurrency: unset(80),
            timeout: unset("300s".to_string()),
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

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AccessSpec {
    /// Where requests may come from.
    pub ingress: Ingress,
    /// `true` disables the invoker IAM check; `allUsers` is never generated.
    pub public: bool,
    /// IAM members granted roles/run.invoker on the service, e.g. `group:clients@example.com`.
    #[schemars(with = "Vec<String>")]
    pub invokers: Vec<Spanned<String>>,
    /// IAM members that may deploy as the runtime account (roles/iam.serviceAccountUser on it).
    #[schemars(with = "Vec<String>")]
    pub deployers: Vec<Spanned<String>>,
}

/// How the generated app batches and bounds requests.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServingSpec {
    /// Most rows one model call takes when concurrent requests are batched.
    #[schemars(with = "i64")]
    pub max_batch_size: Spanned<i64>,
    /// How long the first request of a batch may wait for others, in milliseconds.
    #[schemars(with = "f64")]
    pub max_batch_wait_ms: Spanned<f64>,
    /// Request bodies above this many bytes get 413.
    #[schemars(with = "i64")]
    pub max_request_bytes: Spanned<i64>,
    /// sklearn with a local model only: convert the model to ONNX at image build time.
    #[schemars(with = "bool")]
    pub convert_to_onnx: Spanned<bool>,
}

impl Default for ServingSpec {
    fn default() -> Self {
        ServingSpec {
            max_batch_size: unset(64),
            max_batch_wait_ms: unset(2.0),
            max_request_bytes: unset(10 * 1024 * 1024),
            convert_to_onnx: unset(false),
        }
    }
}

/// A default value: it has no place in the text, so its span is empty at offset 0.
fn unset<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
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

/// Alert policies, an uptime check and a dashboard in Cloud Monitoring.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringSpec {
    /// Where alerts are sent, e.g. `email:oncall@example.com`.
    #[schemars(with = "Vec<String>")]
    pub notify: Vec<Spanned<String>>,
    /// Alert when the 99th percentile request latency stays above this many milliseconds;
    /// by default half the request timeout.
    #[schemars(with = "Option<i64>")]
    pub p99_ms: Option<Spanned<i64>>,
    /// Alert when the share of requests answered with a 5xx status stays above this (0-1).
    #[schemars(with = "f64")]
    pub error_rate: Spanned<f64>,
}

impl Default for MonitoringSpec {
    fn default() -> Self {
        MonitoringSpec {
            notify: Vec::new(),
            p99_ms: None,
            error_rate: unset(0.01),
        }
    }
}

/// Where the deploy pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CiProvider {
    /// A GitHub Actions workflow, authenticated through Workload Identity Federation.
    Github,
    /// A Cloud Build trigger running as the deploy service account.
    Cloudbuild,
}

/// `[ci]`: the pipeline that checks, builds once and deploys on every push to a branch.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CiSpec {
    /// `github` (GitHub Actions) or `cloudbuild` (a Cloud Build trigger).
    #[schemars(with = "CiProvider")]
    pub provider: Spanned<CiProvider>,
    /// The GitHub repository that deploys, `owner/name`.
    #[schemars(with = "String")]
    pub repository: Spanned<String>,
    /// The branch whose pushes deploy.
    #[serde(default = "default_branch")]
    #[schemars(with = "String", default = "default_branch_text")]
    pub branch: Spanned<String>,
    /// The spec's folder relative to the repository root, where the pipeline runs.
    #[serde(default = "default_directory")]
    #[schemars(with = "String", default = "default_directory_text")]
    pub directory: Spanned<String>,
    /// The command that runs mlgen in the pipeline, e.g. `./bin/mlgen`; it must be on the
    /// runner (mlgen is not published to a registry the pipeline could install it from).
    #[serde(default = "default_mlgen")]
    #[schemars(with = "String", default = "default_mlgen_text")]
    pub mlgen: Spanned<String>,
}

fn default_branch_text() -> String {
    "main".to_string()
}

fn default_directory_text() -> String {
    ".".to_string()
}

fn default_mlgen_text() -> String {
    "mlgen".to_string()
}

fn default_branch() -> Spanned<String> {
    unset(default_branch_text())
}

fn default_directory() -> Spanned<String> {
    unset(default_directory_text())
}

fn default_mlgen() -> Spanned<String> {
    unset(default_mlgen_text())
}

/// How a new revision takes traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The new revision takes all traffic as soon as it is ready.
    #[default]
    AllAtOnce,
    /// The new revision starts with no traffic and a tagged URL, then takes the `steps`.
    Canary,
}

/// `[rollout]`: how a deploy moves traffic to the new revision.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutSpec {
    /// `all-at-once` (the default) or `canary`.
    #[schemars(with = "Strategy")]
    pub strategy: Spanned<Strategy>,
    /// Canary only: the percentages of traffic the new revision takes in turn, increasing,
    /// each 1 to 100, the last 100.
    #[schemars(with = "Vec<i64>")]
    pub steps: Spanned<Vec<Spanned<i64>>>,
}

impl Default for RolloutSpec {
    fn default() -> Self {
        RolloutSpec {
            strategy: unset(Strategy::AllAtOnce),
            steps: unset([5, 25, 100].map(unset).to_vec()),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: &str = r#"
[service]
name = "s"
project = "p"
region = "r"
deletion_protection = false
[model]
framework = "onnx"
source = "m.onnx"
features = ["x"]
[service_account]
account_id = "a"
"#;

    /// The optional tables of `spec`, as text that shows every value and span.
    fn optional_tables(spec: &Spec) -> String {
        format!(
            "{:?}",
            (
                &spec.container,
                &spec.image,
                &spec.resources,
                &spec.scaling,
                &spec.access,
                &spec.serving
            )
        )
    }

    #[test]
    fn omitted_and_empty_tables_take_the_default_values() {
        let defaults = format!(
            "{:?}",
            (
                ContainerSpec::default(),
                ImageSpec::default(),
                ResourcesSpec::default(),
                ScalingSpec::default(),
                AccessSpec::default(),
                ServingSpec::default()
            )
        );
        let omitted: Spec = toml::from_str(REQUIRED).unwrap();
        let empty_tables = "[container]\n[image]\n[resources]\n[scaling]\n[access]\n[serving]\n";
        let empty: Spec = toml::from_str(&format!("{REQUIRED}{empty_tables}")).unwrap();
        assert_eq!(optional_tables(&omitted), defaults);
        assert_eq!(optional_tables(&empty), defaults);
    }

    #[test]
    fn a_key_left_out_of_a_table_takes_its_default() {
        let spec: Spec =
            toml::from_str(&format!("{REQUIRED}[scaling]\nmax_instances = 3\n")).unwrap();
        assert_eq!(*spec.scaling.max_instances.get_ref(), 3);
        assert_eq!(
            format!("{:?}", spec.scaling.timeout),
            format!("{:?}", ScalingSpec::default().timeout)
        );
    }
}
