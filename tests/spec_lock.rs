//! A custom handler's packages that no locked stack of mlgen's holds: `mlgen lock` resolves
//! them into mlgen.lock beside the spec, which validation checks and the image installs with
//! hashes. Resolving needs PyPI, so these tests use the lock committed in
//! tests/data/spec-lock/ (written there by `mlgen lock`).

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn mlgen() -> Command {
    let mut c = Command::cargo_bin("mlgen").unwrap();
    c.env_remove("MLGEN_FAIL_AT").env("NO_COLOR", "1");
    c
}

/// The fixture's spec and handler in a fresh folder, with its lock unless `lock` is false.
fn fixture(lock: bool) -> (tempfile::TempDir, PathBuf) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/spec-lock");
    let dir = tempfile::tempdir().unwrap();
    let files: &[&str] = if lock {
        &["mlgen.toml", "serve.py", "mlgen.lock"]
    } else {
        &["mlgen.toml", "serve.py"]
    };
    for f in files {
        fs::copy(from.join(f), dir.path().join(f)).unwrap();
    }
    let spec = dir.path().join("mlgen.toml");
    (dir, spec)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn stderr_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn a_missing_lock_is_a_located_error_naming_the_command() {
    let (_dir, spec) = fixture(false);
    let err = stderr_of(mlgen().arg("validate").arg(&spec));
    assert!(
        err.contains("`container.requirements`: `tokenizers==0.23.3` is in no locked stack"),
        "{err}"
    );
    assert!(err.contains("mlgen.lock cannot be read"), "{err}");
    assert!(err.contains("mlgen.toml:16:17"), "{err}");
    assert!(
        err.contains(&format!("run `mlgen lock {}`", spec.display())),
        "{err}"
    );
}

#[test]
fn the_image_installs_the_lock_with_hashes() {
    let (dir, spec) = fixture(true);
    mlgen().arg("apply").arg(&spec).assert().success();
    let deploy = dir.path().join("deploy");
    let requirements = fs::read_to_string(deploy.join("app/requirements.txt")).unwrap();
    let lock: toml::Table = fs::read_to_string(dir.path().join("mlgen.lock"))
        .unwrap()
        .parse()
        .unwrap();
    let pins = lock["pins"].as_array().unwrap();
    for pin in pins.iter().map(|p| p.as_str().unwrap()) {
        let hashes = lock["hashes"][pin].as_array().unwrap();
        let entry = format!("{pin} \\\n    --hash={}", hashes[0].as_str().unwrap());
        assert!(
            requirements.contains(&entry),
            "{entry} not in\n{requirements}"
        );
    }
    assert!(
        requirements.contains("tokenizers==0.23.3 \\"),
        "{requirements}"
    );
    assert!(
        requirements.contains("the spec's own mlgen.lock"),
        "{requirements}"
    );
    let dockerfile = fs::read_to_string(deploy.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("--require-hashes --no-deps"),
        "{dockerfile}"
    );
}

#[test]
fn a_stale_or_foreign_lock_is_an_error() {
    let (dir, spec) = fixture(true);
    edit(&spec, "tokenizers==0.23.3", "tokenizers==0.23.2");
    let err = stderr_of(mlgen().arg("validate").arg(&spec));
    assert!(
        err.contains(
            "mlgen.lock is stale: it was resolved for the requirements [\"tokenizers==0.23.3\"]"
        ),
        "{err}"
    );
    edit(&spec, "tokenizers==0.23.2", "tokenizers==0.23.3");
    edit(&spec, "python = \"3.11\"", "python = \"3.12\"");
    let err = stderr_of(mlgen().arg("validate").arg(&spec));
    assert!(
        err.contains("resolved for Python 3.11, the spec asks for 3.12"),
        "{err}"
    );
    edit(&spec, "python = \"3.12\"", "python = \"3.11\"");
    let lock = dir.path().join("mlgen.lock");
    edit(&lock, "\"uvicorn==0.34.0\", ", "");
    let err = stderr_of(mlgen().arg("validate").arg(&spec));
    assert!(err.contains("it does not pin `uvicorn==0.34.0`"), "{err}");
    fs::write(&lock, "python = 3\n").unwrap();
    let err = stderr_of(mlgen().arg("validate").arg(&spec));
    assert!(
        err.contains("mlgen.lock is not a lock `mlgen lock` wrote"),
        "{err}"
    );
}

#[test]
fn requirements_of_a_locked_stack_need_no_lock_of_their_own() {
    let (dir, spec) = fixture(false);
    edit(&spec, "tokenizers==0.23.3", "scikit-learn==1.6.1");
    mlgen().arg("validate").arg(&spec).assert().success();
    // Nothing to resolve: uv is not run (there is none by this name).
    let out = mlgen()
        .arg("lock")
        .arg(&spec)
        .env("MLGEN_UV", "/nonexistent/uv")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(
        said.contains("nothing to lock: the image installs mlgen's locked sklearn-cpu stack"),
        "{said}"
    );
    assert!(!dir.path().join("mlgen.lock").exists());
}

#[test]
fn lock_says_how_to_get_uv_when_it_cannot_run_it() {
    let (_dir, spec) = fixture(false);
    let mut cmd = mlgen();
    cmd.arg("lock")
        .arg(&spec)
        .env("MLGEN_UV", "/nonexistent/uv");
    let err = stderr_of(&mut cmd);
    assert!(
        err.contains("cannot run /nonexistent/uv (install uv"),
        "{err}"
    );
}
