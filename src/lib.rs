//! mlgen: one TOML spec in, a Cloud Run model service out.
//!
//! The pipeline is: [`spec`] (parse) → [`spec::validate`] → [`model`] (resolve once) →
//! [`render`] (one renderer per target) → [`tree::Tree`] → [`plan`] / [`write`].

pub mod cli;
pub mod commands;
pub mod diagnostics;
pub mod discover;
pub mod error;
pub mod manifest;
pub mod model;
pub mod parallel;
pub mod pipeline;
pub mod plan;
pub mod platform;
pub mod render;
pub mod runtime;
pub mod schema;
pub mod spec;
pub mod tree;
pub mod write;
