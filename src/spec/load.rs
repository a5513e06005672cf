//! Reading and parsing a spec file into [`Spec`], with located syntax and type errors.

use std::path::{Path, PathBuf};

use super::Spec;
use crate::diagnostics::{Diagnostic, suggest};
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

/// Parses spec text, turning toml/serde errors into one located diagnostic.
pub fn parse(file: &SourceFile) -> Result<Spec, Error> {
    if let Some(pos) = file.text.find('\0') {
        return Err(Error::spec(
            file,
            vec![
                Diagnostic::new("", pos..pos + 1, "the spec contains a NUL byte")
                    .label("here")
                    .help("a spec is UTF-8 text; remove the NUL byte"),
            ],
        ));
    }
    toml::from_str::<Spec>(&file.text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim().to_string();
        Error::spec(file, vec![diagnose(&message, span, &file.text)])
    })
}

/// Adds a key path and a "did you mean" to serde's messages where it can.
fn diagnose(message: &str, span: std::ops::Range<usize>, text: &str) -> Diagnostic {
    let key = key_path_at(text, span.start);
    let mut d = Diagnostic::new(key, span, message.to_string()).label("here");
    for kind in ["unknown field", "unknown variant"] {
        if let Some(rest) = message.strip_prefix(kind) {
            let found = between_backticks(rest).unwrap_or_default();
            let expected: Vec<String> = rest
                .split_once("expected")
                .map(|(_, list)| {
                    list.split('`')
                        .skip(1)
                        .step_by(2)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let valid = expected
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ");
            d = match suggest(&found, expected.iter().map(String::as_str)) {
                Some(s) => d.help(format!("did you mean `{s}`? valid here: {valid}")),
                None if !valid.is_empty() => d.help(format!("valid here: {valid}")),
                None => d,
            };
        }
    }
    if message.starts_with("missing field") {
        d.label = "in this table".to_string();
        d = d.help("add the key; `mlgen init` writes a commented starter spec");
    }
    d
}

fn between_backticks(s: &str) -> Option<String> {
    let mut parts = s.split('`');
    parts.next()?;
    parts.next().map(str::to_string)
}

/// Best-effort dotted key of the line at `offset` (`[table]` + `key`), for error titles.
fn key_path_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let mut table = String::new();
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    for line in text[..line_start].lines() {
        let t = line.trim();
        if t.starts_with('[')
            && !t.starts_with("[[")
            && let Some(end) = t.find(']')
        {
            table = t[1..end].trim().to_string();
        }
    }
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    if line.starts_with('[') {
        return line
            .trim_start_matches('[')
            .split(']')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
    }
    let key = line
        .split('=')
        .next()
        .map(|k| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && line.contains('='));
    match (table.is_empty(), key) {
        (_, None) => table,
        (true, Some(k)) => k,
        (false, Some(k)) => format!("{table}.{k}"),
    }
}
