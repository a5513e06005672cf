//! `mlgen init`: a commented starter spec and the JSON Schema editors check it against.

use std::io::Write;
use std::path::Path;

use crate::cli::InitArgs;
use crate::error::{Error, Refusal};
use crate::{schema, spec, write};

use super::ExitStatus;

/// The commented starter spec.
const STARTER: &str = include_str!("../../templates/init/mlgen.toml");

pub(super) fn run(a: InitArgs) -> Result<ExitStatus, Error> {
    // The starter's first line points editors at the schema beside it.
    let schema_path = a.path.with_file_name(schema::FILE);
    for path in [&a.path, &schema_path] {
        if path.exists() && !a.force {
            return Err(Refusal::Exists { path: path.clone() }.into());
        }
    }
    // The starter must always be a valid spec.
    let file = spec::SourceFile {
        path: a.path.clone(),
        text: STARTER.to_string(),
    };
    spec::load::parse(&file)?;
    let dir = match a.path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    write_file(dir, &a.path, STARTER)?;
    write_file(dir, &schema_path, &schema::json())?;
    println!(
        "Wrote {} and {} (its JSON Schema, for editors). Edit the spec, then run `mlgen plan` and `mlgen apply`.",
        a.path.display(),
        schema_path.display()
    );
    Ok(ExitStatus::Success)
}

/// Writes `path` (in `dir`) whole or not at all, with the modes `apply` gives its files.
fn write_file(dir: &Path, path: &Path, content: &str) -> Result<(), Error> {
    let ctx = |e| Error::io(format!("cannot write {}", path.display()), e);
    let mut tmp = write::temp_file(dir, false).map_err(ctx)?;
    tmp.write_all(content.as_bytes()).map_err(ctx)?;
    tmp.persist(path).map_err(|e| ctx(e.error))?;
    Ok(())
}
