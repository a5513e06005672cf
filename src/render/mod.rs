//! One renderer per target, all reading the same [`Deployment`]; the result is a [`Tree`].

pub mod ci;
pub mod docker;
pub mod escape;
pub mod gcloud;
pub mod monitoring;
pub mod pulumi;
pub mod terraform;

use askama::Template;

use crate::error::Error;
use crate::model::Deployment;
use crate::tree::Tree;

/// An attribute's value where HCL and Python spell it alike: a quoted string, or an
/// expression (mostly a reference to an attribute of something the program declares).
pub(crate) enum Value<'a> {
    Text(&'a str),
    Ref(String),
}

/// One named argument of a resource, in a template's argument list.
pub(crate) struct Arg<'a> {
    pub name: &'static str,
    pub value: Value<'a>,
}

pub(crate) fn arg<'a>(name: &'static str, value: Value<'a>) -> Arg<'a> {
    Arg { name, value }
}

/// The Cloud Build substitution that carries the content tag into the build config.
pub(crate) const TAG_SUBSTITUTION: &str = "_CONTENT_TAG";

/// How a target runs the image build: `gcloud builds submit` with the shared config from
/// the build context, uploading only the allowlisted inputs. Every target's folder sits
/// one level inside the output folder. The command reads its values from the environment
/// (`env`, plus `CONTENT_TAG` and `PROJECT` in the target's own spelling), so no target
/// quotes a path for a shell.
pub(crate) struct BuildStep<'a> {
    /// The build context (the spec's folder), relative to the target's folder (e.g. `../..`).
    pub context: String,
    pub submit: String,
    pub env: Vec<(&'static str, &'a str)>,
}

impl<'a> BuildStep<'a> {
    pub(crate) fn new(d: &'a Deployment) -> Self {
        BuildStep {
            context: format!("../{}", d.build.context_from_out),
            submit: format!(
                "gcloud builds submit . --config=\"$BUILD_CONFIG\" \
                 --ignore-file=\"$BUILD_IGNORE_FILE\" \
                 --substitutions={TAG_SUBSTITUTION}=\"$CONTENT_TAG\" --project=\"$PROJECT\" \
                 --service-account=\"projects/$PROJECT/serviceAccounts/$BUILD_ACCOUNT\" \
                 --gcs-source-staging-dir=\"$STAGING_DIR\" --quiet"
            ),
            // The build runs as its own account, never the project's default build identity,
            // and reads its source from the deployment's own bucket, where that account may.
            env: vec![
                ("BUILD_CONFIG", &d.build.config),
                ("BUILD_IGNORE_FILE", &d.build.ignore_file),
                (
                    "BUILD_ACCOUNT",
                    d.build_account.as_ref().map_or("", |a| &a.email),
                ),
                (
                    "STAGING_DIR",
                    d.staging_bucket.as_ref().map_or("", |b| &b.source_dir),
                ),
            ],
        }
    }
}

/// The content tag ([`crate::model::Build`]) as bash spells it: a `content_tag` function,
/// run in the build context, that deploy.sh and both pipelines share.
#[derive(Template)]
#[template(path = "gcloud/_content_tag.sh")]
struct ContentTag<'a> {
    inputs: &'a [String],
}

pub(crate) fn content_tag_script(d: &Deployment) -> Result<String, Error> {
    render_one(
        "gcloud/_content_tag.sh",
        &ContentTag {
            inputs: &d.build.inputs,
        },
    )
}

/// Renders every target.
pub fn render(d: &Deployment) -> Result<Tree, Error> {
    let mut tree = Tree::default();
    if d.image.build_files_here() {
        docker::render(d, &mut tree)?;
    }
    pulumi::render(d, &mut tree)?;
    terraform::render(d, &mut tree)?;
    gcloud::render(d, &mut tree)?;
    monitoring::render(d, &mut tree)?;
    ci::render(d, &mut tree)?;
    // The cost estimate's inputs, so `plan` can show what a spec change does to the cost.
    tree.add(crate::cost::FILE, &d.cost.to_json());
    Ok(tree)
}

/// Renders one template into `tree` at `path`, adding the generated-file header.
pub(crate) fn add<T: Template>(
    tree: &mut Tree,
    d: &Deployment,
    path: &str,
    name: &'static str,
    template: &T,
) -> Result<(), Error> {
    let body = render_one(name, template)?;
    add_text(tree, d, path, &body);
    Ok(())
}

/// Renders one template to text, for a target that post-processes it before [`add_text`].
pub(crate) fn render_one<T: Template>(name: &'static str, template: &T) -> Result<String, Error> {
    template.render().map_err(|source| Error::Template {
        template: name,
        source,
    })
}

/// Adds already rendered text into `tree` at `path`, with the generated-file header.
pub(crate) fn add_text(tree: &mut Tree, d: &Deployment, path: &str, body: &str) {
    tree.add(path, &with_header(path, body, &d.spec_name));
}

/// Every file whose format has comments starts by saying where it comes from. No version or
/// date, so re-running or upgrading mlgen does not churn files.
fn with_header(path: &str, body: &str, spec_name: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let comment = match file.rsplit_once('.').map(|(_, e)| e) {
        _ if file == "Dockerfile" => "#",
        Some("json") => return body.to_string(),
        Some("py" | "tf" | "sh" | "yaml" | "yml" | "txt" | "dockerignore" | "gcloudignore") => "#",
        _ => return body.to_string(),
    };
    let header = format!(
        "{comment} Generated by mlgen from {spec_name}. Do not edit: change the spec and run `mlgen apply`.\n"
    );
    // Keep a shebang or a Dockerfile parser directive on the first line.
    match body.split_once('\n') {
        Some((first, rest)) if first.starts_with("#!") || first.starts_with("# syntax=") => {
            format!("{first}\n{header}{rest}")
        }
        _ => format!("{header}{body}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::model::{IamGrant, IamTarget};
    use crate::spec::SourceFile;

    /// A grant on `target` with made-up names, for the renderers' mapping tests.
    pub(crate) fn sample_grant(target: IamTarget) -> IamGrant {
        IamGrant {
            key: "k".to_string(),
            target,
            // Each target's resource in the form the model writes it.
            resource: match target {
                IamTarget::ManagedFolder => "res/folder/",
                IamTarget::Repository => "projects/p/locations/l/repositories/res",
                _ => "res",
            }
            .to_string(),
            role: "roles/x".to_string(),
            member: "user:a@x.example".to_string(),
            before_service: false,
            principal: crate::model::Principal::Named,
        }
    }

    /// Between them, a grant of every kind: secrets, a model folder, deployers and invokers
    /// in the example; a model at a bucket's root and an image of another project here.
    fn every_kind_of_grant() -> [(Deployment, Tree); 2] {
        let example = include_str!("../../examples/fraud-onnx-gcs/mlgen.toml");
        let other = example
            .replace(
                "gs://acme-models-prod/fraud/v7/model.onnx",
                "gs://acme-models-prod/model.onnx",
            )
            .replace(
                "repository = \"risk-models\"\ntag = \"7.0.2\"",
                "url = \"us-docker.pkg.dev/acme-images/base/fraud:1\"",
            );
        [example.to_string(), other].map(|text| {
            let file = SourceFile {
                path: PathBuf::from("mlgen.toml"),
                text,
            };
            crate::pipeline::compile(&file).unwrap_or_else(|e| panic!("{e}"))
        })
    }

    #[test]
    fn every_grant_reaches_every_target() {
        let both = every_kind_of_grant();
        let kinds: Vec<IamTarget> = both
            .iter()
            .flat_map(|(d, _)| d.iam.iter().map(|g| g.target))
            .collect();
        assert!(
            IamTarget::ALL.iter().all(|t| kinds.contains(t)),
            "{kinds:?}"
        );
        for (d, tree) in &both {
            grants_reach_every_target(d, tree);
        }
    }

    fn grants_reach_every_target(d: &Deployment, tree: &Tree) {
        let file = |path: &str| tree.get(path).unwrap_or_else(|| panic!("no {path}"));
        let (tf, py) = (file("terraform/main.tf"), file("pulumi/__main__.py"));
        let (deploy, teardown) = (file("gcloud/deploy.sh"), file("gcloud/teardown.sh"));
        for g in &d.iam {
            let quoted_key = format!("\"{}\"", g.key);
            assert!(
                tf.contains(&quoted_key) && py.contains(&quoted_key),
                "{}",
                g.key
            );
            let member = match g.principal {
                crate::model::Principal::RunServiceAgent => format!(
                    "\"{}\"",
                    crate::model::run_service_agent("${project_number}")
                ),
                _ => g.member.clone(),
            };
            let binding = format!("--member={member} --role={}", g.role);
            assert!(deploy.contains(&binding), "deploy.sh lacks {binding}");
            // Deleting the service deletes the grants on it; teardown removes the others.
            let removed = teardown.contains(&binding);
            assert_eq!(removed, g.target != IamTarget::Service, "{binding}");
        }
    }
}
