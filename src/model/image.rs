//! The `[image]` table: which image the service runs, the repository it is pushed to when
//! it is built here, and where that build finds its inputs.
//!
//! A build here tags the image with the hash of its inputs ([`Build::inputs`]), and every
//! target deploys the digest that tag resolves to: a changed input builds and rolls out a
//! new image, an unchanged one changes nothing. Every target hashes the same way: the
//! SHA-256 of the concatenated hex SHA-256 digests of the inputs, in the listed order.

use serde::{Deserialize, Serialize};

use super::{Model, Service};
use crate::spec::ImageSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// The reference the spec names: built elsewhere, what the service runs; built here,
    /// the image with the spec's tag, which each build moves to its newest image.
    pub url: String,
    /// `false` when the spec names an image built elsewhere (`image.url`).
    pub built_here: bool,
    /// Built here: the image without a tag (`REGION-docker.pkg.dev/PROJECT/REPO/NAME`).
    pub path: String,
    /// Built here: the image's name inside the repository (`NAME`).
    pub name: String,
    /// A later environment's: the image the first environment built, which this one
    /// deploys by the digest it is given, never building it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted: Option<Promotion>,
}

/// Where a later environment's image comes from, and what a reference to it must look like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    /// The environment that built it.
    pub from: String,
    /// What every reference it is given starts with: `PATH@sha256:`.
    pub digest_prefix: String,
    /// What follows the prefix, as an anchored regular expression every target's regex
    /// dialect reads alike: the digest, 64 lowercase hex digits.
    pub digest_pattern: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repository {
    pub id: String,
    pub location: String,
    pub project: String,
    pub description: String,
    /// It exists before the deploy, shared with other images (`image.repository_exists`):
    /// every target reads it, checking it before anything is created, and none creates or
    /// deletes it.
    pub existing: bool,
}

/// The generated files in the output folder's `app/` that every image copies.
const APP_FILES: [&str; 2] = ["config.json", "requirements.txt"];
/// The app's code in every image, under `app/`; [`Build::app_code`] adds the framework's.
const APP_CODE: [&str; 13] = [
    "main.py",
    "server.py",
    "settings.py",
    "logs.py",
    "batching.py",
    "inputs.py",
    "outputs.py",
    "openapi.py",
    "frames.py",
    "frameworks/__init__.py",
    "protocols/__init__.py",
    "protocols/vertex.py",
    "protocols/oip.py",
];
/// The files in `app/` that only the ONNX conversion stage copies.
pub const CONVERT_FILES: [&str; 2] = ["build-requirements.txt", "convert.py"];

/// How the image is built: the spec's folder is the context, the output folder inside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Build {
    /// The output folder relative to the build context, `/`-separated (e.g. `deploy`).
    pub out_dir: String,
    /// The Dockerfile relative to the build context.
    pub dockerfile: String,
    /// The build context relative to the output folder (e.g. `..`).
    pub context_from_out: String,
    /// The Cloud Build config every target submits, relative to the build context.
    pub config: String,
    /// The upload's ignore file (an allowlist of [`Build::inputs`]), relative to the context.
    pub ignore_file: String,
    /// The app's code files the image copies, under `app/`: the app's modules and the one
    /// of the framework that serves the model.
    pub app_code: Vec<String>,
    /// Every file the image is built from, relative to the build context, sorted: the
    /// only files uploaded, and what the image's content tag is the hash of. A folder
    /// (an include ending in `/`) stands for every file under it, in path order.
    pub inputs: Vec<String>,
}

/// The Cloud Build config and the upload's ignore file, relative to the output folder.
pub const BUILD_CONFIG: &str = "gcloud/cloudbuild.json";
pub const BUILD_IGNORE_FILE: &str = "gcloud/.gcloudignore";

/// The image, and the repository to create for it unless it is built elsewhere.
pub(super) fn resolve(spec: &ImageSpec, service: &Service) -> (Image, Option<Repository>) {
    if let Some(url) = &spec.url {
        let image = Image {
            url: url.get_ref().clone(),
            built_here: false,
            path: url.get_ref().clone(),
            name: String::new(),
            promoted: None,
        };
        return (image, None);
    }
    let Service {
        name,
        project,
        region,
        ..
    } = service;
    let repo_id = spec.repository.as_ref().expect("validated").get_ref();
    let tag = spec.tag.as_ref().expect("validated").get_ref();
    let image_name = spec.name.as_ref().map_or(name, |n| n.get_ref());
    let path = format!("{region}-docker.pkg.dev/{project}/{repo_id}/{image_name}");
    let image = Image {
        url: format!("{path}:{tag}"),
        built_here: true,
        path,
        name: image_name.clone(),
        promoted: None,
    };
    let repository = Repository {
        id: repo_id.clone(),
        location: region.clone(),
        project: project.clone(),
        description: format!("Container images for {name}"),
        existing: spec
            .repository_exists
            .as_ref()
            .is_some_and(|e| *e.get_ref()),
    };
    (image, Some(repository))
}

/// A later environment's image: the one `built` (by the first environment, `from`), by
/// digest. An image built elsewhere is the same reference in every environment.
pub(super) fn promoted(built: &Image, from: &str) -> Image {
    if !built.built_here {
        return built.clone();
    }
    Image {
        url: built.path.clone(),
        built_here: false,
        path: built.path.clone(),
        name: built.name.clone(),
        promoted: Some(Promotion {
            from: from.to_string(),
            digest_prefix: format!("{}@sha256:", built.path),
            digest_pattern: "^[0-9a-f]{64}$".to_string(),
        }),
    }
}

impl Image {
    /// Whether the deployment's folder holds the files the image is built from (the
    /// Dockerfile, its ignore file and `app/`): not a promoted image's, which the first
    /// environment built from its own folder and which nothing builds from this one. An
    /// image named by `url` keeps them: they are what it can be built from.
    pub fn build_files_here(&self) -> bool {
        self.promoted.is_none()
    }
}

impl Repository {
    /// What to create when an existing repository is missing; `None` for one the
    /// deployment creates.
    pub fn prerequisite(&self) -> Option<String> {
        self.existing.then(|| {
            format!(
                "the Artifact Registry repository {0}: gcloud artifacts repositories create {0} \
                 --repository-format=docker --location={1} --project={2}",
                self.id, self.location, self.project
            )
        })
    }

    /// The repository's name in the Artifact Registry API.
    pub fn name(&self) -> String {
        format!(
            "projects/{}/locations/{}/repositories/{}",
            self.project, self.location, self.id
        )
    }
}

impl Build {
    /// `out_dir` is the output folder relative to the spec's folder (`/`-separated, inside it).
    pub(super) fn new(out_dir: &str, model: &Model) -> Self {
        let dockerfile = format!("{out_dir}/Dockerfile");
        let app = |file: &&str| format!("{out_dir}/app/{file}");
        let convert: &[&str] = if model.convert_to_onnx {
            &CONVERT_FILES
        } else {
            &[]
        };
        let framework = format!("frameworks/{}.py", model.serve_framework);
        let app_code: Vec<String> = APP_CODE
            .map(str::to_string)
            .into_iter()
            .chain([framework])
            .collect();
        let mut inputs: Vec<String> = [dockerfile.clone(), format!("{dockerfile}.dockerignore")]
            .into_iter()
            .chain(APP_FILES.iter().chain(convert).map(app))
            .chain(app_code.iter().map(|f| app(&f.as_str())))
            .chain(model.file.as_ref().and_then(|f| f.local_path.clone()))
            .chain(model.handler.as_ref().map(|h| h.file.clone()))
            .chain(model.include.iter().cloned())
            .collect();
        inputs.sort();
        inputs.dedup();
        Build {
            out_dir: out_dir.to_string(),
            dockerfile,
            context_from_out: vec![".."; out_dir.split('/').count()].join("/"),
            config: format!("{out_dir}/{BUILD_CONFIG}"),
            ignore_file: format!("{out_dir}/{BUILD_IGNORE_FILE}"),
            app_code,
            inputs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::spec;
    use super::super::service;
    use super::*;

    #[test]
    fn built_here_lives_in_a_regional_repository() {
        let s = spec("");
        let (image, repo) = resolve(&s.image, &service::resolve(&s));
        assert_eq!(
            image.url,
            "europe-west1-docker.pkg.dev/proj-123/repo/svc:1.0"
        );
        assert!(image.built_here);
        assert_eq!(repo.unwrap().location, "europe-west1");
    }

    #[test]
    fn an_existing_repository_is_a_prerequisite() {
        let s = spec("");
        let (_, repo) = resolve(&s.image, &service::resolve(&s));
        let repo = repo.unwrap();
        assert!(!repo.existing && repo.prerequisite().is_none());
        let mut img = s.image.clone();
        img.repository_exists = Some(toml::Spanned::new(0..0, true));
        let (_, repo) = resolve(&img, &service::resolve(&s));
        let create = repo.unwrap().prerequisite().unwrap();
        assert!(create.contains("repositories create repo --repository-format=docker --location=europe-west1 --project=proj-123"), "{create}");
    }

    #[test]
    fn image_name_overrides_the_service_name() {
        let s = spec("");
        let mut img = s.image.clone();
        img.name = Some(toml::Spanned::new(0..0, "other".to_string()));
        let (image, _) = resolve(&img, &service::resolve(&s));
        assert!(image.url.ends_with("/repo/other:1.0"), "{}", image.url);
    }

    fn model(local_path: Option<&str>, convert_to_onnx: bool) -> Model {
        let d = super::super::fixture::deployment("");
        let file = d.model.file.clone().map(|f| super::super::ModelFile {
            local_path: local_path.map(str::to_string),
            ..f
        });
        Model {
            file,
            convert_to_onnx,
            ..d.model
        }
    }

    #[test]
    fn context_is_one_step_up_per_folder() {
        let b = Build::new("out/deep", &model(None, false));
        assert_eq!(b.context_from_out, "../..");
        assert_eq!(b.dockerfile, "out/deep/Dockerfile");
        assert_eq!(b.ignore_file, "out/deep/gcloud/.gcloudignore");
        assert_eq!(
            Build::new("deploy", &model(None, false)).context_from_out,
            ".."
        );
    }

    #[test]
    fn inputs_are_what_the_dockerfile_copies_and_nothing_else() {
        let b = Build::new("deploy", &model(Some("models/m.joblib"), false));
        let app: Vec<String> = APP_FILES
            .iter()
            .chain(&APP_CODE)
            .chain(&["frameworks/sklearn.py"])
            .map(|f| format!("deploy/app/{f}"))
            .collect();
        let mut want = vec![
            "deploy/Dockerfile".to_string(),
            "deploy/Dockerfile.dockerignore".to_string(),
            "models/m.joblib".to_string(),
        ];
        want.extend(app);
        want.sort();
        assert_eq!(b.inputs, want);
        let converted = Build::new("deploy", &model(Some("m.joblib"), true)).inputs;
        assert!(converted.contains(&"deploy/app/convert.py".to_string()));
        assert!(converted.is_sorted());
        let mounted = Build::new("deploy", &model(None, false)).inputs;
        assert_eq!(mounted.len(), want.len() - 1);
    }
}
