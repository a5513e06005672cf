//! `[model]`: where the model file is, which library reads it, and its input columns.

use std::collections::BTreeSet;

use super::ids::{is_bucket, is_feature_char, is_safe_path};
use super::{Checker, ModelSource};
use crate::spec::{Framework, ModelSpec};

/// The app's own modules: a handler module of the same name would shadow one of them.
const APP_MODULES: &[&str] = &[
    "batching",
    "config",
    "convert",
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
pub(super) fn check(c: &mut Checker, m: &ModelSpec) -> Option<ModelSource> {
    let source = parse_source(c, m);
    if source.is_some() {
        check_extension(c, m);
    }
    check_handler(c, m);
    // A custom handler may take the request's instances as they come.
    if *m.framework.get_ref() != Framework::Custom || !m.features.get_ref().is_empty() {
        check_features(c, m);
    }
    source
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
        && millicpu < 1000
    {
        c.err(
            "model.source",
            m.source.span(),
            "a Cloud Storage model needs the gen2 environment, which needs at least 1 CPU".into(),
            "set `cpu = 1` or more, or bake the model into the image with a local path",
        );
    }
}

fn parse_source(c: &mut Checker, m: &ModelSpec) -> Option<ModelSource> {
    let src = m.source.get_ref();
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
    c.err("model.source", m.source.span(), message, help);
    None
}

fn check_extension(c: &mut Checker, m: &ModelSpec) {
    let src = m.source.get_ref();
    let framework = *m.framework.get_ref();
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
            m.source.span(),
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
        let name = f.get_ref();
        if name.is_empty() || name.len() > 128 || !name.chars().all(is_feature_char) {
            c.err(
                "model.features",
                f.span(),
                format!("`{name}` is not a usable feature name"),
                "use 1-128 letters, digits, `_`, `-`, `.` or spaces",
            );
        } else if !seen.insert(name.as_str()) {
            c.err(
                "model.features",
                f.span(),
                format!("feature `{name}` is listed twice"),
                "list each feature once",
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
}
