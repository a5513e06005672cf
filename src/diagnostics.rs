//! Located spec errors and warnings, rendered the way rustc and cargo render theirs.

use std::ops::Range;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

/// Whether a diagnostic stops generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Severity {
    /// The spec is invalid; nothing is generated.
    #[default]
    Error,
    /// Valid, but likely not what the user wants; the files are generated anyway.
    Warning,
}

/// One problem in a spec, pointing at the text that causes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Dotted key path, e.g. `resources.cpu`; empty for syntax errors.
    pub key: String,
    pub message: String,
    /// Byte range in the spec text.
    pub span: Range<usize>,
    /// Short text under the caret.
    pub label: String,
    /// What would be valid.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(key: impl Into<String>, span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            key: key.into(),
            message: message.into(),
            span,
            label: String::new(),
            help: None,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    pub fn title(&self) -> String {
        if self.key.is_empty() {
            self.message.clone()
        } else {
            format!("`{}`: {}", self.key, self.message)
        }
    }
}

/// The warnings about one spec, with the text they point into.
#[derive(Debug, Clone, Default)]
pub struct Warnings {
    pub path: String,
    pub text: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl Warnings {
    pub fn render(&self, styled: bool) -> String {
        render_each(&self.path, &self.text, &self.diagnostics, styled)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..offset].chars().count() + 1;
    (line, col)
}

/// Renders every error against the spec source, then a line saying nothing was generated;
/// `styled` adds ANSI colours.
pub fn render(path: &str, text: &str, diagnostics: &[Diagnostic], styled: bool) -> String {
    let mut out = render_each(path, text, diagnostics, styled);
    let n = diagnostics.len();
    out.push_str(&format!(
        "error: {path}: {n} problem{} found, nothing was generated\n",
        if n == 1 { "" } else { "s" }
    ));
    out
}

/// Renders each diagnostic at its own severity, each followed by a blank line.
pub fn render_each(path: &str, text: &str, diagnostics: &[Diagnostic], styled: bool) -> String {
    let renderer = if styled {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    for d in diagnostics {
        let level = match d.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let title = d.title();
        let span = clamp(d.span.clone(), text);
        let mut group: Group<'_> = level.primary_title(title).element(
            Snippet::source(text)
                .path(path)
                .annotation(AnnotationKind::Primary.span(span).label(d.label.as_str())),
        );
        if let Some(help) = &d.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        out.push_str(&renderer.render(&[group]));
        out.push_str("\n\n");
    }
    out
}

fn clamp(span: Range<usize>, text: &str) -> Range<usize> {
    let start = span.start.min(text.len());
    let end = span.end.clamp(start, text.len());
    start..end
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d <= (c.len() / 3).max(1) + 1)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "a = 1\nbé = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 10), (2, 4));
    }

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(suggest("regoin", ["name", "region"]), Some("region"));
        assert_eq!(suggest("sklear", ["sklearn", "onnx"]), Some("sklearn"));
        assert_eq!(suggest("zzzzzz", ["sklearn", "onnx"]), None);
    }
}
