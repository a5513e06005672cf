//! `[model]`: where the model file is, which library reads it, and its input columns.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::ids::{is_bucket, is_feature_char, is_safe_path};
use super::resources::zonal_redundancy;
use super::{Checker, ModelSource, not_beside};
use crate::cost::pricing;
use crate::platform::Generation;
use crate::platform::GpuType;
use crate::runtime::runtime;
use crate::spec::{
    FeatureSpec, FeatureType, Framework, ModelInput, ModelOutput, ModelSpec, Spec, TypedFeatureSpec,
};

/// The app's own modules: a handler module of the same name would shadow one of them.
const APP_MODULES: &[&str] = &[
    "batching",
    "config",
    "convert",
    "frames",
    "frameworks",
    "inputs",
    "logs",
    "main",
    "openapi",
    "outputs",
    "protocols",
    "server",
    "settings",
];

/// Checks the table; the source comes back parsed when it is valid.
/// The source is None where it is invalid, or absent (which only a custom handler may be).
pub(super) fn check(c: &mut Checker, m: &ModelSpec) -> Option<ModelSource> {
    let source = match &m.source {
        Some(src) => parse_source(c, src),
        None => {
            require_source(c, m);
            None
        }
    };
    if let (Some(_), Some(src)) = (&source, &m.source) {
        check_extension(c, *m.framework.get_ref(), src);
    }
    check_handler(c, m);
    // A custom handler may take the request's instances as they come.
    if *m.framework.get_ref() != Framework::Custom || !m.features.get_ref().is_empty() {
        check_features(c, m);
    }
    check_input(c, m);
    check_output(c, m);
    source
}

/// Every model but a custom handler's is read from its `source`.
fn require_source(c: &mut Checker, m: &ModelSpec) {
    let framework = *m.framework.get_ref();
    if framework != Framework::Custom {
        c.err(
            "model.source",
            m.framework.span(),
            format!("a {} model needs a `source`", framework.as_str()),
            "add `source = \"models/model.joblib\"` (a path relative to the spec's folder) or `source = \"gs://bucket/path/model.joblib\"`; only a custom handler may go without",
        );
    }
}

/// `handler = "FILE.py:CLASS"` goes with `framework = "custom"`, and only with it.
fn check_handler(c: &mut Checker, m: &ModelSpec) {
    let custom = *m.framework.get_ref() == Framework::Custom;
    let Some(handler) = &m.handler else {
        if custom {
            c.err(
                "model.handler",
                m.framework.span(),
                "a custom model needs a `handler`".into(),
                "add `handler = \"serve.py:Model\"`: a Python file beside the spec and the class in it that loads the model and predicts",
            );
        }
        return;
    };
    if !custom {
        c.err(
            "model.handler",
            handler.span(),
            "`handler` is only read with `framework = \"custom\"`".into(),
            "remove `handler`, or set `framework = \"custom\"` to serve the model with your own class",
        );
        return;
    }
    if let Err(help) = parse_handler(handler.get_ref()) {
        c.err(
            "model.handler",
            handler.span(),
            format!("`{}` is not a usable handler", handler.get_ref()),
            help,
        );
    }
}

/// A DataFrame goes to sklearn models only; text features need one. A custom handler takes
/// the rows themselves.
fn check_input(c: &mut Checker, m: &ModelSpec) {
    let Some(input) = &m.input else { return };
    let framework = *m.framework.get_ref();
    if framework == Framework::Custom {
        c.err(
            "model.input",
            input.span(),
            "a custom handler is called with the instances, not a matrix or a DataFrame".into(),
            "remove `input`: the handler's `predict` gets each row typed as its features say (an object by feature name), and builds what its model takes",
        );
        return;
    }
    if *input.get_ref() == ModelInput::Dataframe && framework != Framework::Sklearn {
        c.err(
            "model.input",
            input.span(),
            format!(
                "a {} model is called with a matrix, not a DataFrame",
                framework.as_str()
            ),
            "remove `input`: only sklearn models take `input = \"dataframe\"`",
        );
    }
    let text = m.features.get_ref().iter().find(|f| {
        matches!(
            f.get_ref().kind(),
            FeatureType::String | FeatureType::Category
        )
    });
    if let (ModelInput::Matrix, Some(f)) = (input.get_ref(), text) {
        c.err(
            "model.input",
            input.span(),
            format!(
                "feature `{}` holds text, which a matrix cannot",
                f.get_ref().name()
            ),
            "use `input = \"dataframe\"`, or remove `input`",
        );
    }
}

/// Probabilities come from a model mlgen calls; a handler returns its own predictions.
fn check_output(c: &mut Checker, m: &ModelSpec) {
    if *m.framework.get_ref() == Framework::Custom && m.output == ModelOutput::Proba {
        c.err(
            "model.output",
            m.framework.span(),
            "`output = \"proba\"` is not read with a custom handler".into(),
            "remove `output`, and have the handler's `predict` return `{\"classes\": [...], \"scores\": [...]}` per instance if that is what the service answers",
        );
    }
}

/// `FILE.py:CLASS` as (file, class), or what is wrong with it.
fn parse_handler(text: &str) -> Result<(&str, &str), String> {
    let Some((file, class)) = text.split_once(':') else {
        return Err("write `FILE.py:CLASS`, e.g. `serve.py:Model`".into());
    };
    let module = file.rsplit('/').next().unwrap_or(file);
    let Some(module) = module.strip_suffix(".py") else {
        return Err(format!(
            "`{file}` is not a Python file: it must end in `.py`"
        ));
    };
    if !is_safe_path(file) || !is_identifier(module) {
        return Err(format!(
            "`{file}` must be a relative path inside the spec's folder, without `..`, to a file whose name is a Python module name (letters, digits and `_`)"
        ));
    }
    if APP_MODULES.contains(&module) {
        return Err(format!(
            "the app has a module `{module}` of its own: rename the file, e.g. `{module}_handler.py`"
        ));
    }
    if !is_identifier(class) {
        return Err(format!(
            "`{class}` is not a Python class name: use letters, digits and `_`, not starting with a digit"
        ));
    }
    Ok((file, class))
}

fn is_identifier(s: &str) -> bool {
    s.chars().next().is_some_and(|c| !c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A Cloud Storage model is mounted as a volume, which needs the gen2 environment.
pub(super) fn check_source_fits(
    c: &mut Checker,
    m: &ModelSpec,
    source: Option<&ModelSource>,
    millicpu: u32,
) {
    if let Some(ModelSource::Gcs { .. }) = source
        && Generation::for_cpu(millicpu) == Generation::Gen1
    {
        c.err(
            "model.source",
            source_span(m),
            "a Cloud Storage model needs the gen2 environment, which needs at least 1 CPU".into(),
            "set `cpu = 1` or more, or bake the model into the image with a local path",
        );
    }
}

/// Where `source` is written; the checks of a parsed source run only where it is.
fn source_span(m: &ModelSpec) -> Range<usize> {
    m.source.as_ref().map_or(m.framework.span(), Spanned::span)
}

/// The image build copies a local model from beside the spec: it must be there, or the
/// build is the first to notice.
pub(super) fn check_local_file(
    c: &mut Checker,
    m: &ModelSpec,
    source: &ModelSource,
    spec_dir: &Path,
) {
    let ModelSource::Local { path } = source else {
        return;
    };
    if let Some(found) = not_beside(spec_dir, path, false) {
        c.err(
            "model.source",
            source_span(m),
            format!("the model file {} {found}", spec_dir.join(path).display()),
            "put the model there (the path is relative to the spec's folder, which the image build copies it from), or point `source` at it",
        );
    }
}

/// The image build copies the handler's file from beside the spec too.
pub(super) fn check_handler_file(c: &mut Checker, m: &ModelSpec, spec_dir: &Path) {
    let Some(handler) = &m.handler else { return };
    let Ok((file, _)) = parse_handler(handler.get_ref()) else {
        return;
    };
    if let Some(found) = not_beside(spec_dir, file, false) {
        c.err(
            "model.handler",
            handler.span(),
            format!("the handler file {} {found}", spec_dir.join(file).display()),
            "put the handler's Python file there (the path is relative to the spec's folder, which the image build copies it from), or point `handler` at it",
        );
    }
}

/// A framework without GPU packages in `data/runtime.toml` runs on the CPU even when the
/// service has a GPU, which is then paid for and never used.
pub(super) fn warn_cpu_only_on_gpu(c: &mut Checker, spec: &Spec, gpu: &GpuType) {
    let framework = *spec.model.framework.get_ref();
    // A handler brings its own packages, which may well use the GPU.
    if framework == Framework::Custom {
        return;
    }
    // A converted sklearn model is served by ONNX Runtime.
    let served_by = if *spec.serving.convert_to_onnx.get_ref() {
        Framework::Onnx
    } else {
        framework
    };
    let frameworks = &runtime().frameworks;
    if frameworks[served_by.as_str()].gpu_packages.is_some() {
        return;
    }
    let on_gpu: Vec<String> = frameworks
        .iter()
        .filter(|(_, p)| p.gpu_packages.is_some())
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    let region = spec.service.region.get_ref();
    let hours = f64::from(pricing().hours_per_month);
    let price = gpu_hourly_usd(gpu, region, zonal_redundancy(&spec.resources))
        .map(|usd| {
            format!(
                " (${usd:.2} an hour, ${:.0} a month per instance in {region}, at list prices)",
                usd * hours
            )
        })
        .unwrap_or_default();
    c.warn(
        "model.framework",
        spec.model.framework.span(),
        format!(
            "a {} model runs on the CPU: the {} of each instance is never used",
            served_by.as_str(),
            gpu.kind
        ),
        format!(
            "the {} is billed for every second each instance runs{price}; remove `gpu` and size the CPU instead, or serve a model that runs on the GPU ({})",
            gpu.kind,
            on_gpu.join(", ")
        ),
    );
}

/// The list price of one GPU for an hour, where `data/pricing.toml` has it.
fn gpu_hourly_usd(gpu: &GpuType, region: &str, zonal_redundancy: bool) -> Option<f64> {
    let p = pricing();
    let rates = p.gpu.get(&gpu.kind)?.get(&p.tier(region)?)?;
    let per_second = if zonal_redundancy {
        rates.zonal_redundancy
    } else {
        rates.no_zonal_redundancy
    };
    Some(per_second * 3600.0)
}

fn parse_source(c: &mut Checker, source: &Spanned<String>) -> Option<ModelSource> {
    let src = source.get_ref();
    let (message, help) = if let Some(rest) = src.strip_prefix("gs://") {
        match rest.split_once('/') {
            Some((bucket, object))
                if is_bucket(bucket) && !object.is_empty() && is_safe_path(object) =>
            {
                return Some(ModelSource::Gcs {
                    bucket: bucket.to_string(),
                    object: object.to_string(),
                });
            }
            _ => (
                format!("`{src}` is not a valid Cloud Storage object"),
                "write `gs://BUCKET/path/to/model`; bucket names have 3-63 lowercase letters, digits, `-`, `_` and `.`; object paths use letters, digits, `.`, `_`, `-` and `/`",
            ),
        }
    } else if src.contains("://") {
        (
            format!("`{src}` is not a supported model location"),
            "use a path relative to the spec's folder (baked into the image) or `gs://bucket/object` (mounted from Cloud Storage)",
        )
    } else if !is_safe_path(src) {
        (
            format!("`{src}` is not a usable model path"),
            "use a relative path inside the spec's folder, made of letters, digits, `.`, `_`, `-` and `/`, without `..`",
        )
    } else {
        return Some(ModelSource::Local {
            path: src.to_string(),
        });
    };
    c.err("model.source", source.span(), message, help);
    None
}

fn check_extension(c: &mut Checker, framework: Framework, source: &Spanned<String>) {
    let src = source.get_ref();
    let exts: &[&str] = match framework {
        Framework::Sklearn => &["joblib", "pkl", "pickle"],
        Framework::Xgboost => &["json", "ubj"],
        Framework::Lightgbm => &["txt", "lgb", "model"],
        Framework::Onnx => &["onnx"],
        // The handler reads the file itself, whatever its format.
        Framework::Custom => return,
    };
    let ext = src.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if !exts.contains(&ext) {
        let listed: Vec<String> = exts.iter().map(|e| format!("`.{e}`")).collect();
        c.err(
            "model.source",
            source.span(),
            format!(
                "`{src}` does not look like a {} model file",
                framework.as_str()
            ),
            format!(
                "a {} model file ends in {}",
                framework.as_str(),
                listed.join(", ")
            ),
        );
    }
}

fn check_features(c: &mut Checker, m: &ModelSpec) {
    let features = m.features.get_ref();
    if features.is_empty() {
        c.err(
            "model.features",
            super::span_or(m.features.span(), m.framework.span()),
            "the model needs at least one feature".into(),
            "list the input columns in the order the model expects them",
        );
    }
    let mut seen = BTreeSet::new();
    for f in features {
        let name = f.get_ref().name();
        let span = match f.get_ref() {
            FeatureSpec::Name(_) => f.span(),
            FeatureSpec::Typed(t) => t.name.span(),
        };
        if name.is_empty() || name.len() > 128 || !name.chars().all(is_feature_char) {
            c.err(
                "model.features",
                span,
                format!("`{name}` is not a usable feature name"),
                "use 1-128 letters, digits, `_`, `-`, `.` or spaces",
            );
        } else if !seen.insert(name) {
            c.err(
                "model.features",
                span,
                format!("feature `{name}` is listed twice"),
                "list each feature once",
            );
        }
        if let FeatureSpec::Typed(t) = f.get_ref() {
            check_values(c, f.span(), t);
            check_framework_takes(c, *m.framework.get_ref(), t);
        }
    }
}

/// Text columns reach only an sklearn model, as a DataFrame, or a custom handler, as text;
/// the boosters and ONNX models take a matrix of numbers.
fn check_framework_takes(c: &mut Checker, framework: Framework, t: &TypedFeatureSpec) {
    let Some(kind) = &t.kind else { return };
    if !matches!(framework, Framework::Sklearn | Framework::Custom)
        && matches!(kind.get_ref(), FeatureType::String | FeatureType::Category)
    {
        c.err(
            "model.features",
            kind.span(),
            format!(
                "a {} model takes numbers; feature `{}` is a {}",
                framework.as_str(),
                t.name.get_ref(),
                kind.get_ref().as_str()
            ),
            "use `number`, `integer` or `boolean`, or serve an sklearn Pipeline that encodes the text",
        );
    }
}

/// A category needs its values, each once; no other type takes any.
fn check_values(c: &mut Checker, entry: Range<usize>, t: &TypedFeatureSpec) {
    let name = t.name.get_ref();
    let category = t.kind.as_ref().map(|k| *k.get_ref()) == Some(FeatureType::Category);
    let Some(values) = &t.values else {
        if category {
            c.err(
                "model.features",
                entry,
                format!("category feature `{name}` lists no values"),
                "add the values it may take, e.g. `values = [\"free\", \"pro\"]`",
            );
        }
        return;
    };
    if !category {
        c.err(
            "model.features",
            values.span(),
            format!("feature `{name}` has values but is not a category"),
            "only `type = \"category\"` takes `values`: set that type, or remove `values`",
        );
    } else if values.get_ref().is_empty() {
        c.err(
            "model.features",
            values.span(),
            format!("category feature `{name}` lists no values"),
            "list the values it may take, e.g. `values = [\"free\", \"pro\"]`",
        );
    }
    let mut seen = BTreeSet::new();
    for v in values.get_ref() {
        if !seen.insert(v.get_ref()) {
            c.err(
                "model.features",
                v.span(),
                format!(
                    "value `{}` of feature `{name}` is listed twice",
                    v.get_ref()
                ),
                "list each value once",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{keys, spec};
    use super::*;

    #[test]
    fn sources_parse_into_local_or_cloud_storage() {
        let mut c = Checker::default();
        let gcs = spec("models/iris.joblib", "gs://acme-models/iris.joblib").model;
        assert_eq!(
            check(&mut c, &gcs),
            Some(ModelSource::Gcs {
                bucket: "acme-models".into(),
                object: "iris.joblib".into()
            })
        );
        let bad = spec("models/iris.joblib", "../iris.joblib").model;
        assert_eq!(check(&mut c, &bad), None);
        assert_eq!(c.out.len(), 1, "{:?}", c.out);
    }

    #[test]
    fn extensions_features_and_gen2() {
        let wrong_ext = spec("models/iris.joblib", "models/iris.onnx").model;
        assert_eq!(keys(|c| check(c, &wrong_ext)), ["model.source"]);
        let twice = spec("\"petal_width\"]", "\"sepal_width\"]").model;
        assert_eq!(keys(|c| check(c, &twice)), ["model.features"]);
        let m = spec("models/iris.joblib", "gs://acme-models/iris.joblib").model;
        let gcs = ModelSource::Gcs {
            bucket: "b".into(),
            object: "o".into(),
        };
        assert_eq!(
            keys(|c| check_source_fits(c, &m, Some(&gcs), 500)),
            ["model.source"]
        );
        assert!(keys(|c| check_source_fits(c, &m, Some(&gcs), 1000)).is_empty());
    }

    #[test]
    fn a_local_model_must_be_a_file_beside_the_spec() {
        let m = spec("cpu = 1", "cpu = 1").model;
        let local = ModelSource::Local {
            path: "models/iris.joblib".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let check_in = |dir: &Path| keys(|c| check_local_file(c, &m, &local, dir));
        assert_eq!(check_in(dir.path()), ["model.source"]);
        std::fs::create_dir_all(dir.path().join("models/iris.joblib")).unwrap();
        assert_eq!(
            check_in(dir.path()),
            ["model.source"],
            "a folder is no model"
        );
        std::fs::remove_dir(dir.path().join("models/iris.joblib")).unwrap();
        std::fs::write(dir.path().join("models/iris.joblib"), b"model").unwrap();
        assert!(check_in(dir.path()).is_empty());
        let gcs = ModelSource::Gcs {
            bucket: "b".into(),
            object: "o".into(),
        };
        assert!(keys(|c| check_local_file(c, &m, &gcs, dir.path())).is_empty());
    }

    fn gpu_warnings(edits: &[(&str, &str)]) -> Vec<crate::diagnostics::Diagnostic> {
        let gpu = "cpu = 4\ngpu = \"nvidia-l4\"";
        let mut all = vec![("cpu = 1", gpu), ("\"2Gi\"", "\"16Gi\"")];
        all.extend_from_slice(edits);
        let s = super::super::testing::edited(&all);
        let l4 = crate::platform::platform().gpu("nvidia-l4").unwrap();
        let mut c = Checker::default();
        warn_cpu_only_on_gpu(&mut c, &s, l4);
        c.warnings
    }

    #[test]
    fn only_frameworks_without_gpu_packages_warn_on_a_gpu() {
        let [w] = &gpu_warnings(&[])[..] else {
            panic!("sklearn on a GPU must warn")
        };
        assert_eq!(w.key, "model.framework");
        let help = w.help.as_deref().unwrap();
        assert!(help.contains("$1.05 an hour"), "{help}");
        assert!(help.contains("`onnx`, `xgboost`"), "{help}");
        let lgbm = [
            ("\"sklearn\"", "\"lightgbm\""),
            ("models/iris.joblib", "models/iris.txt"),
        ];
        let [w] = &gpu_warnings(&lgbm)[..] else {
            panic!("lightgbm on a GPU must warn")
        };
        assert!(
            w.message.contains("a lightgbm model runs on the CPU"),
            "{}",
            w.message
        );
        let help = w.help.as_deref().unwrap();
        assert!(help.contains("a month per instance"), "{help}");
    }

    /// ONNX Runtime and XGBoost run on the GPU: neither warns, a converted sklearn model
    /// (served by ONNX Runtime) included.
    #[test]
    fn gpu_frameworks_do_not_warn() {
        let converted = [("[env]", "[serving]\nconvert_to_onnx = true\n\n[env]")];
        assert!(gpu_warnings(&converted).is_empty());
        let onnx = [
            ("\"sklearn\"", "\"onnx\""),
            ("models/iris.joblib", "models/iris.onnx"),
        ];
        assert!(gpu_warnings(&onnx).is_empty());
        let xgb = [
            ("\"sklearn\"", "\"xgboost\""),
            ("models/iris.joblib", "models/iris.ubj"),
        ];
        assert!(gpu_warnings(&xgb).is_empty());
    }
}
