//! The terraform target: `terraform/{versions,variables,main,outputs}.tf`.
//!
//! Templates read the [`Deployment`] through small view structs that only name things
//! Terraform needs (resource types and addresses); every value still comes from the model.
//! The rendered text then goes through [`align`], which pads attribute names the way
//! `terraform fmt` does, so the output passes `terraform fmt -check` as generated.

use askama::Template;

use super::{Arg, BuildStep, Value, add_text, arg, render_one};
use crate::error::Error;
use crate::model::{
    Deployment, IamGrant, IamTarget, Principal, RevisionKey, Rollout, run_service_agent,
};
use crate::tree::Tree;

/// The google provider version the output is pinned to. The validator checks generated
/// files against this version's schema (tests/data/google-provider-schema.json).
pub const GOOGLE_PROVIDER_VERSION: &str = "7.5.0";
/// Terraform releases the output is written for (what `terraform fmt` 1.11 checks also
/// parses on 1.5; older releases are out of HashiCorp support).
pub const TERRAFORM_VERSION: &str = ">= 1.5";

/// Addresses of the singletons in main.tf.
const APIS: &str = "google_project_service.apis";
const ACCOUNT: &str = "google_service_account.runtime";
const BUILD_ACCOUNT: &str = "google_service_account.build";
const STAGING_BUCKET: &str = "google_storage_bucket.staging";
const SERVICE: &str = "google_cloud_run_v2_service.service";
const REPOSITORY: &str = "google_artifact_registry_repository.images";
/// The repository that existed before, read.
const EXISTING_REPOSITORY: &str = "data.google_artifact_registry_repository.images";

/// The repository's address: created here, or read when it existed before.
pub(crate) fn repository_address(d: &Deployment) -> &'static str {
    match &d.repository {
        Some(r) if r.existing => EXISTING_REPOSITORY,
        _ => REPOSITORY,
    }
}
/// The image built here, by digest.
const BUILT_IMAGE: &str = "data.google_artifact_registry_docker_image.image.self_link";
/// The image built elsewhere.
const IMAGE_VARIABLE: &str = "var.image";

/// The image the service runs.
fn image(d: &Deployment) -> &'static str {
    if d.image.built_here {
        BUILT_IMAGE
    } else {
        IMAGE_VARIABLE
    }
}

/// The value that names a canary's revisions (see [`crate::model::RevisionName`]).
fn revision_key(key: RevisionKey) -> &'static str {
    match key {
        RevisionKey::ContentTag => "local.content_tag",
        RevisionKey::ImageUrl => IMAGE_VARIABLE,
    }
}

/// The project, for its number (the Cloud Run service agent's email holds it).
const PROJECT: &str = "data.google_project.project";

/// One IAM grant as a Terraform resource.
struct Grant<'a> {
    key: &'a str,
    before_service: bool,
    tf_type: &'static str,
    /// What the grant is on, then its role and member.
    args: Vec<Arg<'a>>,
}

impl Grant<'_> {
    fn address(&self) -> String {
        format!("{}.{}", self.tf_type, self.key)
    }
}

/// Something the deployment uses but does not create, read as a `data` source so that
/// `terraform plan` fails before anything is created when it is missing.
struct Prerequisite<'a> {
    tf_type: &'static str,
    name: &'a str,
    /// What to create when it is missing, for the comment above it.
    create: String,
    args: Vec<Arg<'a>>,
}

/// The prerequisite a grant reads from, when it is on something the deployment does not
/// create; the grant refers to it, so it is checked first.
fn prerequisite(g: &IamGrant) -> Option<Prerequisite<'_>> {
    let create = g.prerequisite()?;
    let (tf_type, args) = match g.target {
        IamTarget::Secret => (
            "google_secret_manager_secret",
            vec![
                arg("project", Value::Ref("var.project".to_string())),
                arg("secret_id", Value::Text(&g.resource)),
            ],
        ),
        IamTarget::Bucket => (
            "google_storage_bucket",
            vec![arg("name", Value::Text(&g.resource))],
        ),
        IamTarget::ManagedFolder => {
            let (bucket, folder) = g.managed_folder();
            (
                // Reading the folder's policy fails when it is not a managed folder.
                "google_storage_managed_folder_iam_policy",
                vec![
                    arg("bucket", Value::Text(bucket)),
                    arg("managed_folder", Value::Text(folder)),
                ],
            )
        }
        IamTarget::Repository
        | IamTarget::StagingBucket
        | IamTarget::ServiceAccount
        | IamTarget::Service
        | IamTarget::Project => return None,
    };
    Some(Prerequisite {
        tf_type,
        name: &g.key,
        create,
        args,
    })
}

/// The one place Terraform spells each kind of grant: its resource type and the arguments
/// that name what it is on. What the configuration creates or reads (the runtime account,
/// the service, the repository, a prerequisite) is referred to, not named, so Terraform
/// creates or checks it first.
/// `repository`: the deployment's repository, as its name and its address.
fn grant<'a>(g: &'a IamGrant, repository: Option<(&str, &str)>) -> Grant<'a> {
    let of = |resource: &str, attr: &str| Value::Ref(format!("{resource}.{attr}"));
    let data = |tf_type: &str, attr: &str| of(&format!("data.{tf_type}.{}", g.key), attr);
    let (tf_type, mut args) = match g.target {
        IamTarget::Secret => (
            "google_secret_manager_secret_iam_member",
            vec![
                arg("project", data("google_secret_manager_secret", "project")),
                arg(
                    "secret_id",
                    data("google_secret_manager_secret", "secret_id"),
                ),
            ],
        ),
        IamTarget::Bucket => (
            "google_storage_bucket_iam_member",
            vec![arg("bucket", data("google_storage_bucket", "name"))],
        ),
        // The bucket this configuration creates: referring to it creates it first.
        IamTarget::StagingBucket => (
            "google_storage_bucket_iam_member",
            vec![arg("bucket", of(STAGING_BUCKET, "name"))],
        ),
        IamTarget::ManagedFolder => {
            let policy = "google_storage_managed_folder_iam_policy";
            (
                "google_storage_managed_folder_iam_member",
                vec![
                    arg("bucket", data(policy, "bucket")),
                    arg("managed_folder", data(policy, "managed_folder")),
                ],
            )
        }
        IamTarget::Repository
            if repository.is_some_and(|(name, _)| name == g.resource.as_str()) =>
        {
            let address = repository.map_or(REPOSITORY, |(_, a)| a);
            (
                "google_artifact_registry_repository_iam_member",
                vec![
                    arg("project", of(address, "project")),
                    arg("location", of(address, "location")),
                    arg("repository", of(address, "name")),
                ],
            )
        }
        IamTarget::Repository => {
            let (project, location, id) = g.repository();
            (
                "google_artifact_registry_repository_iam_member",
                vec![
                    arg("project", Value::Text(project)),
                    arg("location", Value::Text(location)),
                    arg("repository", Value::Text(id)),
                ],
            )
        }
        IamTarget::ServiceAccount => (
            "google_service_account_iam_member",
            vec![arg("service_account_id", of(ACCOUNT, "name"))],
        ),
        IamTarget::Service => (
            "google_cloud_run_v2_service_iam_member",
            vec![
                arg("project", of(SERVICE, "project")),
                arg("location", of(SERVICE, "location")),
                arg("name", of(SERVICE, "name")),
            ],
        ),
        IamTarget::Project => (
            "google_project_iam_member",
            vec![arg("project", Value::Ref("var.project".to_string()))],
        ),
    };
    let member = match g.principal {
        Principal::Named => Value::Text(&g.member),
        Principal::Runtime => of(ACCOUNT, "member"),
        Principal::Build => of(BUILD_ACCOUNT, "member"),
        Principal::RunServiceAgent => Value::Ref(format!(
            "\"{}\"",
            run_service_agent(&format!("${{{PROJECT}.number}}"))
        )),
    };
    args.extend([arg("role", Value::Text(&g.role)), arg("member", member)]);
    Grant {
        key: &g.key,
        before_service: g.before_service,
        tf_type,
        args,
    }
}

#[derive(Template)]
#[template(path = "terraform/versions.tf")]
struct Versions {
    terraform: &'static str,
    google: &'static str,
}

#[derive(Template)]
#[template(path = "terraform/variables.tf")]
struct Variables<'a> {
    d: &'a Deployment,
}

#[derive(Template)]
#[template(path = "terraform/main.tf")]
struct Main<'a> {
    d: &'a Deployment,
    build: BuildStep<'a>,
    image: &'static str,
    repository: &'static str,
    apis: &'static str,
    account: &'static str,
    prerequisites: Vec<Prerequisite<'a>>,
    /// Whether the Cloud Run service agent's email is needed (it holds the project number).
    project_number: bool,
    grants: Vec<Grant<'a>>,
    /// Addresses the service waits for: the APIs, then the grants it checks when deploying.
    service_depends_on: Vec<String>,
    /// The build account's address, and its grants': the build waits for them.
    build_account: &'static str,
    staging_bucket: &'static str,
    build_grants: Vec<String>,
}

/// The canary's inputs, revision names and output.
#[derive(Template)]
#[template(path = "terraform/rollout.tf")]
struct RolloutFile<'a> {
    r: &'a Rollout,
    revision_key: &'static str,
}

#[derive(Template)]
#[template(path = "terraform/outputs.tf")]
struct Outputs {
    image: &'static str,
    account: &'static str,
    service: &'static str,
}

pub fn render(d: &Deployment, tree: &mut Tree) -> Result<(), Error> {
    let repository = d.repository.as_ref().map(|r| r.name());
    let address = repository_address(d);
    let grants: Vec<Grant> = d
        .iam
        .iter()
        .map(|g| grant(g, repository.as_deref().map(|n| (n, address))))
        .collect();
    let build_grants: Vec<String> = d
        .iam
        .iter()
        .zip(&grants)
        .filter(|(g, _)| g.principal == Principal::Build)
        .map(|(_, g)| g.address())
        .collect();
    let service_depends_on = std::iter::once(APIS.to_string())
        .chain(
            grants
                .iter()
                .filter(|g| g.before_service)
                .map(Grant::address),
        )
        .collect();
    let main = Main {
        d,
        build: BuildStep::new(d),
        image: image(d),
        repository: address,
        apis: APIS,
        account: ACCOUNT,
        prerequisites: d.iam.iter().filter_map(prerequisite).collect(),
        project_number: d
            .iam
            .iter()
            .any(|g| g.principal == Principal::RunServiceAgent),
        grants,
        service_depends_on,
        build_account: BUILD_ACCOUNT,
        staging_bucket: STAGING_BUCKET,
        build_grants,
    };
    let versions = Versions {
        terraform: TERRAFORM_VERSION,
        google: GOOGLE_PROVIDER_VERSION,
    };
    let outputs = Outputs {
        image: image(d),
        account: ACCOUNT,
        service: SERVICE,
    };
    let files = [
        (
            "terraform/versions.tf",
            render_one("terraform/versions.tf", &versions)?,
        ),
        (
            "terraform/variables.tf",
            render_one("terraform/variables.tf", &Variables { d })?,
        ),
        ("terraform/main.tf", render_one("terraform/main.tf", &main)?),
        (
            "terraform/outputs.tf",
            render_one("terraform/outputs.tf", &outputs)?,
        ),
    ];
    for (path, body) in files {
        add_text(tree, d, path, &align(&body));
    }
    if let Some(r) = &d.rollout {
        let file = RolloutFile {
            r,
            revision_key: revision_key(r.revision.key),
        };
        let body = render_one("terraform/rollout.tf", &file)?;
        add_text(tree, d, "terraform/rollout.tf", &align(&body));
    }
    Ok(())
}

/// Aligns the `=` of consecutive single-line attributes, as `terraform fmt` does.
///
/// hclwrite's rule (format.go, `formatCells`): a line "assigns" when a token after its
/// first is `=` and the rest of the line opens no more brackets than it closes; runs of
/// consecutive assigning lines get their `=` one space past the longest name. Any other
/// line (a block header, `}`, a blank line, `x = {` opening a multi-line value, a list
/// item) ends the run. Names are identifiers or quoted map keys; width is counted in
/// characters, as fmt counts grapheme clusters (equal for the ASCII names mlgen writes).
pub fn align(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let parsed: Vec<Option<(&str, &str)>> = lines.iter().map(|l| assignment(l)).collect();
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut i = 0;
    while i < lines.len() {
        if parsed[i].is_none() {
            out.push_str(lines[i]);
            out.push('\n');
            i += 1;
            continue;
        }
        let end = (i..lines.len())
            .find(|&j| parsed[j].is_none())
            .unwrap_or(lines.len());
        let width = parsed[i..end]
            .iter()
            .map(|p| p.map_or(0, |(lead, _)| lead.chars().count()))
            .max()
            .unwrap_or(0);
        for (lead, rest) in parsed[i..end].iter().flatten() {
            out.push_str(lead);
            out.extend(std::iter::repeat_n(' ', width - lead.chars().count() + 1));
            out.push_str(rest);
            out.push('\n');
        }
        i = end;
    }
    out.pop();
    out
}

/// Splits `  name = value` into (`  name`, `= value`) when it is a single-line assignment.
fn assignment(line: &str) -> Option<(&str, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    let name_len = if let Some(quoted) = rest.strip_prefix('"') {
        1 + string_len(quoted)?
    } else {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .filter(|&n| n > 0)?
    };
    let after = &rest[name_len..];
    let value = after.trim_start_matches(' ').strip_prefix('=')?;
    if value.starts_with('=') || !balanced(value) {
        return None;
    }
    // `rest` of the pair starts at the `=`, whatever spacing the template used.
    let eq = indent + name_len + (after.len() - after.trim_start_matches(' ').len());
    Some((&line[..indent + name_len], &line[eq..]))
}

/// Length of a quoted string's body plus its closing quote, or None when unterminated.
fn string_len(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// True when `value` closes every bracket it opens, ignoring brackets inside strings.
fn balanced(value: &str) -> bool {
    let mut depth = 0i32;
    let mut i = 0;
    // Every delimiter is ASCII, so walking bytes never splits a character that matters.
    while i < value.len() {
        match value.as_bytes()[i] {
            b'"' => match string_len(&value[i + 1..]) {
                Some(n) => i += n,
                None => return false,
            },
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::render::tests::sample_grant;

    fn spelled(a: &Arg) -> String {
        match &a.value {
            Value::Text(t) => format!("{} = \"{t}\"", a.name),
            Value::Ref(r) => format!("{} = {r}", a.name),
        }
    }

    #[test]
    fn each_kind_of_grant_is_its_own_resource_type() {
        let types: BTreeSet<&str> = IamTarget::ALL
            .into_iter()
            .map(|t| {
                let g = sample_grant(t);
                let args: Vec<String> = grant(&g, None).args.iter().map(spelled).collect();
                assert_eq!(
                    args[args.len() - 2..],
                    ["role = \"roles/x\"", "member = \"user:a@x.example\""],
                    "{t:?}"
                );
                grant(&g, None).tf_type
            })
            .collect();
        // The model's bucket and the build's staging bucket are both buckets: one type,
        // the staging bucket referred to as the resource that creates it.
        assert_eq!(types.len(), IamTarget::ALL.len() - 1);
        let bucket_arg = |t| spelled(&grant(&sample_grant(t), None).args[0]);
        assert_ne!(
            bucket_arg(IamTarget::Bucket),
            bucket_arg(IamTarget::StagingBucket)
        );
    }

    #[test]
    fn the_runtime_account_and_the_service_are_referred_to() {
        let mut g = sample_grant(IamTarget::Service);
        g.principal = Principal::Runtime;
        let args: Vec<String> = grant(&g, None).args.iter().map(spelled).collect();
        assert_eq!(
            args,
            [
                "project = google_cloud_run_v2_service.service.project",
                "location = google_cloud_run_v2_service.service.location",
                "name = google_cloud_run_v2_service.service.name",
                "role = \"roles/x\"",
                "member = google_service_account.runtime.member",
            ]
        );
        let sa = sample_grant(IamTarget::ServiceAccount);
        assert_eq!(
            spelled(&grant(&sa, None).args[0]),
            "service_account_id = google_service_account.runtime.name"
        );
    }

    #[test]
    fn a_repository_is_referred_to_when_created_here_and_the_agent_by_project_number() {
        let mut g = sample_grant(IamTarget::Repository);
        g.resource = "projects/p/locations/l/repositories/r".to_string();
        g.principal = Principal::RunServiceAgent;
        let spelled_args =
            |own| -> Vec<String> { grant(&g, own).args.iter().map(spelled).collect() };
        assert_eq!(
            spelled_args(None),
            [
                "project = \"p\"",
                "location = \"l\"",
                "repository = \"r\"",
                "role = \"roles/x\"",
                "member = \"serviceAccount:service-${data.google_project.project.number}\
                 @serverless-robot-prod.iam.gserviceaccount.com\"",
            ]
        );
        let own = spelled_args(Some(("projects/p/locations/l/repositories/r", REPOSITORY)));
        assert_eq!(
            own[2],
            "repository = google_artifact_registry_repository.images.name"
        );
        let existing = spelled_args(Some((
            "projects/p/locations/l/repositories/r",
            EXISTING_REPOSITORY,
        )));
        assert_eq!(
            existing[2],
            "repository = data.google_artifact_registry_repository.images.name"
        );
    }

    #[test]
    fn grants_on_what_the_deployment_does_not_create_read_it_first() {
        for t in IamTarget::ALL {
            let g = sample_grant(t);
            let needs_check = prerequisite(&g).is_some();
            let refers = grant(&g, None)
                .args
                .iter()
                .any(|a| matches!(&a.value, Value::Ref(r) if r.starts_with("data.")));
            assert_eq!(needs_check, refers, "{t:?}");
            let created_elsewhere = matches!(
                t,
                IamTarget::Secret | IamTarget::Bucket | IamTarget::ManagedFolder
            );
            assert_eq!(needs_check, created_elsewhere, "{t:?}");
        }
    }

    #[test]
    fn aligns_runs_and_breaks_on_other_lines() {
        let src = "a {\n  x = 1\n  long_name = \"}\"\n  m = {\n    \"k.z\" = \"v\"\n    b = \"w\"\n  }\n  y = [1]\n}";
        let want = "a {\n  x         = 1\n  long_name = \"}\"\n  m = {\n    \"k.z\" = \"v\"\n    b     = \"w\"\n  }\n  y = [1]\n}";
        assert_eq!(align(src), want);
    }

    #[test]
    fn leaves_block_headers_and_quoted_equals_alone() {
        let src = "resource \"a=b\" \"c\" {\n  k = \"x = y\"\n  kk = \"\\\"=\"\n}\n";
        let want = "resource \"a=b\" \"c\" {\n  k  = \"x = y\"\n  kk = \"\\\"=\"\n}\n";
        assert_eq!(align(src), want);
    }
}
