//! The gcloud target: bash scripts that deploy and tear down the service with the gcloud
//! CLI, plus the files they hand to gcloud (env vars, Cloud Build config, upload ignore list).
//!
//! Everything lands in `gcloud/` inside the output folder. The scripts find that folder
//! from their own path, so they run from anywhere.

use askama::Template;

use super::{BuildStep, TAG_SUBSTITUTION, add};
use crate::error::Error;
use crate::model::{
    BUILD_CONFIG, BUILD_IGNORE_FILE, CiGrantOn, Deployment, IamGrant, IamTarget, Principal, Probe,
    Repository, RevisionKey, Rollout, run_service_agent,
};
use crate::tree::Tree;

/// The folder, inside the output folder, that holds this target's files.
const DIR: &str = "gcloud";

const ENV_FILE: &str = "env.yaml";

/// One IAM grant as gcloud spells it.
struct Grant<'a> {
    g: &'a IamGrant,
    /// The command group whose `add-` / `remove-iam-policy-binding` sets it, word by word.
    group: &'static [&'static str],
    /// The resource as that command takes it.
    resource: String,
    /// The flags that say where the resource is, as shell words (`--region="$region"
    /// --project="$project"`).
    scope: String,
    /// The member as a shell word: the service agent's is built from the project number
    /// the script looks up.
    member: String,
    /// On the service itself: deleting the service deletes the grant with it.
    on_service: bool,
}

const PROJECT: &str = "--project=\"$project\"";

/// The description deploy.sh gives the account it creates, the mark teardown.sh deletes
/// it by; inside double quotes in the scripts.
const ACCOUNT_MARK: &str = "Created by deploy.sh for Cloud Run service $service";

/// The one place gcloud spells each kind of grant.
fn grant(g: &IamGrant) -> Grant<'_> {
    let project = PROJECT.to_string();
    let (group, resource, scope): (&'static [&'static str], String, String) = match g.target {
        IamTarget::Secret => (&["secrets"], g.resource.clone(), project),
        IamTarget::Bucket | IamTarget::StagingBucket => (
            &["storage", "buckets"],
            format!("gs://{}", g.resource),
            project,
        ),
        IamTarget::ManagedFolder => (
            &["storage", "managed-folders"],
            format!("gs://{}", g.resource),
            project,
        ),
        IamTarget::Repository => {
            let (project, location, id) = g.repository();
            let scope = format!(
                "--location={} --project={}",
                shell(location),
                shell(project)
            );
            (&["artifacts", "repositories"], id.to_string(), scope)
        }
        IamTarget::ServiceAccount => (&["iam", "service-accounts"], g.resource.clone(), project),
        IamTarget::Service => (
            &["run", "services"],
            g.resource.clone(),
            format!("--region=\"$region\" {project}"),
        ),
        IamTarget::Project => (&["projects"], g.resource.clone(), String::new()),
    };
    let member = match g.principal {
        Principal::Named | Principal::Runtime | Principal::Build => shell(&g.member),
        Principal::RunServiceAgent => format!("\"{}\"", run_service_agent("${project_number}")),
    };
    Grant {
        g,
        group,
        resource: shell(&resource),
        scope,
        member,
        on_service: g.target == IamTarget::Service,
    }
}

/// A value as one shell word, escaped as the templates escape it.
fn shell(value: &str) -> String {
    let mut out = String::new();
    askama::filters::Escaper::write_escaped_str(&super::escape::PosixShell, &mut out, value)
        .expect("writing to a String cannot fail");
    out
}

/// A role on something the script creates, whose members it makes the spec's.
struct Converge {
    group: &'static [&'static str],
    /// As a shell word, and as the step's text shows it.
    resource: String,
    resource_name: String,
    scope: String,
    role: &'static str,
    /// The members the spec names, as shell words.
    wanted: Vec<String>,
    /// A shell test that holds when this deployment created the resource.
    owned_if: Option<&'static str>,
}

/// Every role the deployment grants on what it creates, with the members the spec names.
fn converge(d: &Deployment) -> Vec<Converge> {
    let mut on: Vec<(IamTarget, String, Option<&'static str>)> = vec![
        (IamTarget::Service, d.service.name.clone(), None),
        (
            IamTarget::ServiceAccount,
            d.runtime_account.email.clone(),
            Some(r#"[ "$account_description" = "$account_mark" ]"#),
        ),
    ];
    if let Some(repo) = d.repository.as_ref().filter(|r| !r.existing) {
        on.push((
            IamTarget::Repository,
            repo.name(),
            Some(r#"[ "$repository_owner" = "$service" ]"#),
        ));
    }
    let mut out = Vec::new();
    for (target, resource, owned_if) in on {
        for &role in target.roles_granted_when_created() {
            let wanted: Vec<&IamGrant> = d
                .iam
                .iter()
                .filter(|g| g.target == target && g.resource == resource && g.role == role)
                .collect();
            // The command's spelling comes from a grant, real or a stand-in for none.
            let probe = IamGrant {
                key: String::new(),
                target,
                resource: resource.clone(),
                role: role.to_string(),
                member: String::new(),
                principal: Principal::Named,
                before_service: false,
            };
            let spelled = grant(&probe);
            let mut wanted: Vec<String> = wanted.iter().map(|g| grant(g).member).collect();
            // The pipeline's account holds its own grants here (ci-setup.sh makes them);
            // pruning them would cut the pipeline off until ci-setup.sh runs again.
            if let Some(member) = ci_member_on(d, target, role) {
                wanted.push(member);
            }
            out.push(Converge {
                group: spelled.group,
                resource: spelled.resource,
                resource_name: resource.clone(),
                scope: spelled.scope,
                role,
                wanted,
                owned_if,
            });
        }
    }
    out
}

/// The deploy pipeline's account, as a shell word, when it is granted `role` on `target`.
fn ci_member_on(d: &Deployment, target: IamTarget, role: &str) -> Option<String> {
    let ci = d.ci.as_ref()?;
    let on = match target {
        IamTarget::Service => CiGrantOn::Service,
        IamTarget::ServiceAccount => CiGrantOn::RuntimeAccount,
        IamTarget::Repository => CiGrantOn::Repository,
        _ => return None,
    };
    ci.grants
        .iter()
        .any(|g| g.on == on && g.role == role)
        .then(|| shell(&ci.account.member))
}

/// What the runtime account reads, as deploy.sh compares it with what the service read
/// before this deploy: a secret or a model folder that left the spec loses its grant.
struct Reads {
    /// The role on a secret and on a bucket or managed folder.
    secret_role: &'static str,
    object_role: &'static str,
    /// What the spec reads now, as shell words in gcloud's spelling (`gs://BUCKET`,
    /// `gs://BUCKET/FOLDER/`).
    secrets: Vec<String>,
    mounts: Vec<String>,
}

impl Reads {
    fn new(d: &Deployment) -> Self {
        let role = |t: IamTarget| t.runtime_read_role().expect("the runtime reads it");
        let read = |targets: &[IamTarget]| {
            d.iam
                .iter()
                .filter(|g| g.principal == Principal::Runtime && targets.contains(&g.target))
                .map(|g| grant(g).resource)
                .collect()
        };
        Reads {
            secret_role: role(IamTarget::Secret),
            object_role: role(IamTarget::ManagedFolder),
            secrets: read(&[IamTarget::Secret]),
            mounts: read(&[IamTarget::Bucket, IamTarget::ManagedFolder]),
        }
    }
}

/// A prerequisite as the script checks it: the command that fails when it is missing, and
/// what to do then.
struct Prerequisite {
    check: String,
    what: String,
}

/// Every prerequisite of the deployment: the GPU quota (checked by `gpu_quota` in the
/// script), an existing repository, and what its grants are on.
fn prerequisites(d: &Deployment) -> Vec<Prerequisite> {
    let quota = d.gpu_quota.as_ref().map(|q| Prerequisite {
        check: "gpu_quota".to_string(),
        what: q.request.clone(),
    });
    let repository = d.repository.as_ref().and_then(|r| {
        Some(Prerequisite {
            check: format!(
                "gcloud artifacts repositories describe {} --location={} --project={}",
                shell(&r.id),
                shell(&r.location),
                shell(&r.project)
            ),
            what: format!("create {}", r.prerequisite()?),
        })
    });
    quota
        .into_iter()
        .chain(repository)
        .chain(d.iam.iter().filter_map(prerequisite))
        .collect()
}

fn prerequisite(g: &IamGrant) -> Option<Prerequisite> {
    let create = g.prerequisite()?;
    let group = grant(g);
    Some(Prerequisite {
        check: format!(
            "gcloud {} describe {} {}",
            group.group.join(" "),
            group.resource,
            group.scope
        ),
        what: format!("create {create}"),
    })
}

/// The model's booleans as `gcloud run deploy` switches (`--NAME` / `--no-NAME`): the one
/// place their polarity is mapped, since gcloud names some of them the other way round.
struct Switches {
    gpu_zonal_redundancy: Option<String>,
    cpu_throttling: String,
    cpu_boost: String,
    invoker_iam_check: String,
}

impl Switches {
    fn new(d: &Deployment) -> Self {
        let c = &d.container;
        Switches {
            gpu_zonal_redundancy: c
                .gpu
                .as_ref()
                .map(|g| switch("gpu-zonal-redundancy", !g.zonal_redundancy_disabled)),
            // Throttled between requests is what the API calls an idle CPU.
            cpu_throttling: switch("cpu-throttling", c.cpu_idle),
            cpu_boost: switch("cpu-boost", c.startup_cpu_boost),
            invoker_iam_check: switch("invoker-iam-check", !d.service.invoker_iam_disabled),
        }
    }
}

fn switch(name: &str, on: bool) -> String {
    if on {
        format!("--{name}")
    } else {
        format!("--no-{name}")
    }
}

/// The probes as `--startup-probe` / `--liveness-probe` values.
struct ProbeFlags {
    startup: String,
    liveness: String,
}

/// `httpGet.path=/ready,httpGet.port=8080,periodSeconds=5,...`: the API's fields in the
/// camelCase of its JSON form.
fn probe_flag(p: &Probe) -> String {
    let mut flag = format!("httpGet.path={},httpGet.port={}", p.path, p.port);
    for s in p.settings() {
        flag.push_str(&format!(",{}={}", camel_case(s.name), s.value));
    }
    flag
}

fn camel_case(snake: &str) -> String {
    let mut words = snake.split('_');
    let first = words.next().unwrap_or_default().to_string();
    words.fold(first, |mut out, w| {
        let mut chars = w.chars();
        out.extend(chars.next().map(|c| c.to_ascii_uppercase()));
        out.push_str(chars.as_str());
        out
    })
}

#[derive(Template)]
#[template(path = "gcloud/deploy.sh")]
struct Deploy<'a> {
    d: &'a Deployment,
    account_mark: &'static str,
    prerequisites: Vec<Prerequisite>,
    /// Whether the script looks up the project number (the service agent's email holds it).
    project_number: bool,
    /// A volume has mount options, which only the beta track's `run deploy` takes.
    run_beta: bool,
    converge: Vec<Converge>,
    reads: Reads,
    build: BuildStep<'a>,
    /// The `content_tag` function, built here only.
    content_tag: String,
    env_file: &'static str,
    grants: Vec<Grant<'a>>,
    switches: Switches,
    probes: ProbeFlags,
}

impl Deploy<'_> {
    /// The shell variable whose value names a canary's revisions (see [`crate::model::RevisionName`]).
    fn revision_key(&self, r: &Rollout) -> &'static str {
        match r.revision.key {
            RevisionKey::ContentTag => "tag",
            RevisionKey::ImageUrl => "image",
        }
    }
}

/// promote.sh and rollback.sh, for a canary.
#[derive(Template)]
#[template(path = "gcloud/promote.sh")]
struct Promote<'a> {
    d: &'a Deployment,
    r: &'a Rollout,
}

#[derive(Template)]
#[template(path = "gcloud/rollback.sh")]
struct Rollback<'a> {
    d: &'a Deployment,
    r: &'a Rollout,
}

#[derive(Template)]
#[template(path = "gcloud/teardown.sh")]
struct Teardown<'a> {
    d: &'a Deployment,
    /// The repository, when the deployment creates it (and so deletes it).
    own_repository: Option<&'a Repository>,
    account_mark: &'static str,
    pipeline_mark: &'static str,
    project_number: bool,
    grants: Vec<Grant<'a>>,
}

#[derive(Template)]
#[template(path = "gcloud/env.yaml")]
struct EnvFile<'a> {
    d: &'a Deployment,
}

#[derive(Template)]
#[template(path = "gcloud/cloudbuild.json")]
struct CloudBuild<'a> {
    d: &'a Deployment,
    /// The image tagged with the content tag, as the config's substitution spells it.
    content_tagged: String,
}

#[derive(Template)]
#[template(path = "gcloud/gcloudignore", ext = "gcloudignore")]
struct Ignore<'a> {
    allow: Vec<Allow<'a>>,
}

/// One re-included path of the upload allowlist, relative to the build context.
#[derive(Debug, PartialEq)]
struct Allow<'a> {
    path: &'a str,
    /// A folder on the way to an input: re-included, its own contents excluded again, since
    /// an ignore file cannot re-include a file whose folder is excluded.
    dir: bool,
}

/// The allowlist of `inputs` (sorted): each folder on the way, once, then the file. An
/// input folder (ending in `/`) is re-included whole, as a file would be.
fn allowlist(inputs: &[String]) -> Vec<Allow<'_>> {
    let mut out: Vec<Allow> = Vec::new();
    for input in inputs {
        let input = input.trim_end_matches('/');
        let folders = input.match_indices('/').map(|(i, _)| &input[..i]);
        for path in folders {
            if !out.iter().any(|a| a.dir && a.path == path) {
                out.push(Allow { path, dir: true });
            }
        }
        out.push(Allow {
            path: input,
            dir: false,
        });
    }
    out
}

pub fn render(d: &Deployment, tree: &mut Tree) -> Result<(), Error> {
    let path = |file: &str| format!("{DIR}/{file}");
    let grants = || d.iam.iter().map(grant).collect();
    let project_number = d
        .iam
        .iter()
        .any(|g| g.principal == Principal::RunServiceAgent);
    let deploy = Deploy {
        d,
        account_mark: ACCOUNT_MARK,
        prerequisites: prerequisites(d),
        project_number,
        run_beta: d.volumes.iter().any(|v| !v.mount_options.is_empty()),
        converge: converge(d),
        reads: Reads::new(d),
        build: BuildStep::new(d),
        content_tag: super::content_tag_script(d)?,
        env_file: ENV_FILE,
        grants: grants(),
        switches: Switches::new(d),
        probes: ProbeFlags {
            startup: probe_flag(&d.probes.startup),
            liveness: probe_flag(&d.probes.liveness),
        },
    };
    add(tree, d, &path("deploy.sh"), "gcloud/deploy.sh", &deploy)?;
    add(
        tree,
        d,
        &path("teardown.sh"),
        "gcloud/teardown.sh",
        &Teardown {
            d,
            own_repository: d.repository.as_ref().filter(|r| !r.existing),
            account_mark: ACCOUNT_MARK,
            pipeline_mark: super::ci::PIPELINE_MARK,
            project_number,
            grants: grants(),
        },
    )?;
    if let Some(r) = &d.rollout {
        let promote = Promote { d, r };
        add(tree, d, &path("promote.sh"), "gcloud/promote.sh", &promote)?;
        let rollback = Rollback { d, r };
        add(
            tree,
            d,
            &path("rollback.sh"),
            "gcloud/rollback.sh",
            &rollback,
        )?;
    }
    if !d.env.is_empty() {
        add(tree, d, &path(ENV_FILE), "gcloud/env.yaml", &EnvFile { d })?;
    }
    if d.image.built_here {
        let content_tagged = format!("{}:${{{}}}", d.image.path, TAG_SUBSTITUTION);
        let cloudbuild = CloudBuild { d, content_tagged };
        add(tree, d, BUILD_CONFIG, "gcloud/cloudbuild.json", &cloudbuild)?;
        let ignore = Ignore {
            allow: allowlist(&d.build.inputs),
        };
        add(tree, d, BUILD_IGNORE_FILE, "gcloud/gcloudignore", &ignore)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::Deployment;
    use crate::render::tests::sample_grant;

    #[test]
    fn each_kind_of_grant_has_its_own_command_group() {
        let groups: BTreeSet<_> = IamTarget::ALL
            .into_iter()
            .map(|t| grant(&sample_grant(t)).group)
            .collect();
        // The model's bucket and the build's staging bucket are both buckets.
        assert_eq!(groups.len(), IamTarget::ALL.len() - 1);
        for t in [IamTarget::Bucket, IamTarget::StagingBucket] {
            assert_eq!(grant(&sample_grant(t)).resource, "gs://res");
        }
        let on_service: Vec<_> = IamTarget::ALL
            .into_iter()
            .filter(|&t| grant(&sample_grant(t)).on_service)
            .collect();
        assert_eq!(on_service, [IamTarget::Service]);
    }

    fn gpu_deployment() -> Deployment {
        let file = crate::spec::SourceFile {
            path: "mlgen.toml".into(),
            text: include_str!("../../examples/forecast-gpu/mlgen.toml").to_string(),
        };
        crate::pipeline::compile(&file).unwrap().0
    }

    #[test]
    fn switches_follow_the_models_polarity() {
        let mut d = gpu_deployment();
        let gpu = d.container.gpu.as_mut().unwrap();
        gpu.zonal_redundancy_disabled = true;
        d.container.cpu_idle = true;
        d.container.startup_cpu_boost = false;
        d.service.invoker_iam_disabled = true;
        let s = Switches::new(&d);
        assert_eq!(
            s.gpu_zonal_redundancy.as_deref(),
            Some("--no-gpu-zonal-redundancy")
        );
        assert_eq!(s.cpu_throttling, "--cpu-throttling");
        assert_eq!(s.cpu_boost, "--no-cpu-boost");
        assert_eq!(s.invoker_iam_check, "--no-invoker-iam-check");
        d.container.gpu = None;
        assert_eq!(Switches::new(&d).gpu_zonal_redundancy, None);
    }

    #[test]
    fn the_allowlist_reopens_each_folder_once_then_its_files() {
        let inputs = ["a/b/c", "a/b/d", "a/e", "f"].map(String::from);
        let got: Vec<(&str, bool)> = allowlist(&inputs).iter().map(|a| (a.path, a.dir)).collect();
        assert_eq!(
            got,
            [
                ("a", true),
                ("a/b", true),
                ("a/b/c", false),
                ("a/b/d", false),
                ("a/e", false),
                ("f", false),
            ]
        );
    }

    #[test]
    fn probe_flags_spell_every_setting_in_camel_case() {
        let d = gpu_deployment();
        assert_eq!(
            probe_flag(&d.probes.startup),
            "httpGet.path=/ready,httpGet.port=8080,initialDelaySeconds=0,periodSeconds=5,\
             timeoutSeconds=3,failureThreshold=48"
        );
        assert_eq!(camel_case("a_bc_d"), "aBcD");
    }
}
