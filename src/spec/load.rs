//! Reading and parsing a spec file into [`Spec`], with located syntax and type errors.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, Deserializer};

use super::environments::{self, Environment};
use super::layout::Layout;
use super::{Spec, explain, required};
use crate::diagnostics::Diagnostic;
use crate::error::Error;

/// A spec's text and where it came from, kept for error reports.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn display(&self) -> String {
        self.path.display().to_string()
    }
}

/// Reads and parses the spec at `path`, one [`Spec`] per environment (see [`parse_all`]);
/// semantic checks come later, in `validate`.
pub fn load(path: &Path) -> Result<(SourceFile, Vec<Spec>), Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        context: format!("cannot read spec {}", path.display()),
        source,
    })?;
    let file = SourceFile {
        path: path.to_path_buf(),
        text,
    };
    let specs = parse_all(&file)?;
    Ok((file, specs))
}

/// Parses spec text into a [`Spec`]: the first environment's, for a spec with
/// `[environments]` (see [`parse_all`]).
pub fn parse(file: &SourceFile) -> Result<Spec, Error> {
    parse_all(file).map(|mut specs| specs.remove(0))
}

/// Parses spec text into one [`Spec`] per environment, in the order written; one without
/// an environment when the spec has no `[environments]`. A text that does not fit the types
/// gets every missing required key reported with the first other error serde finds, once
/// however many environments share it.
pub fn parse_all(file: &SourceFile) -> Result<Vec<Spec>, Error> {
    let text = &file.text;
    if let Some(pos) = text.find('\0') {
        return Err(Error::spec(
            file,
            vec![
                Diagnostic::new("", pos..pos + 1, "the spec contains a NUL byte")
                    .label("here")
                    .help("a spec is UTF-8 text; remove the NUL byte"),
            ],
        ));
    }
    let mut root = DeTable::parse(text).map_err(|e| Error::spec(file, vec![located(&e, text)]))?;
    let envs = environments::split(root.get_mut()).map_err(|d| Error::spec(file, d))?;
    let results: Vec<Result<Spec, Vec<Diagnostic>>> = if envs.is_empty() {
        vec![read(root, text)]
    } else {
        let span = root.span();
        let listed: Vec<Environment> = envs.iter().map(|o| o.environment.clone()).collect();
        envs.iter()
            .map(|o| {
                let merged = environments::merge(root.get_ref().clone(), o);
                read(Spanned::new(span.clone(), merged), text).map(|spec| Spec {
                    environment: Some(o.environment.clone()),
                    environments: listed.clone(),
                    ..spec
                })
            })
            .collect()
    };
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut specs = Vec::new();
    for r in results {
        match r {
            Ok(spec) => specs.push(spec),
            Err(d) => errors.extend(
                d.into_iter()
                    .filter(|d| !errors.contains(d))
                    .collect::<Vec<_>>(),
            ),
        }
    }
    errors.sort_by_key(|d| d.span.start);
    if errors.is_empty() {
        Ok(specs)
    } else {
        Err(Error::spec(file, errors))
    }
}

/// Reads one document (the spec's, or an environment's merge) into the types.
fn read(root: Spanned<DeTable<'_>>, text: &str) -> Result<Spec, Vec<Diagnostic>> {
    let layout = Layout::of(root.get_ref(), text.len());
    let missing = required::missing_keys(root.get_ref(), layout.end());
    match Spec::deserialize(Deserializer::from(root)) {
        Ok(spec) => Ok(Spec { layout, ..spec }),
        Err(e) => {
            let first = located(&e, text);
            // serde's own "missing field" is one of `missing`, which names them all.
            let first =
                (missing.is_empty() || !e.message().starts_with("missing field")).then_some(first);
            let mut all: Vec<Diagnostic> = first.into_iter().chain(missing).collect();
            all.sort_by_key(|d| d.span.start);
            Err(all)
        }
    }
}

fn located(e: &toml::de::Error, text: &str) -> Diagnostic {
    explain::diagnose(e.message().trim(), e.span().unwrap_or(0..0), text)
}
