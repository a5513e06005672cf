//! `[model]`: where the model file is, which library reads it, and its input columns.

use std::collections::BTreeSet;
use std::ops::Range;

use super::ids::{is_bucket, is_feature_char, is_safe_path};
use super::{Checker, ModelSource};
use crate::spec::{FeatureSpec, FeatureType, Framework, ModelInput, ModelSpec, TypedFeatureSpec};

/// Checks the table; the source comes back parsed when it is valid.
pub(super) fn check(c: &mut Checker, m: &ModelSpec) -> Option<ModelSource> {
    let source = parse_source(c, m);
    if source.is_some() {
        check_extension(c, m);
    }
    check_features(c, m);
    check_input(c, m);
    source
}

/// A DataFrame goes to sklearn models only; text features need one.
fn check_input(c: &mut Checker, m: &ModelSpec) {
    let Some(input) = &m.input else { return };
    let framework = *m.framework.get_ref();
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
            m.features.span(),
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

/// Text columns reach only an sklearn model, as a DataFrame; the boosters and ONNX models
/// take a matrix of numbers.
fn check_framework_takes(c: &mut Checker, framework: Framework, t: &TypedFeatureSpec) {
    let Some(kind) = &t.kind else { return };
    if framework != Framework::Sklearn
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
}
