//! The commands on real temporary folders: exit codes, what is written, and that failures
//! and refusals leave the output folder exactly as it was.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn mlgen() -> Command {
    let mut c = Command::cargo_bin("mlgen").unwrap();
    c.env_remove("MLGEN_FAIL_AT").env("NO_COLOR", "1");
    c
}

/// `mlgen plan --check SPEC`: exit 0 when the output is current, 2 when it is not.
fn plan_check(spec: &Path) -> Command {
    let mut c = mlgen();
    c.args(["plan", "--check"]).arg(spec);
    c
}

/// Copies an example's spec and model into a fresh temp folder; returns (tempdir, spec path).
fn example(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    copy_example(name, dir.path());
    let spec = dir.path().join("mlgen.toml");
    (dir, spec)
}

/// Copies an example's spec, and the model file beside it if it has one, into `dir`.
fn copy_example(name: &str, dir: &Path) {
    let from = root().join("examples").join(name);
    for rel in ["mlgen.toml", "models", "model"] {
        copy_tree(&from.join(rel), &dir.join(rel));
    }
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        fs::create_dir_all(to).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else if from.exists() {
        fs::copy(from, to).unwrap();
    }
}

/// Every entry under `dir` (files with content, folders, links), to compare states.
fn state(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(
                    rel,
                    format!("link -> {}", fs::read_link(&p).unwrap().display()),
                );
            } else if meta.is_dir() {
                out.insert(rel.clone(), "dir".into());
                walk(base, &p, out);
            } else {
                out.insert(
                    rel,
                    String::from_utf8_lossy(&fs::read(&p).unwrap()).into_owned(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn apply_then_check_is_current_for_every_example() {
    for ex in [
        "iris-sklearn",
        "fraud-onnx-gcs",
        "forecast-gpu",
        "churn-public",
    ] {
        let (_d, spec) = example(ex);
        plan_check(&spec).assert().code(2);
        mlgen().arg("apply").arg(&spec).assert().success();
        let o = plan_check(&spec).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{ex}: {}", stdout(&o));
        assert!(stdout(&o).contains("No changes"), "{}", stdout(&o));
        // A second apply writes nothing.
        let o = mlgen().arg("apply").arg(&spec).output().unwrap();
        assert!(stdout(&o).contains("No changes"), "{}", stdout(&o));
    }
}

#[test]
fn spec_change_shows_in_every_target() {
    let (d, spec) = example("iris-sklearn");
    mlgen().arg("apply").arg(&spec).assert().success();
    let text = fs::read_to_string(&spec)
        .unwrap()
        .replace("memory = \"2Gi\"", "memory = \"3Gi\"");
    fs::write(&spec, text).unwrap();
    let o = plan_check(&spec).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    for file in [
        "terraform/main.tf",
        "pulumi/__main__.py",
        "gcloud/deploy.sh",
    ] {
        let section = out
            .split("--- a/")
            .find(|s| s.starts_with(file))
            .unwrap_or_else(|| panic!("no diff for {file}:\n{out}"));
        assert!(
            section
                .lines()
                .any(|l| l.starts_with('-') && l.contains("2Gi"))
                && section
                    .lines()
                    .any(|l| l.starts_with('+') && l.contains("3Gi")),
            "{file} diff does not show 2Gi -> 3Gi:\n{section}"
        );
    }
    assert!(out.contains("0 to add, "), "{out}");
    mlgen().arg("apply").arg(&spec).assert().success();
    plan_check(&spec).assert().code(0);
    drop(d);
}

#[test]
fn invalid_spec_exits_1_with_location_and_writes_nothing() {
    let (d, spec) = example("iris-sklearn");
    let text = fs::read_to_string(&spec)
        .unwrap()
        .replace("cpu = 1", "cpu = 3");
    fs::write(&spec, &text).unwrap();
    for cmd in ["apply", "plan", "render", "validate"] {
        let o = mlgen().arg(cmd).arg(&spec).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        let err = stderr(&o);
        let line = text.lines().position(|l| l == "cpu = 3").unwrap() + 1;
        assert!(
            err.contains(&format!("mlgen.toml:{line}:7")),
            "{cmd}: {err}"
        );
        assert!(err.contains("`resources.cpu`"), "{err}");
        assert!(err.contains("help: use a fraction from 0.08"), "{err}");
    }
    assert!(!d.path().join("deploy").exists());
}

#[test]
fn render_prints_every_file_with_a_header() {
    let spec = root().join("examples/iris-sklearn/mlgen.toml");
    let o = mlgen().arg("render").arg(&spec).output().unwrap();
    assert!(o.status.success());
    let out = stdout(&o);
    for f in [
        "Dockerfile",
        "terraform/main.tf",
        "pulumi/__main__.py",
        "gcloud/deploy.sh",
    ] {
        assert!(out.contains(&format!("==> {f} <==")), "{f} missing");
    }
}

#[test]
fn render_out_writes_a_new_folder_and_refuses_a_used_one() {
    let (d, spec) = example("iris-sklearn");
    let out = d.path().join("export");
    mlgen()
        .arg("render")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    assert!(out.join("terraform/main.tf").exists());
    let before = state(d.path());
    let o = mlgen()
        .arg("render")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(state(d.path()), before);
}

#[test]
fn hand_edits_are_reported_and_protected() {
    let (d, spec) = example("iris-sklearn");
    mlgen().arg("apply").arg(&spec).assert().success();
    let main_tf = d.path().join("deploy/terraform/main.tf");
    let edited = fs::read_to_string(&main_tf).unwrap() + "# my change\n";
    fs::write(&main_tf, &edited).unwrap();

    let o = mlgen().arg("plan").arg(&spec).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("terraform/main.tf was edited by hand"),
        "{}",
        stdout(&o)
    );

    let before = state(d.path());
    let o = mlgen().arg("apply").arg(&spec).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("edited by hand"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(state(d.path()), before, "a refused apply changed the tree");

    mlgen()
        .args(["apply", "--force"])
        .arg(&spec)
        .assert()
        .success();
    assert!(
        !fs::read_to_string(&main_tf)
            .unwrap()
            .contains("# my change")
    );
    plan_check(&spec).assert().code(0);
}

#[test]
fn files_not_written_by_mlgen_are_never_clobbered_or_removed() {
    let (d, spec) = example("iris-sklearn");
    let deploy = d.path().join("deploy");
    fs::create_dir_all(&deploy).unwrap();
    fs::write(deploy.join("Dockerfile"), "FROM scratch\n").unwrap();
    fs::write(deploy.join("NOTES.md"), "mine\n").unwrap();
    let before = state(d.path());
    let o = mlgen().arg("apply").arg(&spec).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Dockerfile (exists, not written by mlgen)"),
        "{}",
        stderr(&o)
    );
    assert_eq!(state(d.path()), before);

    fs::remove_file(deploy.join("Dockerfile")).unwrap();
    mlgen().arg("apply").arg(&spec).assert().success();
    assert_eq!(
        fs::read_to_string(deploy.join("NOTES.md")).unwrap(),
        "mine\n"
    );
}

#[test]
fn owned_files_no_longer_generated_are_removed() {
    let (d, spec) = example("iris-sklearn");
    mlgen().arg("apply").arg(&spec).assert().success();
    let deploy = d.path().join("deploy");
    // Pretend an earlier version of the spec generated `old/extra.txt`.
    fs::create_dir_all(deploy.join("old")).unwrap();
    fs::write(deploy.join("old/extra.txt"), "stale\n").unwrap();
    let manifest_path = deploy.join(".mlgen-manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["files"]["old/extra.txt"] = mlgen::manifest::hash(b"stale\n").into();
    fs::write(
        &manifest_path,
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();

    let o = plan_check(&spec).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("+++ /dev/null"), "{}", stdout(&o));
    assert!(stdout(&o).contains("1 to remove"), "{}", stdout(&o));
    mlgen().arg("apply").arg(&spec).assert().success();
    assert!(!deploy.join("old/extra.txt").exists());
    plan_check(&spec).assert().code(0);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "release builds do not read MLGEN_FAIL_AT"
)]
fn injected_failures_leave_the_tree_as_it_was() {
    let (d, spec) = example("iris-sklearn");
    // A failing first apply leaves no output folder behind.
    for fail in ["stage:1", "stage:3", "commit:1", "commit:4"] {
        let o = mlgen()
            .arg("apply")
            .arg(&spec)
            .env("MLGEN_FAIL_AT", fail)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{fail}");
        assert!(stderr(&o).contains("failure injected"), "{}", stderr(&o));
        assert!(
            !d.path().join("deploy").exists(),
            "{fail} left deploy/ behind"
        );
    }
    mlgen().arg("apply").arg(&spec).assert().success();
    let text = fs::read_to_string(&spec)
        .unwrap()
        .replace("memory = \"2Gi\"", "memory = \"3Gi\"")
        .replace("tag = \"1.0.0\"", "tag = \"1.0.1\"");
    fs::write(&spec, text).unwrap();
    let before = state(d.path());
    for fail in ["stage:1", "stage:2", "commit:1", "commit:2", "commit:3"] {
        let o = mlgen()
            .arg("apply")
            .arg(&spec)
            .env("MLGEN_FAIL_AT", fail)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{fail}");
        assert_eq!(state(d.path()), before, "{fail} changed the tree");
    }
    mlgen().arg("apply").arg(&spec).assert().success();
    plan_check(&spec).assert().code(0);
}

#[test]
fn a_path_that_became_a_folder_fails_cleanly() {
    let (d, spec) = example("iris-sklearn");
    mlgen().arg("apply").arg(&spec).assert().success();
    let text = fs::read_to_string(&spec)
        .unwrap()
        .replace("memory = \"2Gi\"", "memory = \"3Gi\"");
    fs::write(&spec, text).unwrap();
    let main_py = d.path().join("deploy/pulumi/__main__.py");
    fs::remove_file(&main_py).unwrap();
    fs::create_dir(&main_py).unwrap();
    let before = state(d.path());
    let o = mlgen().arg("apply").arg(&spec).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is a folder"), "{}", stderr(&o));
    assert_eq!(state(d.path()), before);
}

#[test]
fn symlinks_inside_the_output_folder_are_not_followed() {
    let (d, spec) = example("iris-sklearn");
    let outside = tempfile::tempdir().unwrap();
    let deploy = d.path().join("deploy");
    fs::create_dir_all(&deploy).unwrap();
    std::os::unix::fs::symlink(outside.path(), deploy.join("terraform")).unwrap();
    for cmd in ["plan", "apply"] {
        let o = mlgen().arg(cmd).arg(&spec).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    }
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn output_outside_the_spec_folder_is_refused() {
    let (d, spec) = example("iris-sklearn");
    let elsewhere = tempfile::tempdir().unwrap();
    let o = mlgen()
        .arg("apply")
        .arg(&spec)
        .arg("--out")
        .arg(elsewhere.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not inside the spec's folder"),
        "{}",
        stderr(&o)
    );
    let o = mlgen()
        .arg("apply")
        .arg(&spec)
        .arg("--out")
        .arg(d.path().join("../escape"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not inside the spec's folder"),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

#[test]
fn a_deploy_link_leading_out_is_refused_with_advice_that_works() {
    let (d, spec) = example("iris-sklearn");
    let outside = tempfile::tempdir().unwrap();
    let link = d.path().join("deploy");
    std::os::unix::fs::symlink(outside.path(), &link).unwrap();
    let o = mlgen().arg("apply").arg(&spec).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{} is a symbolic link to", link.display())),
        "{err}"
    );
    // The advice names a folder other than the link, and following it works.
    let suggested = err
        .split("(e.g. --out ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no --out suggestion: {err}"));
    assert_ne!(Path::new(suggested), link.as_path(), "{err}");
    mlgen()
        .arg("apply")
        .arg(&spec)
        .args(["--out", suggested])
        .assert()
        .success();
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn a_held_lock_is_explained() {
    let (d, spec) = example("iris-sklearn");
    let deploy = d.path().join("deploy");
    fs::create_dir_all(&deploy).unwrap();
    // A live process (this test) holds the lock.
    fs::write(
        deploy.join(".mlgen.lock"),
        format!("pid={}\n", std::process::id()),
    )
    .unwrap();
    let o = mlgen().arg("apply").arg(&spec).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("another mlgen apply"), "{}", stderr(&o));
    // A dead process left it behind.
    fs::write(deploy.join(".mlgen.lock"), "pid=4000000000\n").unwrap();
    let o = mlgen().arg("apply").arg(&spec).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no longer running"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("delete the lock file"),
        "{}",
        stderr(&o)
    );
    fs::remove_file(deploy.join(".mlgen.lock")).unwrap();
    mlgen().arg("apply").arg(&spec).assert().success();
    assert!(!deploy.join(".mlgen.lock").exists());
}

#[test]
fn concurrent_applies_do_not_interleave() {
    let (d, spec) = example("fraud-onnx-gcs");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let spec = spec.clone();
            std::thread::spawn(move || mlgen().arg("apply").arg(&spec).output().unwrap())
        })
        .collect();
    let outputs: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(outputs.iter().any(|o| o.status.success()));
    // Each apply either wrote the folder or was turned away by the lock, nothing else.
    let held = format!(
        "is writing {}\nhelp: wait for it to finish",
        d.path().join("deploy").display()
    );
    for o in &outputs {
        let err = stderr(o);
        assert!(
            o.status.success()
                || (err.contains("error: another mlgen apply (pid ") && err.contains(&held)),
            "{err}"
        );
    }
    plan_check(&spec).assert().code(0);
    assert!(!d.path().join("deploy/.mlgen.lock").exists());
}

#[test]
fn plan_json_is_machine_readable() {
    let (_d, spec) = example("iris-sklearn");
    let o = mlgen()
        .args(["plan", "--format", "json"])
        .arg(&spec)
        .output()
        .unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["current"], false);
    let p = &v["plans"][0];
    assert_eq!(p["current"], false);
    assert!(p["summary"]["add"].as_u64().unwrap() >= 4);
    let f = &p["files"][0];
    assert_eq!(f["action"], "add");
    assert!(f["diff"].as_str().unwrap().starts_with("--- /dev/null"));
}

#[test]
fn plan_json_locates_each_problem_for_annotators() {
    let (d, spec) = example("iris-sklearn");
    let text = fs::read_to_string(&spec)
        .unwrap()
        .replace("cpu = 1", "cpu = 3");
    fs::write(&spec, &text).unwrap();
    let line = text.lines().position(|l| l == "cpu = 3").unwrap() + 1;
    let o = mlgen()
        .args(["plan", "--format", "json"])
        .arg(&spec)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &v["plans"][0];
    let file = spec.display().to_string();
    let diags = p["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 1, "{p}");
    let dg = &diags[0];
    assert_eq!(dg["file"], file.as_str());
    assert_eq!((&dg["line"], &dg["column"]), (&line.into(), &7.into()));
    assert_eq!(
        (&dg["end_line"], &dg["end_column"]),
        (&line.into(), &8.into())
    );
    assert_eq!(dg["key"], "resources.cpu");
    assert!(
        dg["help"]
            .as_str()
            .unwrap()
            .starts_with("use a fraction from 0.08"),
        "{dg}"
    );
    // The plain-text message is one `file:line:col: title` line, without the source excerpt.
    let error = p["error"].as_str().unwrap();
    assert!(
        error
            == format!(
                "{file}:{line}:7: `resources.cpu`: {}",
                dg["message"].as_str().unwrap()
            ),
        "{error}"
    );

    // A refusal carries its help.
    fs::write(&spec, text.replace("cpu = 3", "cpu = 1")).unwrap();
    let deploy = d.path().join("deploy");
    fs::create_dir(&deploy).unwrap();
    fs::write(deploy.join(".mlgen-manifest.json"), "not json").unwrap();
    let o = mlgen()
        .args(["plan", "--format", "json"])
        .arg(&spec)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &v["plans"][0];
    assert!(
        p["error"]
            .as_str()
            .unwrap()
            .contains("is not a valid mlgen manifest")
            && p["help"]
                .as_str()
                .unwrap()
                .starts_with("restore it from version control"),
        "{p}"
    );
    assert!(p.get("diagnostics").is_none(), "{p}");
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    mlgen().arg("--bogus").assert().code(1);
    mlgen().args(["plan", "--nope"]).assert().code(1);
    let o = mlgen().arg("--help").output().unwrap();
    assert!(o.status.success());
    assert!(stdout(&o).contains("Exit codes"));
    for sub in ["render", "plan", "apply", "validate", "init", "model"] {
        let o = mlgen().args([sub, "--help"]).output().unwrap();
        assert!(o.status.success());
        assert!(
            stdout(&o).contains("Examples:"),
            "{sub} --help has no examples"
        );
    }
}

#[test]
fn init_writes_a_valid_starter_and_never_overwrites() {
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("mlgen.toml");
    mlgen().arg("init").arg(&spec).assert().success();
    // The starter is valid; only its model file is still to be put beside it.
    let o = mlgen().arg("validate").arg(&spec).output().unwrap();
    assert!(stderr(&o).contains("`model.source`"), "{}", stderr(&o));
    fs::create_dir(d.path().join("models")).unwrap();
    fs::write(d.path().join("models/model.joblib"), "model").unwrap();
    mlgen().arg("validate").arg(&spec).assert().success();
    let text = fs::read_to_string(&spec).unwrap();
    assert_eq!(text.lines().next(), Some("#:schema ./mlgen.schema.json"));
    let schema = fs::read_to_string(d.path().join("mlgen.schema.json")).unwrap();
    assert_eq!(schema, mlgen::schema::json());
    let o = mlgen().arg("init").arg(&spec).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists"));
}

#[test]
fn init_never_overwrites_a_schema_without_force() {
    let d = tempfile::tempdir().unwrap();
    let schema = d.path().join("mlgen.schema.json");
    fs::write(&schema, "{}\n").unwrap();
    let spec = d.path().join("mlgen.toml");
    let o = mlgen().arg("init").arg(&spec).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("{} already exists", schema.display())),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read_to_string(&schema).unwrap(), "{}\n");
    assert!(!spec.exists(), "a refused init wrote the spec");
    mlgen()
        .args(["init", "--force"])
        .arg(&spec)
        .assert()
        .success();
    assert_eq!(fs::read_to_string(&schema).unwrap(), mlgen::schema::json());
}

#[test]
fn init_creates_missing_folders_and_writes_files_as_apply_does() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("mlgen");
    for (umask, want) in [("022", 0o644), ("077", 0o600)] {
        let spec = d.path().join(umask).join("sub/dir/mlgen.toml");
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" init \"$1\""))
            .arg(&bin)
            .arg(&spec)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        for f in [spec.clone(), spec.with_file_name("mlgen.schema.json")] {
            let mode = fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, want, "{} under umask {umask}", f.display());
        }
    }
}

#[test]
fn init_errors_name_the_file_not_a_temporary_one() {
    // Nothing can be created in /proc/self, not even by root.
    let o = mlgen()
        .args(["init", "/proc/self/mlgen.toml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: cannot write /proc/self/mlgen.toml: ")
            && !err.contains("tmp")
            && !err.contains("at path"),
        "{err}"
    );
}

#[test]
fn garbage_specs_fail_cleanly() {
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("mlgen.toml");
    for text in ["", "\0", "[service", "service = 3", "[[service]]\nname = 1"] {
        fs::write(&spec, text).unwrap();
        let o = mlgen().arg("validate").arg(&spec).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{text:?}");
        let err = stderr(&o);
        // A located report (`--> path:line:col`) and its summary, not a crash or an I/O error.
        assert!(
            err.contains(&format!("--> {}:", spec.display()))
                && err.contains("found, nothing was generated"),
            "{text:?}: {err}"
        );
    }
}

#[test]
fn a_missing_spec_suggests_init() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("svc/mlgen.toml");
    for cmd in ["validate", "plan", "apply", "render", "model"] {
        let o = mlgen().arg(cmd).arg(&missing).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        let err = stderr(&o);
        assert!(
            err.contains(&format!("{} does not exist", missing.display()))
                && err.contains(&format!("help: `mlgen init {}`", missing.display())),
            "{cmd}: {err}"
        );
    }
    let empty = d.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let o = mlgen().arg("validate").arg(&empty).output().unwrap();
    assert!(
        stderr(&o).contains(&format!(
            "`mlgen init {}`",
            empty.join("mlgen.toml").display()
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn commands_taking_one_spec_take_its_folder() {
    let (d, spec) = example("iris-sklearn");
    for cmd in ["validate", "model", "render"] {
        let o = mlgen().arg(cmd).arg(d.path()).output().unwrap();
        assert!(o.status.success(), "{cmd}: {}", stderr(&o));
    }
    let o = mlgen().arg("validate").arg(d.path()).output().unwrap();
    assert!(
        stdout(&o).starts_with(&format!("{}: valid", spec.display())),
        "{}",
        stdout(&o)
    );
    // A folder without its own spec but with several below: name one.
    let parent = tempfile::tempdir().unwrap();
    for ex in ["a", "b"] {
        fs::create_dir(parent.path().join(ex)).unwrap();
        fs::copy(&spec, parent.path().join(ex).join("mlgen.toml")).unwrap();
    }
    let o = mlgen().arg("validate").arg(parent.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("holds 2 specs") && stderr(&o).contains("a/mlgen.toml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn many_specs_are_planned_and_applied_per_service() {
    let d = tempfile::tempdir().unwrap();
    for ex in ["iris-sklearn", "fraud-onnx-gcs", "churn-public"] {
        let dir = d.path().join("services").join(ex);
        fs::create_dir_all(&dir).unwrap();
        copy_example(ex, &dir);
    }
    let services = d.path().join("services");
    let o = plan_check(&services).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("3 specs: 3 with changes, 0 up to date, 0 failed."),
        "{}",
        stdout(&o)
    );
    let o = mlgen().arg("apply").arg(&services).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("3 specs: 3 applied, 0 failed."),
        "{}",
        stdout(&o)
    );
    // Output folders are not searched, and everything is now current.
    let o = plan_check(&services).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("3 specs: 0 with changes, 3 up to date, 0 failed."));

    // One broken spec: reported, the others still planned, exit 1.
    let broken = services.join("churn-public/mlgen.toml");
    let text = fs::read_to_string(&broken)
        .unwrap()
        .replace("cpu = 0.5", "cpu = 3");
    fs::write(&broken, text).unwrap();
    let o = mlgen()
        .args(["plan", "--format", "json"])
        .arg(&services)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["plans"].as_array().unwrap().len(), 3);
    assert!(
        v["plans"][0]["error"]
            .as_str()
            .unwrap()
            .contains("resources.cpu")
    );
    assert_eq!(v["plans"][1]["current"], true);
    assert!(v["plans"][1].get("error").is_none(), "{}", v["plans"][1]);

    let o = mlgen()
        .arg("plan")
        .arg(&services)
        .arg("--out")
        .arg(d.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--out names one output folder"));
}

#[test]
fn committed_schema_is_current() {
    let committed = fs::read_to_string(root().join("schema/mlgen.schema.json")).unwrap();
    assert!(
        committed == mlgen::schema::json(),
        "schema/mlgen.schema.json is stale: run `cargo run -- schema > schema/mlgen.schema.json`"
    );
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let o = mlgen().args(["completions", shell]).output().unwrap();
        assert!(o.status.success());
        let out = stdout(&o);
        assert!(out.contains("apply") && out.contains("--check"), "{shell}");
    }
}

#[test]
fn the_man_page_documents_every_subcommand_and_flag() {
    use clap::CommandFactory;
    let o = mlgen().arg("man").output().unwrap();
    assert!(o.status.success());
    let page = stdout(&o);
    assert!(page.contains(".TH mlgen 1"), "{page}");
    // One page: no references to per-command pages that are not installed.
    assert!(!page.contains("mlgen\\-"), "{page}");
    let cli = mlgen::cli::Cli::command();
    for sub in cli.get_subcommands() {
        let section = page
            .split(".SS ")
            .find(|s| s.starts_with(&format!("\"mlgen {}\"", sub.get_name())))
            .unwrap_or_else(|| panic!("no section for {}:\n{page}", sub.get_name()));
        for flag in sub.get_arguments().filter_map(|a| a.get_long()) {
            let roff = format!("\\fB\\-\\-{}\\fR", flag.replace('-', "\\-"));
            assert!(
                section.contains(&roff),
                "mlgen {} --{flag} is not documented:\n{section}",
                sub.get_name()
            );
        }
    }
    // Global flags once, under OPTIONS, not again for every subcommand.
    let commands = page.split(".SH COMMANDS").nth(1).unwrap();
    assert!(!commands.contains("\\-\\-color"), "{commands}");
}

#[test]
fn colour_follows_the_flag() {
    let (d, spec) = example("iris-sklearn");
    let o = mlgen()
        .args(["plan", "--color", "always"])
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("\u{1b}["),
        "no ANSI codes with --color always"
    );
    let o = mlgen()
        .args(["plan", "--color", "never"])
        .arg(&spec)
        .output()
        .unwrap();
    assert!(!stdout(&o).contains('\u{1b}'));
    // Piped output with the default is plain.
    let o = Command::cargo_bin("mlgen")
        .unwrap()
        .arg("plan")
        .arg(&spec)
        .output()
        .unwrap();
    assert!(!stdout(&o).contains('\u{1b}'));
    drop(d);
}

fn plan_json(spec: &Path) -> serde_json::Value {
    let o = mlgen()
        .args(["plan", "--format", "json"])
        .arg(spec)
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", stderr(&o)))
}

fn edit(spec: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(spec).unwrap();
    assert!(text.contains(from), "{from}");
    fs::write(spec, text.replace(from, to)).unwrap();
}

#[test]
fn plan_shows_the_cost_and_what_a_spec_change_does_to_it() {
    let (_d, spec) = example("iris-sklearn");
    let o = mlgen().arg("plan").arg(&spec).output().unwrap();
    let text = stdout(&o);
    assert!(
        text.contains("Estimated cost (europe-west1, Tier 1, request-based billing"),
        "{text}"
    );
    assert!(text.contains("with no traffic  $0.00 a month"), "{text}");
    assert!(text.contains("per 1M requests  $0.40"), "{text}");

    assert!(
        mlgen()
            .arg("apply")
            .arg(&spec)
            .output()
            .unwrap()
            .status
            .success()
    );
    edit(&spec, "min_instances = 0", "min_instances = 1");
    // 730 h x 3600 s x (1 vCPU x $0.0000025 + 2 GiB x $0.0000025), idle minimum instance.
    let text = stdout(&mlgen().arg("plan").arg(&spec).output().unwrap());
    assert!(
        text.contains("with no traffic  $0.00 -> $19.71 a month"),
        "{text}"
    );
    assert!(text.contains("per 1M requests  $0.40 ("), "{text}");
    let cost = &plan_json(&spec)["plans"][0]["cost"];
    assert_eq!(cost["idle_monthly_usd"], 19.71);
    assert_eq!(cost["previous"]["idle_monthly_usd"], 0.0);
    assert_eq!(cost["assumptions"]["min_instances"], 1);
    let as_of = cost["prices_as_of"].as_str().unwrap();
    assert!(
        as_of.len() == 10 && as_of.chars().filter(|c| *c == '-').count() == 2,
        "{as_of}"
    );

    // Once applied, the new figure is the recorded one: nothing to compare.
    assert!(
        mlgen()
            .arg("apply")
            .arg(&spec)
            .output()
            .unwrap()
            .status
            .success()
    );
    let text = stdout(&mlgen().arg("plan").arg(&spec).output().unwrap());
    assert!(text.contains("with no traffic  $19.71 a month"), "{text}");
    assert!(!text.contains("->"), "{text}");
    assert!(
        plan_json(&spec)["plans"][0]["cost"]
            .get("previous")
            .is_none()
    );
}

#[test]
fn mean_request_ms_comes_from_the_spec_or_the_benchmark() {
    let (_d, spec) = example("iris-sklearn");
    let cost = plan_json(&spec)["plans"][0]["cost"].clone();
    let pricing: toml::Value =
        toml::from_str(include_str!("../data/pricing.toml")).expect("pricing data parses");
    let benchmark = pricing["mean_request_ms"]["sklearn"]["ms"]
        .as_float()
        .unwrap();
    assert_eq!(cost["assumptions"]["mean_request_ms"], benchmark);
    assert!(
        cost["assumptions"]["mean_request_ms_from"]
            .as_str()
            .unwrap()
            .contains("benchmark")
    );
    // 1e6 x 0.1 s / 80 x (1 x $0.000024 + 2 x $0.0000025) = $0.036, + 1e6 x $0.0000004
    fs::write(
        &spec,
        fs::read_to_string(&spec).unwrap() + "\n[cost]\nmean_request_ms = 100\n",
    )
    .unwrap();
    let cost = plan_json(&spec)["plans"][0]["cost"].clone();
    assert_eq!(cost["per_million_requests_usd"], 0.44);
    assert_eq!(
        cost["assumptions"]["mean_request_ms_from"],
        "[cost] mean_request_ms"
    );

    edit(&spec, "mean_request_ms = 100", "mean_request_ms = 0");
    let o = mlgen().arg("plan").arg(&spec).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("`cost.mean_request_ms`: mean_request_ms 0 is not a positive duration"),
        "{err}"
    );
    let line = fs::read_to_string(&spec)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("mean_request_ms"))
        .unwrap()
        + 1;
    let d = &plan_json(&spec)["plans"][0]["diagnostics"][0];
    assert_eq!(d["key"], "cost.mean_request_ms");
    assert_eq!(d["line"], line);
}

#[test]
fn gpu_services_pay_for_the_gpu_and_unpriced_regions_say_so() {
    let (_d, spec) = example("forecast-gpu");
    let cost = plan_json(&spec)["plans"][0]["cost"].clone();
    // 730 h x 3600 s x (4 x $0.000018 + 16 x $0.000002 + L4 without zonal redundancy $0.0001867)
    assert_eq!(cost["idle_monthly_usd"], 763.96);
    assert_eq!(cost["assumptions"]["billing"], "instance-based");

    let (_d, spec) = example("iris-sklearn");
    edit(
        &spec,
        "region = \"europe-west1\"",
        "region = \"europe-north2\"",
    );
    let cost = plan_json(&spec)["plans"][0]["cost"].clone();
    assert!(cost["idle_monthly_usd"].is_null());
    assert!(
        cost["unavailable"]
            .as_str()
            .unwrap()
            .contains("europe-north2")
    );
    let text = stdout(&mlgen().arg("plan").arg(&spec).output().unwrap());
    assert!(
        text.contains("Estimated cost: none, region europe-north2 is in neither price tier"),
        "{text}"
    );
}

#[test]
fn a_tier_2_region_is_priced_at_its_own_rates_or_not_at_all() {
    let (_d, spec) = example("iris-sklearn");
    edit(&spec, "min_instances = 0", "min_instances = 1");
    fs::write(
        &spec,
        fs::read_to_string(&spec).unwrap() + "\n[cost]\nmean_request_ms = 8000\n",
    )
    .unwrap();
    let tier_1 = plan_json(&spec)["plans"][0]["cost"].clone();
    edit(
        &spec,
        "region = \"europe-west1\"",
        "region = \"europe-west2\"",
    );
    let tier_2 = plan_json(&spec)["plans"][0]["cost"].clone();
    assert_eq!(tier_1["assumptions"]["price_tier"], "tier1");
    assert_eq!(tier_2["assumptions"]["price_tier"], "tier2");
    // Idle: 2,628,000 s x (1 vCPU + 2 GiB) x $0.0000025 (Tier 1), x $0.0000035 (Tier 2).
    assert_eq!(tier_1["idle_monthly_usd"], 19.71);
    assert_eq!(tier_2["idle_monthly_usd"], 27.59);
    // 1e6 x 8 s / 80 x ($0.000024 + 2 x $0.0000025) + $0.40 (Tier 1);
    // x ($0.0000336 + 2 x $0.0000035) + $0.40 (Tier 2).
    assert_eq!(tier_1["per_million_requests_usd"], 3.30);
    assert_eq!(tier_2["per_million_requests_usd"], 4.46);

    // Instance-based billing has no confirmed Tier 2 price: no figure, and why.
    edit(
        &spec,
        "[resources]",
        "[resources]\ncpu_always_allocated = true",
    );
    let cost = plan_json(&spec)["plans"][0]["cost"].clone();
    assert!(cost["idle_monthly_usd"].is_null());
    let why = cost["unavailable"].as_str().unwrap();
    assert!(
        why.contains("no confirmed Tier 2 price for instance-based billing")
            && why.contains("none is guessed"),
        "{why}"
    );
}

#[test]
fn a_missing_model_file_fails_before_anything_is_written() {
    let (d, spec) = example("iris-sklearn");
    fs::remove_dir_all(d.path().join("models")).unwrap();
    let line = fs::read_to_string(&spec)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("source = "))
        .unwrap()
        + 1;
    for cmd in ["validate", "plan", "apply", "render"] {
        let o = mlgen().arg(cmd).arg(&spec).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        let err = stderr(&o);
        assert!(
            err.contains("error: `model.source`: the model file")
                && err.contains("models/iris.joblib does not exist")
                && err.contains(&format!("mlgen.toml:{line}:10"))
                && err.contains("help: put the model there"),
            "{cmd}: {err}"
        );
    }
    assert!(!d.path().join("deploy").exists());
    let v = plan_json(&spec);
    assert_eq!(v["plans"][0]["diagnostics"][0]["key"], "model.source");
    assert_eq!(v["plans"][0]["diagnostics"][0]["line"], line);
}

#[test]
fn warnings_are_shown_located_and_do_not_fail() {
    let (d, spec) = example("fraud-onnx-gcs");
    let o = mlgen().arg("validate").arg(&spec).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let line = fs::read_to_string(&spec)
        .unwrap()
        .lines()
        .position(|l| l.contains("\"group:risk-analysts@acme.example\""))
        .unwrap()
        + 1;
    assert!(
        err.starts_with("warning: `access.invokers`: `group:risk-analysts@acme.example`")
            && err.contains(&format!("mlgen.toml:{line}:3"))
            && err.contains("help: requests from a laptop"),
        "{err}"
    );
    assert!(!err.contains("error"), "{err}");
    assert!(stdout(&o).contains("valid"), "{}", stdout(&o));
    for cmd in ["plan", "apply"] {
        let o = mlgen().arg(cmd).arg(&spec).output().unwrap();
        assert!(o.status.success(), "{cmd}: {}", stderr(&o));
        assert!(stderr(&o).contains("warning: `access.invokers`"), "{cmd}");
    }
    assert!(d.path().join("deploy/Dockerfile").is_file());
    let v = plan_json(&spec);
    let w = &v["plans"][0]["warnings"];
    assert_eq!(w.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(
        (&w[0]["key"], &w[0]["line"], &w[0]["column"]),
        (&"access.invokers".into(), &line.into(), &3.into())
    );
    assert!(w[0]["help"].as_str().unwrap().contains("ingress = \"all\""));

    // A spec without warnings says nothing on stderr and has no `warnings` in JSON.
    let (_d, spec) = example("iris-sklearn");
    let o = mlgen().arg("validate").arg(&spec).output().unwrap();
    assert_eq!(stderr(&o), "");
    assert!(plan_json(&spec)["plans"][0].get("warnings").is_none());
}

#[test]
fn a_gpu_service_is_reminded_of_its_quota_and_a_cpu_model_of_the_cost() {
    let (d, spec) = example("forecast-gpu");
    let o = mlgen().arg("apply").arg(&spec).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("warning: `resources.gpu`")
            && err.contains("without zonal redundancy, per project per region"),
        "{err}"
    );
    fs::write(d.path().join("models/forecast.txt"), "model").unwrap();
    edit(&spec, "framework = \"xgboost\"", "framework = \"lightgbm\"");
    edit(&spec, "forecast.ubj", "forecast.txt");
    let o = mlgen().arg("plan").arg(&spec).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("warning: `model.framework`: a lightgbm model runs on the CPU")
            && err.contains("a month per instance in europe-west4"),
        "{err}"
    );
}

#[test]
fn a_ci_root_must_hold_the_spec_at_the_ci_directory() {
    // The repository root holds the spec in svc/a; [ci] directory says where.
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path().join("svc/a");
    fs::create_dir_all(&dir).unwrap();
    copy_example("churn-public", &dir);
    let spec = dir.join("mlgen.toml");
    let apply = |root: &Path| {
        mlgen()
            .arg("apply")
            .arg(&spec)
            .arg("--ci-root")
            .arg(root)
            .output()
            .unwrap()
    };
    // The default directory (".") is not where the spec is: refused, nothing written, and
    // the help names the directory that would agree.
    let o = apply(repo.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("the spec is in"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("set `directory = \"svc/a\"` under [ci]"),
        "{}",
        stderr(&o)
    );
    assert!(!repo.path().join(".github").exists() && !dir.join("deploy").exists());
    // A root that does not hold the spec gets the other advice.
    let elsewhere = tempfile::tempdir().unwrap();
    let o = apply(elsewhere.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("pass the repository root that holds the spec as --ci-root"),
        "{}",
        stderr(&o)
    );
    // Following the advice works, and the pipeline's own `plan --check` agrees.
    let text = fs::read_to_string(&spec).unwrap();
    let text = text.replace("[ci]\n", "[ci]\ndirectory = \"svc/a\"\n");
    fs::write(&spec, text).unwrap();
    assert_eq!(apply(repo.path()).status.code(), Some(0));
    assert!(repo.path().join(".github/workflows/mlgen.yml").exists());
    let o = mlgen()
        .current_dir(&dir)
        .args(["plan", "--check", "mlgen.toml", "--ci-root", "../.."])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
