//! `[environments]`: overrides merged with their own spans, the keys that cannot vary, one
//! deployment per environment with the image promoted by digest, and `--env`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use mlgen::diagnostics::{Diagnostic, line_col};
use mlgen::error::Error;
use mlgen::model::{BUILD_CONFIG, BUILD_IGNORE_FILE, Deployment, IamTarget, Principal};
use mlgen::pipeline;
use mlgen::spec::SourceFile;

const EXAMPLE: &str = include_str!("../examples/churn-staged/mlgen.toml");

fn file(text: &str) -> SourceFile {
    SourceFile {
        path: PathBuf::from("svc/mlgen.toml"),
        text: text.to_string(),
    }
}

fn deployments(text: &str) -> Vec<Deployment> {
    pipeline::compile_all(&file(text))
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|(d, _)| d)
        .collect()
}

fn diagnostics(text: &str) -> Vec<Diagnostic> {
    match pipeline::compile_all(&file(text)) {
        Err(Error::Spec { diagnostics, .. }) => diagnostics,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("the spec is valid"),
    }
}

/// The one diagnostic for `key`, and the line it points at.
#[track_caller]
fn located(text: &str, key: &str) -> (Diagnostic, String) {
    let ds = diagnostics(text);
    let [d] = &ds.iter().filter(|d| d.key == key).collect::<Vec<_>>()[..] else {
        panic!("not one diagnostic for `{key}`: {ds:#?}")
    };
    let (line, _) = line_col(text, d.span.start);
    (
        (*d).clone(),
        text.lines().nth(line - 1).unwrap().to_string(),
    )
}

#[test]
fn the_environments_deploy_in_order_and_the_first_builds() {
    let [staging, prod] = &deployments(EXAMPLE)[..] else {
        panic!("two environments")
    };
    assert_eq!(staging.environment.as_deref(), Some("staging"));
    assert_eq!(prod.environment.as_deref(), Some("prod"));
    assert!(staging.image.built_here && staging.repository.is_some());
    assert_eq!(staging.build.out_dir, "deploy/staging");
    // Overrides apply key by key: what prod does not set is the spec's.
    assert_eq!(prod.service.project, "acme-prod");
    assert_eq!(
        (prod.scaling.min_instances, prod.scaling.max_instances),
        (2, 20)
    );
    assert_eq!(staging.scaling.min_instances, 0);
    assert_eq!(prod.scaling.timeout, staging.scaling.timeout);
    let labels = |d: &Deployment| {
        d.service
            .labels
            .iter()
            .map(|l| l.key.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(labels(staging), ["team"]);
    assert_eq!(labels(prod), ["team", "tier"]);
    let env = |d: &Deployment| d.env.iter().map(|e| e.value.clone()).collect::<Vec<_>>();
    assert_eq!(
        (env(staging), env(prod)),
        (vec!["debug".to_string()], vec!["info".to_string()])
    );
}

#[test]
fn later_environments_run_the_first_ones_image_by_digest() {
    let [staging, prod] = &deployments(EXAMPLE)[..] else {
        panic!("two environments")
    };
    assert!(!prod.image.built_here && prod.repository.is_none());
    let p = prod.image.promoted.as_ref().expect("promoted");
    assert_eq!(p.from, "staging");
    assert_eq!(p.digest_prefix, format!("{}@sha256:", staging.image.path));
    assert!(!prod.apis.iter().any(|a| a.starts_with("cloudbuild")));
    // prod's Cloud Run service agent pulls from staging's repository, in staging's project.
    let pull: Vec<_> = prod
        .iam
        .iter()
        .filter(|g| g.target == IamTarget::Repository)
        .collect();
    let [g] = &pull[..] else {
        panic!("{:?}", prod.iam)
    };
    assert_eq!(g.repository(), ("acme-staging", "europe-west1", "models"));
    assert_eq!(
        (g.role.as_str(), g.principal),
        ("roles/artifactregistry.reader", Principal::RunServiceAgent)
    );
    assert!(g.before_service);
    // In one project the agent reads the repository already: no grant.
    let same = EXAMPLE.replace("project = \"acme-prod\"", "region = \"us-central1\"");
    let prod = &deployments(&same)[1];
    assert!(prod.iam.iter().all(|g| g.target != IamTarget::Repository));
}

/// The files the image is built from and the build's own, relative to the deployment's
/// folder.
fn build_files(d: &Deployment) -> Vec<String> {
    let folder = format!("{}/", d.build.out_dir);
    d.build
        .inputs
        .iter()
        .filter_map(|f| f.strip_prefix(&folder))
        .chain([BUILD_CONFIG, BUILD_IGNORE_FILE])
        .map(str::to_string)
        .collect()
}

/// A later environment never builds, so its folder holds only what its deploy uses: none
/// of the build's files, and none of its files names one.
#[test]
fn a_later_environments_folder_holds_no_build_files() {
    let all = pipeline::compile_all(&file(EXAMPLE)).unwrap_or_else(|e| panic!("{e}"));
    let [(staging, staging_tree), (prod, prod_tree)] = &all[..] else {
        panic!("two environments")
    };
    let built = build_files(staging);
    assert!(built.len() > 10 && built.contains(&"Dockerfile".to_string()));
    for f in &built {
        assert!(staging_tree.get(f).is_some(), "staging lacks {f}");
    }
    for f in build_files(prod) {
        assert!(prod_tree.get(&f).is_none(), "prod has {f}");
        for (path, body) in prod_tree.iter() {
            assert!(!body.contains(&f), "prod's {path} names {f}");
        }
    }
    assert!(prod_tree.iter().all(|(p, _)| !p.starts_with("app/")));
}

#[test]
fn the_pipeline_lives_with_the_build_and_deploys_to_each_environment() {
    let [staging, prod] = &deployments(EXAMPLE)[..] else {
        panic!("two environments")
    };
    assert!(prod.ci.is_none());
    let ci = staging.ci.as_ref().unwrap();
    let envs: Vec<_> = ci
        .environments
        .iter()
        .map(|e| (e.name.as_str(), e.project.as_str(), e.approval))
        .collect();
    assert_eq!(
        envs,
        [
            ("staging", "acme-staging", false),
            ("prod", "acme-prod", true)
        ]
    );
    // The pipeline's account (staging's) deploys to prod as a deployer does, and only there.
    let member = ci.account.member.as_str();
    let roles = |d: &Deployment| -> Vec<String> {
        d.iam
            .iter()
            .filter(|g| g.member == member)
            .map(|g| g.role.clone())
            .collect()
    };
    assert_eq!(
        roles(prod),
        ["roles/iam.serviceAccountUser", "roles/run.developer"]
    );
    assert!(roles(staging).is_empty());
    let cloudbuild = EXAMPLE.replace("provider = \"github\"", "provider = \"cloudbuild\"");
    let ci = deployments(&cloudbuild)[0].ci.clone().unwrap();
    assert!(ci.trigger.unwrap().approval_required);
}

#[test]
fn each_environment_has_its_own_monitoring_and_cost() {
    let [staging, prod] = &deployments(EXAMPLE)[..] else {
        panic!("two environments")
    };
    let names = |d: &Deployment| {
        let m = d.monitoring.as_ref().unwrap();
        m.policies
            .iter()
            .map(|p| p.display_name.clone())
            .chain([m.dashboard.display_name.clone()])
            .collect::<Vec<_>>()
    };
    let (s, p) = (names(staging), names(prod));
    assert!(
        s.iter().all(|n| n.starts_with("churn-score (staging)")),
        "{s:?}"
    );
    assert!(s.iter().all(|n| !p.contains(n)), "{s:?} {p:?}");
    assert_eq!(
        (staging.cost.min_instances, prod.cost.min_instances),
        (0, 2)
    );
}

#[test]
fn a_key_that_cannot_vary_is_an_error_at_the_overriding_line() {
    let text = format!("{EXAMPLE}\n[environments.prod.model]\nframework = \"onnx\"\n");
    let (d, line) = located(&text, "environments.prod.model");
    assert_eq!(line, "[environments.prod.model]");
    assert!(d.message.contains("`model` cannot vary"), "{}", d.message);
    let help = d.help.unwrap();
    assert!(
        help.contains("`service.project`") && help.contains("`scaling`"),
        "{help}"
    );
    let text = EXAMPLE.replace(
        "[environments.prod.service]\n",
        "[environments.prod.service]\nname = \"churn-prod\"\n",
    );
    let (_, line) = located(&text, "environments.prod.service.name");
    assert_eq!(line, "name = \"churn-prod\"");
}

#[test]
fn an_overrides_bad_value_is_reported_at_its_own_line() {
    let text = EXAMPLE.replace("min_instances = 2\n", "min_instances = 30\n");
    let (d, line) = located(&text, "scaling.min_instances");
    assert_eq!(line, "min_instances = 30", "{d:?}");
    let text = EXAMPLE.replace("min_instances = 2\n", "min_instances = -1\n");
    let (_, line) = located(&text, "scaling.min_instances");
    assert_eq!(line, "min_instances = -1");
    // A type error, found by the spec's own types once merged.
    let text = EXAMPLE.replace("max_instances = 20\n", "max_instances = \"many\"\n");
    let ds = diagnostics(&text);
    let (line, _) = line_col(&text, ds[0].span.start);
    assert_eq!(
        text.lines().nth(line - 1),
        Some("max_instances = \"many\""),
        "{ds:#?}"
    );
    // A problem of the spec's own tables is reported once, not once per environment.
    let text = EXAMPLE.replace("timeout = \"10s\"", "timeout = \"10 s\"");
    let (_, line) = located(&text, "scaling.timeout");
    assert_eq!(line, "timeout = \"10 s\"");
}

/// Each environment validated on its own, then across environments.
fn checked(text: &str) -> Vec<(mlgen::spec::Spec, mlgen::spec::validate::Checked)> {
    let specs = mlgen::spec::load::parse_all(&file(text)).unwrap();
    let mut checked: Vec<_> = specs
        .into_iter()
        .map(|s| {
            let c = mlgen::spec::validate::validate(&s).unwrap();
            (s, c)
        })
        .collect();
    assert!(mlgen::spec::validate::environments(&mut checked).is_empty());
    checked
}

#[test]
fn a_later_environments_own_repository_is_a_warning_at_its_line() {
    assert!(checked(EXAMPLE).iter().all(|(_, c)| c.warnings.is_empty()));
    let text = EXAMPLE.replace(
        "[environments.prod.scaling]",
        "[environments.prod.image]\nrepository = \"prod-models\"\n\n[environments.prod.scaling]",
    );
    let checked = checked(&text);
    let [w] = &checked[1].1.warnings[..] else {
        panic!("{:?}", checked[1].1.warnings)
    };
    assert_eq!(&text[w.span.clone()], "\"prod-models\"");
    assert!(w.message.contains("not used"), "{}", w.message);
    assert!(checked[0].1.warnings.is_empty());
}

#[test]
fn two_environments_cannot_be_one_service() {
    let text = EXAMPLE.replace("project = \"acme-prod\"\n", "");
    let (d, line) = located(&text, "environments.prod");
    assert!(line.starts_with("[environments.prod]"), "{line}");
    assert!(d.message.contains("as `staging` does"), "{}", d.message);
}

#[test]
fn a_later_environment_cannot_add_a_gpu_the_image_is_not_built_for() {
    let gpu = "[environments.prod.resources]\ncpu = 4\nmemory = \"16Gi\"\ngpu = \"nvidia-l4\"\n";
    let (d, line) = located(&format!("{EXAMPLE}{gpu}"), "resources.gpu");
    assert!(line.starts_with("gpu = "), "{line}");
    assert!(d.message.contains("adds a GPU"), "{}", d.message);
}

#[test]
fn without_environments_nothing_changes() {
    let text = EXAMPLE.split("\n[environments.staging]").next().unwrap();
    let [d] = &deployments(text)[..] else {
        panic!("one deployment")
    };
    assert_eq!(d.environment, None);
    assert_eq!(d.build.out_dir, "deploy");
    assert!(d.image.built_here && d.image.promoted.is_none());
    let json = serde_json::to_value(d).unwrap();
    assert!(json.get("environment").is_none() && json["image"].get("promoted").is_none());
}

fn mlgen() -> Command {
    let mut c = Command::cargo_bin("mlgen").unwrap();
    c.env_remove("MLGEN_FAIL_AT").env("NO_COLOR", "1");
    c
}

/// The example in a temporary folder, with its model.
fn example() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/churn-staged");
    std::fs::create_dir_all(dir.path().join("model")).unwrap();
    for f in ["mlgen.toml", "model/churn.txt"] {
        std::fs::copy(from.join(f), dir.path().join(f)).unwrap();
    }
    let spec = dir.path().join("mlgen.toml");
    (dir, spec)
}

#[test]
fn apply_writes_one_folder_per_environment_and_env_restricts_it() {
    let (dir, spec) = example();
    mlgen()
        .args(["apply", "--env", "prod"])
        .arg(&spec)
        .assert()
        .success();
    let deploy = dir.path().join("deploy");
    assert!(deploy.join("prod/terraform/main.tf").exists());
    assert!(!deploy.join("staging").exists());
    mlgen().arg("apply").arg(&spec).assert().success();
    assert!(deploy.join("staging/.mlgen-manifest.json").exists());
    assert!(deploy.join("prod/.mlgen-manifest.json").exists());
    mlgen()
        .args(["plan", "--check"])
        .arg(&spec)
        .assert()
        .code(0);
    let out = mlgen()
        .args(["plan", "--format", "json"])
        .arg(&spec)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let envs: Vec<_> = v["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["environment"].as_str().unwrap(),
                p["cost"]["assumptions"]["min_instances"].clone(),
            )
        })
        .collect();
    assert_eq!(envs, [("staging", 0.into()), ("prod", 2.into())]);
}

#[test]
fn an_unknown_environment_is_refused_with_the_names() {
    let (_dir, spec) = example();
    let out = mlgen()
        .args(["plan", "--env", "qa"])
        .arg(&spec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no environment `qa`"), "{err}");
    assert!(
        err.contains("its environments are `staging`, `prod`"),
        "{err}"
    );
    let plain = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/iris-sklearn/mlgen.toml");
    let out = mlgen()
        .args(["validate", "--env", "prod"])
        .arg(&plain)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("leave --env out"));
}

#[test]
fn render_and_model_name_each_environment() {
    let (_dir, spec) = example();
    let out = mlgen().arg("render").arg(&spec).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("==> staging/terraform/main.tf <=="));
    assert!(text.contains("==> prod/terraform/variables.tf <=="));
    assert!(!text.contains("==> prod/ci/"));
    let out = mlgen()
        .args(["model", "--env", "prod"])
        .arg(&spec)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let [prod] = &v.as_array().unwrap()[..] else {
        panic!("{v}")
    };
    assert_eq!(prod["environment"], "prod");
    assert_eq!(prod["image"]["promoted"]["from"], "staging");
}

#[test]
fn adding_environments_removes_the_folders_own_files_under_the_ownership_rules() {
    let (dir, spec) = example();
    let deploy = dir.path().join("deploy");
    let flat = EXAMPLE.split("\n[environments.staging]").next().unwrap();
    std::fs::write(&spec, flat).unwrap();
    mlgen().arg("apply").arg(&spec).assert().success();
    assert!(deploy.join("terraform/main.tf").exists());
    std::fs::write(&spec, EXAMPLE).unwrap();
    // A file edited by hand since is kept unless forced, like any owned file.
    let edited = deploy.join("gcloud/deploy.sh");
    std::fs::write(&edited, "# mine\n").unwrap();
    let out = mlgen().arg("plan").arg(&spec).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("[from before its environments] <=="),
        "{text}"
    );
    assert!(text.contains("to remove in"), "{text}");
    mlgen()
        .args(["plan", "--check"])
        .arg(&spec)
        .assert()
        .code(2);
    // Each folder is applied on its own: the environments are written, the old files kept.
    let out = mlgen().arg("apply").arg(&spec).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gcloud/deploy.sh (edited by hand"));
    assert!(deploy.join("terraform/main.tf").exists() && deploy.join("staging").exists());
    mlgen()
        .args(["apply", "--force"])
        .arg(&spec)
        .assert()
        .success();
    assert!(!deploy.join("terraform/main.tf").exists() && !edited.exists());
    assert!(deploy.join("staging/terraform/main.tf").exists());
    mlgen()
        .args(["plan", "--check"])
        .arg(&spec)
        .assert()
        .code(0);
}

/// The plan's text, and `plan --check`'s exit code.
fn plan_text(spec: &Path) -> (String, Option<i32>) {
    let out = mlgen().arg("plan").arg(spec).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = mlgen()
        .args(["plan", "--check"])
        .arg(spec)
        .output()
        .unwrap();
    (text, code.status.code())
}

#[test]
fn an_environment_removed_from_the_spec_has_its_folder_removed_under_the_ownership_rules() {
    let (dir, spec) = example();
    let deploy = dir.path().join("deploy");
    // Another spec beside it with an environment of its own, in the same output folder.
    let other = dir.path().join("other.toml");
    let qa = EXAMPLE.split("\n[environments.staging]").next().unwrap();
    std::fs::write(&other, format!("{qa}\n[environments.qa]\n")).unwrap();
    mlgen().arg("apply").arg(&other).assert().success();
    mlgen().arg("apply").arg(&spec).assert().success();
    // A copy of prod's folder under another name is not prod's folder.
    let copy = deploy.join("prod-copy");
    std::fs::create_dir_all(copy.join("terraform")).unwrap();
    for f in [".mlgen-manifest.json", "terraform/main.tf"] {
        std::fs::copy(deploy.join("prod").join(f), copy.join(f)).unwrap();
    }
    let staging_only = EXAMPLE.split("\n[environments.prod]").next().unwrap();
    std::fs::write(&spec, staging_only).unwrap();
    let (text, check) = plan_text(&spec);
    assert!(text.contains("[prod, no longer in the spec] <=="), "{text}");
    assert!(text.contains("terraform/main.tf"), "{text}");
    assert!(
        !text.contains("[qa") && !text.contains("prod-copy"),
        "{text}"
    );
    assert_eq!(check, Some(2));
    let out = mlgen()
        .args(["plan", "--format", "json"])
        .arg(&spec)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let retired = &v["plans"][1];
    assert_eq!(
        (&retired["environment"], &retired["retired"]),
        (&"prod".into(), &true.into())
    );
    let manifest = std::fs::read(deploy.join("prod/.mlgen-manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(manifest["environment"]["name"], "prod");
    let owned = manifest["files"].as_object().unwrap().len();
    assert_eq!(retired["summary"]["remove"], owned);
    // `--env` restricts a command to that environment's folder.
    let out = mlgen()
        .args(["plan", "--format", "json", "--env", "staging"])
        .arg(&spec)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["plans"].as_array().unwrap().len(), 1);
    // A file edited by hand is kept unless forced, like any owned file.
    let edited = deploy.join("prod/gcloud/deploy.sh");
    std::fs::write(&edited, "# mine\n").unwrap();
    let out = mlgen().arg("apply").arg(&spec).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gcloud/deploy.sh (edited by hand"));
    assert!(deploy.join("prod/terraform/main.tf").exists());
    mlgen()
        .args(["apply", "--force"])
        .arg(&spec)
        .assert()
        .success();
    assert!(!deploy.join("prod").exists());
    assert!(deploy.join("staging/terraform/main.tf").exists());
    assert!(
        deploy.join("qa/terraform/main.tf").exists() && copy.join("terraform/main.tf").exists()
    );
    assert_eq!(plan_text(&spec).1, Some(0));
    assert_eq!(plan_text(&other).1, Some(0));
}

#[test]
fn removing_environments_removes_their_folders_and_keeps_what_mlgen_does_not_own() {
    let (dir, spec) = example();
    let deploy = dir.path().join("deploy");
    mlgen().arg("apply").arg(&spec).assert().success();
    // Terraform's state is not mlgen's: it keeps prod's folder.
    let state = deploy.join("prod/terraform/terraform.tfstate");
    std::fs::write(&state, "{}\n").unwrap();
    let flat = EXAMPLE.split("\n[environments.staging]").next().unwrap();
    std::fs::write(&spec, flat).unwrap();
    let (text, check) = plan_text(&spec);
    assert!(
        text.contains("[staging, no longer in the spec] <=="),
        "{text}"
    );
    assert!(text.contains("[prod, no longer in the spec] <=="), "{text}");
    assert_eq!(check, Some(2));
    mlgen().arg("apply").arg(&spec).assert().success();
    assert!(deploy.join("terraform/main.tf").exists() && deploy.join("app").exists());
    assert!(!deploy.join("staging").exists());
    assert!(state.exists() && !deploy.join("prod/terraform/main.tf").exists());
    assert!(!deploy.join("prod/.mlgen-manifest.json").exists());
    assert_eq!(plan_text(&spec).1, Some(0));
}
