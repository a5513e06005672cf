//! Cloud Run's own rules, checked before anything is generated.
//!
//! Every check reports a [`Diagnostic`] that points at the offending value and says what
//! would be valid; all problems are collected so a user fixes them in one pass. Values that
//! later stages need in parsed form (CPU, memory, timeout, model source) come out of here,
//! so they are parsed exactly once.
//!
//! Each table has its own module; checks that span tables live with the table whose key
//! the error points at.
//!
//! Warnings are diagnostics too, for settings Cloud Run accepts but that will not do what
//! the user wants (invokers who cannot reach the service, a GPU the model never uses). They
//! come back beside the parsed values, never fail, and are shown by `validate`, `plan` and
//! `apply`.

mod access;
mod account;
mod ci;
mod container;
mod cost;
mod env;
mod environments;
mod ids;
mod image;
mod model;
mod monitoring;
mod quantities;
mod resources;
mod rollout;
mod scaling;
mod service;
mod serving;

use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::Spec;
use crate::diagnostics::Diagnostic;
use crate::platform::GpuType;

pub use quantities::{cpu_text, mib_text};

/// Values parsed during validation, handed to [`crate::model::resolve`].
#[derive(Debug, Clone)]
pub struct Checked {
    pub millicpu: u32,
    pub memory_mib: u64,
    pub timeout_s: u32,
    pub gpu: Option<&'static GpuType>,
    /// None only for a custom handler without a `source`.
    pub source: Option<ModelSource>,
    /// Advice that does not stop generation, in text order.
    pub warnings: Vec<Diagnostic>,
    /// The spec's own lock, where a custom handler needs one ([`spec_lock`]).
    pub spec_lock: Option<crate::model::lock::SpecLock>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A file under the spec's folder, copied into the image.
    Local { path: String },
    /// An object in Cloud Storage, mounted read-only.
    Gcs { bucket: String, object: String },
}

/// Collects diagnostics for every table.
#[derive(Default)]
struct Checker {
    out: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Checker {
    fn warn(&mut self, key: &str, span: Range<usize>, message: String, help: impl Into<String>) {
        self.warnings.push(
            Diagnostic::new(key, span, message)
                .label("here")
                .help(help)
                .warning(),
        );
    }

    fn err(&mut self, key: &str, span: Range<usize>, message: String, help: impl Into<String>) {
        self.out.push(
            Diagnostic::new(key, span, message)
                .label("invalid value")
                .help(help),
        );
    }

    /// Free text may hold anything printable, newlines and tabs included, but no other
    /// control characters: they have no faithful form in every target.
    fn free_text(&mut self, key: &str, v: &Spanned<String>, max: usize) {
        let s = v.get_ref();
        if let Some(ch) = s
            .chars()
            .find(|ch| ch.is_control() && *ch != '\n' && *ch != '\t')
        {
            self.err(
                key,
                v.span(),
                format!(
                    "the value contains the control character U+{:04X}",
                    ch as u32
                ),
                "free text may hold printable characters, tabs and newlines only",
            );
        }
        if s.len() > max {
            self.err(
                key,
                v.span(),
                format!("the value is {} bytes long", s.len()),
                format!("keep it under {max} bytes"),
            );
        }
    }
}

/// Checks `spec` against Cloud Run, IAM and Artifact Registry rules.
pub fn validate(spec: &Spec) -> Result<Checked, Vec<Diagnostic>> {
    let mut c = Checker::default();
    service::check(&mut c, &spec.service);
    let source = model::check(&mut c, &spec.model);
    container::check(&mut c, &spec.container);
    container::check_locked(&mut c, spec);
    container::check_include_has_handler(&mut c, spec);
    image::check(&mut c, spec);
    let sized = resources::check(&mut c, &spec.resources, spec.service.region.get_ref());
    model::check_source_fits(&mut c, &spec.model, source.as_ref(), sized.millicpu);
    let timeout_s = scaling::check(&mut c, &spec.scaling, &spec.resources, sized.millicpu);
    account::check(&mut c, &spec.service_account);
    account::check_distinct_from_named(&mut c, spec);
    access::check(&mut c, &spec.access);
    env::check(&mut c, spec);
    serving::check(&mut c, spec, source.as_ref());
    cost::check(&mut c, &spec.cost);
    monitoring::check(&mut c, spec.monitoring.as_ref(), timeout_s);
    ci::check(&mut c, spec.ci.as_ref());
    rollout::check(&mut c, &spec.rollout);
    if let Some(gpu) = sized.gpu {
        resources::warn_gpu_quota(&mut c, spec, gpu);
        model::warn_cpu_only_on_gpu(&mut c, spec, gpu);
    }
    if c.out.is_empty() {
        c.warnings.sort_by_key(|d| d.span.start);
        Ok(Checked {
            millicpu: sized.millicpu,
            memory_mib: sized.memory_mib,
            timeout_s,
            gpu: sized.gpu,
            // No diagnostics: a written source parsed.
            source,
            warnings: c.warnings,
            spec_lock: None,
        })
    } else {
        c.out.sort_by_key(|d| d.span.start);
        Err(c.out)
    }
}

/// Checks what the spec names on disk beside it (`spec_dir`), which the image build
/// copies: the local model file, the handler's file and what it includes. Kept apart from
/// [`validate`], which reads the spec alone.
/// Checks across environments, once each one is valid on its own: the errors; warnings
/// join the environment's own.
pub fn environments(specs: &mut [(Spec, Checked)]) -> Vec<Diagnostic> {
    environments::check(specs)
}

pub fn check_files(spec: &Spec, checked: &Checked, spec_dir: &Path) -> Result<(), Vec<Diagnostic>> {
    let mut c = Checker::default();
    if let Some(source) = &checked.source {
        model::check_local_file(&mut c, &spec.model, source, spec_dir);
    }
    model::check_handler_file(&mut c, &spec.model, spec_dir);
    container::check_include_files(&mut c, &spec.container.include, spec_dir);
    if c.out.is_empty() {
        Ok(())
    } else {
        c.out.sort_by_key(|d| d.span.start);
        Err(c.out)
    }
}

/// The spec's own lock (`mlgen.lock` beside the spec at `spec_path`), where a custom
/// handler's requirements are in no locked stack of mlgen's: read from disk like
/// [`check_files`], an error where it is missing or stale.
pub fn spec_lock(
    spec: &Spec,
    spec_path: &Path,
) -> Result<Option<crate::model::lock::SpecLock>, Vec<Diagnostic>> {
    let mut c = Checker::default();
    let lock = container::check_spec_lock(&mut c, spec, spec_path);
    if c.out.is_empty() {
        Ok(lock)
    } else {
        Err(c.out)
    }
}

/// Why `path` beside the spec is not the file (or, with `folder`, the folder) the image
/// build copies; None when it is.
fn not_beside(spec_dir: &Path, path: &str, folder: bool) -> Option<&'static str> {
    let full = spec_dir.join(path);
    match (full.exists(), folder) {
        (false, _) => Some("does not exist"),
        (true, true) if !full.is_dir() => Some("is not a folder"),
        (true, false) if !full.is_file() => Some("is not a file"),
        _ => None,
    }
}

/// `a`, unless it is a default's empty span, which points nowhere; then `b`.
fn span_or(a: Range<usize>, b: Range<usize>) -> Range<usize> {
    if a.is_empty() && a.start == 0 { b } else { a }
}

/// Helpers for the unit tests of each table's checks.
#[cfg(test)]
mod testing {
    use super::{Checker, Diagnostic, Spec};
    use crate::spec::{SourceFile, load};

    const BASE: &str = include_str!("../../../examples/iris-sklearn/mlgen.toml");

    /// The iris example with `from` (which must occur) replaced by `to`.
    pub fn spec(from: &str, to: &str) -> Spec {
        edited(&[(from, to)])
    }

    /// The iris example with each `(from, to)` edit made.
    pub fn edited(edits: &[(&str, &str)]) -> Spec {
        let text = edits.iter().fold(BASE.to_string(), |text, (from, to)| {
            assert!(text.contains(from), "`{from}` is not in the example");
            text.replace(from, to)
        });
        let file = SourceFile {
            path: "mlgen.toml".into(),
            text,
        };
        load::parse(&file).expect("the edited example parses")
    }

    /// What one table's check reports.
    pub fn run<T>(check: impl FnOnce(&mut Checker) -> T) -> Vec<Diagnostic> {
        let mut c = Checker::default();
        let _ = check(&mut c);
        c.out
    }

    pub fn keys<T>(check: impl FnOnce(&mut Checker) -> T) -> Vec<String> {
        run(check).into_iter().map(|d| d.key).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::spec;
    use super::*;

    #[test]
    fn a_valid_spec_comes_back_parsed() {
        let checked = validate(&spec("cpu = 1", "cpu = 2")).unwrap();
        assert_eq!(
            (checked.millicpu, checked.memory_mib, checked.timeout_s),
            (2000, 2048, 300)
        );
        assert_eq!(
            checked.source,
            Some(ModelSource::Local {
                path: "models/iris.joblib".into()
            })
        );
    }

    #[test]
    fn problems_from_every_table_come_back_in_text_order() {
        let s =
            super::testing::edited(&[("cpu = 1", "cpu = 3"), ("\"iris-classifier\"", "\"Iris\"")]);
        let keys: Vec<String> = validate(&s)
            .unwrap_err()
            .into_iter()
            .map(|d| d.key)
            .collect();
        assert_eq!(keys, ["service.name", "resources.cpu"]);
    }

    #[test]
    fn free_text_refuses_control_characters_and_length() {
        let keys = super::testing::keys(|c| {
            c.free_text("k", &Spanned::new(0..1, "a\u{7}".into()), 10);
            c.free_text("k", &Spanned::new(0..1, "a\tb\nc".into()), 10);
            c.free_text("k", &Spanned::new(0..1, "x".repeat(11)), 10);
        });
        assert_eq!(keys, ["k", "k"]);
    }
}
