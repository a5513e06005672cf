//! The `[image]` table: which image the service runs, the repository it is pushed to when
//! it is built here, and where that build finds its inputs.

use serde::{Deserialize, Serialize};

use super::Service;
use crate::spec::ImageSpec;

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

/// The image, and the repository to create for it unless it is built elsewhere.
pub(super) fn resolve(spec: &ImageSpec, service: &Service) -> (Image, Option<Repository>) {
    if let Some(url) = &spec.url {
        let image = Image {
            url: url.get_ref().clone(),
            built_here: false,
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
    let image = Image {
        url: format!("{region}-docker.pkg.dev/{project}/{repo_id}/{image_name}:{tag}"),
        built_here: true,
    };
    let repository = Repository {
        id: repo_id.clone(),
        location: region.clone(),
        project: project.clone(),
        description: format!("Container images for {name}"),
    };
    (image, Some(repository))
}

impl Repository {
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
    pub(super) fn new(out_dir: &str) -> Self {
        Build {
            out_dir: out_dir.to_string(),
            dockerfile: format!("{out_dir}/Dockerfile"),
            context_from_out: vec![".."; out_dir.split('/').count()].join("/"),
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
    fn image_name_overrides_the_service_name() {
        let s = spec("");
        let mut img = s.image.clone();
        img.name = Some(toml::Spanned::new(0..0, "other".to_string()));
        let (image, _) = resolve(&img, &service::resolve(&s));
        assert!(image.url.ends_with("/repo/other:1.0"), "{}", image.url);
    }

    #[test]
    fn context_is_one_step_up_per_folder() {
        let b = Build::new("out/deep");
        assert_eq!(b.context_from_out, "../..");
        assert_eq!(b.dockerfile, "out/deep/Dockerfile");
        assert_eq!(Build::new("deploy").context_from_out, "..");
    }
}
