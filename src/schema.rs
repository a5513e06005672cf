//! The spec's JSON Schema, generated from the same types the parser uses.

use crate::spec::Spec;

/// Where `mlgen init` puts the schema, beside the spec, and what its first line names.
pub const FILE: &str = "mlgen.schema.json";

/// Pretty JSON Schema of `mlgen.toml`, ending in a newline.
pub fn json() -> String {
    let mut schema = schemars::schema_for!(Spec);
    schema.insert("title".into(), "mlgen spec (mlgen.toml)".into());
    let mut s = serde_json::to_string_pretty(&schema).expect("schema serialises");
    s.push('\n');
    s
}
