//! `mlgen lock`: a custom handler's requirements that no locked stack of mlgen's holds,
//! resolved with the serving packages by uv into `mlgen.lock` beside the spec.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::ExitStatus;
use crate::cli::SpecArg;
use crate::error::Error;
use crate::model::lock::{self, PLATFORM, SPEC_LOCK, SpecLock};
use crate::runtime::runtime;
use crate::spec::{self, validate};
use crate::{discover, model};

pub fn run(a: SpecArg) -> Result<ExitStatus, Error> {
    let spec_path = discover::one(&a.spec)?;
    let (file, specs) = spec::load(&spec_path)?;
    // The first environment builds the one image every environment runs.
    let parsed = specs
        .into_iter()
        .next()
        .expect("a spec loads as at least one");
    validate::validate(&parsed).map_err(|d| Error::spec(&file, d))?;
    let ct = &parsed.container;
    let python = ct.python.get_ref();
    let requirements: Vec<&str> = ct
        .requirements
        .iter()
        .map(|r| r.get_ref().as_str())
        .collect();
    let serve = model::serve_framework(&parsed);
    let gpu = parsed.resources.gpu.is_some();
    let dataframe = parsed.model.takes_dataframe();
    let stack = lock::image_stack(python, serve.as_str(), gpu, dataframe, &requirements);
    if !lock::needs_spec_lock(python, serve.as_str(), &stack, &requirements) {
        println!(
            "{}: nothing to lock: the image installs mlgen's locked {stack} stack.",
            spec_path.display()
        );
        return Ok(ExitStatus::Success);
    }
    let resolved = resolve(python, &requirements)?;
    let lock = SpecLock::from_uv(python, &requirements, &resolved)
        .map_err(|e| Error::io("uv's resolve cannot be locked", std::io::Error::other(e)))?;
    let out = spec_path.parent().unwrap_or(Path::new(".")).join(SPEC_LOCK);
    std::fs::write(&out, lock.to_toml())
        .map_err(|e| Error::io(format!("cannot write {}", out.display()), e))?;
    println!(
        "{}: {} packages locked with their hashes.",
        out.display(),
        lock.pins.len()
    );
    Ok(ExitStatus::Success)
}

/// uv's resolve of the serving packages with `requirements`, for the image's Python and
/// platform, wheels only, every distribution's hash: `uv pip compile` output.
fn resolve(python: &str, requirements: &[&str]) -> Result<String, Error> {
    let uv = std::env::var_os("MLGEN_UV").unwrap_or_else(|| "uv".into());
    let mut child = Command::new(&uv)
        .args([
            "pip",
            "compile",
            "-",
            "--generate-hashes",
            "--no-header",
            "--no-annotate",
        ])
        .args([
            "--quiet",
            "--python-version",
            python,
            "--python-platform",
            PLATFORM,
        ])
        .args(["--only-binary", ":all:"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            let context = format!(
                "cannot run {} (install uv, https://docs.astral.sh/uv/, or name it in MLGEN_UV)",
                uv.to_string_lossy()
            );
            Error::io(context, e)
        })?;
    let serving = runtime().serving.packages.iter().map(String::as_str);
    let input: String = serving
        .chain(requirements.iter().copied())
        .map(|r| format!("{r}\n"))
        .collect();
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(input.as_bytes())
        .map_err(|e| Error::io("cannot send the requirements to uv", e))?;
    drop(stdin);
    let done = child
        .wait_with_output()
        .map_err(|e| Error::io("uv did not finish", e))?;
    if !done.status.success() {
        let stderr = String::from_utf8_lossy(&done.stderr).trim().to_string();
        let context = format!(
            "uv cannot resolve {requirements:?} with the serving packages for Python {python}"
        );
        return Err(Error::io(context, std::io::Error::other(stderr)));
    }
    Ok(String::from_utf8_lossy(&done.stdout).into_owned())
}
