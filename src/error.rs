//! The error type every command returns.

use crate::diagnostics::{self, Diagnostic};
use crate::spec::SourceFile;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is invalid; `rendered` holds the located report.
    #[error("{rendered}")]
    Spec {
        path: String,
        text: String,
        diagnostics: Vec<Diagnostic>,
        rendered: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("template {template} failed to render: {source}")]
    Template {
        template: &'static str,
        #[source]
        source: askama::Error,
    },
    /// A safety rule refused the operation; nothing was written.
    #[error("{0}")]
    Refused(String),
}

impl Error {
    pub fn spec(file: &SourceFile, diagnostics: Vec<Diagnostic>) -> Self {
        let path = file.display();
        let rendered = diagnostics::render(&path, &file.text, &diagnostics, false);
        Error::Spec {
            path,
            text: file.text.clone(),
            diagnostics,
            rendered,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
