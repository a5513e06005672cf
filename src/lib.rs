//! mlgen: one TOML spec in, a Cloud Run model service out.
//!
//! The pipeline is: [`spec`] (parse) → [`spec::validate`] → [`model`] (resolve once) →
//! [`render`] (one renderer per target) → [`tree::Tree`] → `plan` (what would change) /
//! `write` (apply it); [`cost`] estimates what the service costs; `output` shows plans and
//! errors, `commands` ties them to the CLI.
//! Modules that only the CLI uses are private to the crate.

pub mod cli;
pub mod commands;
pub mod cost;
pub mod diagnostics;
pub(crate) mod discover;
pub mod error;
pub mod manifest;
pub mod model;
pub(crate) mod output;
pub mod parallel;
pub mod pipeline;
pub(crate) mod plan;
pub mod platform;
pub mod render;
pub mod runtime;
pub mod schema;
pub mod spec;
pub mod tree;
pub(crate) mod write;
