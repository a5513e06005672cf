//! Reading and parsing a spec file into [`Spec`], with located syntax and type errors.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::{DeTable, Deserializer};

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

/// Reads and parses the spec at `path`; semantic checks come later, in `validate`.
pub fn load(path: &Path) -> Result<(SourceFile, Spec), Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        context: format!("cannot read spec {}", path.display()),
        source,
    })?;
    let file = SourceFile {
        path: path.to_path_buf(),
        text,
    };
    let spec = parse(&file)?;
    Ok((file, spec))
}

/// Parses spec text into a [`Spec`]; a text that does not fit the types gets every
/// missing required key reported with the first other error serde finds.
pub fn parse(file: &SourceFile) -> Result<Spec, Error> {
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
    let root = DeTable::parse(text).map_err(|e| Error::spec(file, vec![located(&e, text)]))?;
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
            Err(Error::spec(file, all))
        }
    }
}

fn located(e: &toml::de::Error, text: &str) -> Diagnostic {
    explain::diagnose(e.message().trim(), e.span().unwrap_or(0..0), text)
}
