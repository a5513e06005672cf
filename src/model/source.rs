//! The `[model]` table (with `serving.convert_to_onnx`): where the model comes from, what
//! gets mounted, and where the app finds it at run time.

use serde::{Deserialize, Serialize};

use crate::spec::validate::{Checked, ModelSource};
use crate::spec::{Framework, ModelSpec, Spec};

/// Where the model is mounted when it comes from Cloud Storage.
pub const GCS_MOUNT_PATH: &str = "/mnt/model";
/// Where a baked-in model lives inside the image.
pub const IMAGE_MODEL_DIR: &str = "/app/model";
/// Where a custom handler and the files it includes live inside the image, laid out as they
/// are beside the spec.
pub const IMAGE_HANDLER_DIR: &str = "/app/handler";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub framework: String,
    /// The model's file; none for a custom handler without a `source`, whose `load` then
    /// gets `None`.
    pub file: Option<ModelFile>,
    pub features: Vec<Feature>,
    /// What the app calls the model with: `matrix` (floats), `dataframe` (pandas), or
    /// `instances` (a custom handler's rows, typed as the features say).
    pub input: String,
    /// What each prediction is: `predict`, or `proba` (classes and their scores).
    pub output: String,
    /// sklearn only: convert to ONNX while building the image.
    pub convert_to_onnx: bool,
    /// The library that loads `container_path` at run time: `onnx` for a converted sklearn
    /// model, otherwise `framework`.
    pub serve_framework: String,
    /// `custom` only: the class that loads and runs the model.
    pub handler: Option<Handler>,
    /// Files and folders (ending in `/`) beside the spec, copied into [`IMAGE_HANDLER_DIR`].
    pub include: Vec<String>,
}

/// Where the model file comes from, and where the app finds it at run time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// For `local`: the path relative to the build context (the spec's folder).
    pub local_path: Option<String>,
    /// For `gcs`: the `gs://` URI.
    pub gcs_uri: Option<String>,
    /// Where the app finds the model at run time.
    pub container_path: String,
    pub file_name: String,
}

/// A custom handler: a class in a Python file beside the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handler {
    /// The file, relative to the spec's folder (the build context).
    pub file: String,
    /// The module the app imports it as: the file's name without `.py`.
    pub module: String,
    pub class: String,
}

impl Handler {
    /// `FILE.py:CLASS`, as validated.
    fn of(text: &str) -> Self {
        let (file, class) = text.split_once(':').expect("a validated handler");
        let name = file_name(file);
        Handler {
            module: name.strip_suffix(".py").unwrap_or(&name).to_string(),
            file: file.to_string(),
            class: class.to_string(),
        }
    }
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
pub struct Volume {
    pub name: String,
    pub bucket: String,
    /// The model's folder in the bucket (`fraud/v7/`, a managed folder's name), when the
    /// model is not at the bucket's root: the runtime account reads only that folder, and
    /// only that folder is mounted.
    pub folder: Option<String>,
    pub read_only: bool,
    pub mount_path: String,
    /// Cloud Storage FUSE flags, without dashes (`only-dir=fraud/v7`).
    pub mount_options: Vec<String>,
}

/// The model, and the volume that mounts it when it is not in the image.
pub(super) fn resolve(spec: &Spec, checked: &Checked) -> (Model, Option<Volume>) {
    let framework = *spec.model.framework.get_ref();
    let convert_to_onnx = *spec.serving.convert_to_onnx.get_ref();
    let (file, volume) = match &checked.source {
        Some(source) => {
            let (file, volume) = model_file(source, convert_to_onnx);
            (Some(file), volume)
        }
        None => (None, None),
    };
    let model = Model {
        framework: framework.as_str().to_string(),
        file,
        features: features(&spec.model),
        input: if framework == Framework::Custom {
            "instances"
        } else if spec.model.takes_dataframe() {
            "dataframe"
        } else {
            "matrix"
        }
        .to_string(),
        output: spec.model.output.as_str().to_string(),
        convert_to_onnx,
        serve_framework: serve_framework(spec).as_str().to_string(),
        handler: spec
            .model
            .handler
            .as_ref()
            .map(|h| Handler::of(h.get_ref())),
        include: spec
            .container
            .include
            .iter()
            .map(|f| f.get_ref().clone())
            .collect(),
    };
    (model, volume)
}

/// The library that loads the model at run time: ONNX Runtime for a converted model.
pub fn serve_framework(spec: &Spec) -> Framework {
    if *spec.serving.convert_to_onnx.get_ref() {
        Framework::Onnx
    } else {
        *spec.model.framework.get_ref()
    }
}

/// The model file of `source`, and the volume that mounts it when it is not in the image.
fn model_file(source: &ModelSource, convert_to_onnx: bool) -> (ModelFile, Option<Volume>) {
    let (volume, local_path, gcs_uri, source_path) = match source {
        ModelSource::Local { path } => (
            None,
            Some(path.clone()),
            None,
            format!("{IMAGE_MODEL_DIR}/{}", file_name(path)),
        ),
        ModelSource::Gcs { bucket, object } => {
            let folder = object.rsplit_once('/').map(|(dir, _)| format!("{dir}/"));
            // `only-dir` mounts the folder's content at the mount path.
            let in_mount = folder
                .as_ref()
                .map_or(object.as_str(), |f| &object[f.len()..]);
            let mount_options = folder
                .iter()
                .map(|f| format!("only-dir={}", f.trim_end_matches('/')))
                .collect();
            (
                Some(Volume {
                    name: "model".to_string(),
                    bucket: bucket.clone(),
                    folder,
                    read_only: true,
                    mount_path: GCS_MOUNT_PATH.to_string(),
                    mount_options,
                }),
                None,
                Some(format!("gs://{bucket}/{object}")),
                format!("{GCS_MOUNT_PATH}/{in_mount}"),
            )
        }
    };
    // A converted model is written next to where the original would be, as `.onnx`.
    let container_path = if convert_to_onnx {
        let stem = source_path
            .rsplit_once('.')
            .map_or(source_path.as_str(), |(s, _)| s);
        format!("{stem}.onnx")
    } else {
        source_path.clone()
    };
    let file = ModelFile {
        local_path,
        gcs_uri,
        container_path,
        file_name: file_name(&source_path),
    };
    (file, volume)
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{BASE, checked, spec_text};
    use super::*;

    fn model(text: &str) -> (ModelFile, Option<Volume>) {
        let s = spec_text(text);
        let (m, volume) = resolve(&s, &checked(&s));
        (m.file.expect("a model with a source"), volume)
    }

    #[test]
    fn a_local_model_is_baked_into_the_image() {
        let (m, volume) = model(BASE);
        assert_eq!(m.local_path.as_deref(), Some("models/m.joblib"));
        assert_eq!(m.container_path, "/app/model/m.joblib");
        assert!(volume.is_none());
    }

    #[test]
    fn a_gcs_model_mounts_only_its_folder_read_only() {
        let (m, volume) = model(&BASE.replace("models/m.joblib", "gs://bkt/a/v1/m.joblib"));
        assert_eq!(m.container_path, "/mnt/model/m.joblib");
        assert_eq!(m.gcs_uri.as_deref(), Some("gs://bkt/a/v1/m.joblib"));
        let v = volume.unwrap();
        assert_eq!((v.bucket.as_str(), v.read_only), ("bkt", true));
        assert_eq!(v.folder.as_deref(), Some("a/v1/"));
        assert_eq!(v.mount_options, ["only-dir=a/v1"]);
    }

    #[test]
    fn a_gcs_model_at_the_bucket_root_mounts_the_bucket() {
        let (m, volume) = model(&BASE.replace("models/m.joblib", "gs://bkt/m.joblib"));
        assert_eq!(m.container_path, "/mnt/model/m.joblib");
        let v = volume.unwrap();
        assert_eq!(v.folder, None);
        assert!(v.mount_options.is_empty());
    }

    #[test]
    fn a_converted_model_is_served_as_onnx_beside_the_original() {
        let s = spec_text(&format!("{BASE}[serving]\nconvert_to_onnx = true\n"));
        let (m, _) = resolve(&s, &checked(&s));
        assert_eq!(
            (m.framework.as_str(), m.serve_framework.as_str()),
            ("sklearn", "onnx")
        );
        let file = m.file.unwrap();
        assert_eq!(file.container_path, "/app/model/m.onnx");
        assert_eq!(file.file_name, "m.joblib");
    }
}
