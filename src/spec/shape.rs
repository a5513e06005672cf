//! The spec's shape, read from the JSON Schema of the serde types: which keys a table
//! requires and what kind of value a key takes. Error messages use it, so they follow
//! the types without a second list of keys.

use std::sync::OnceLock;

use serde_json::Value;

use super::Spec;

/// What a key takes, in the words a spec author uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    WholeNumber,
    Number,
    Bool,
    Text,
    List,
    TextTable,
    Secret,
    Table,
    Cpu,
    Choice,
}

impl Kind {
    /// The kind that serde names after "expected" in a type error.
    pub fn from_expected(expected: &str) -> Option<Kind> {
        Some(match expected {
            "i64" | "u64" | "i32" | "u32" | "u16" => Kind::WholeNumber,
            "f64" | "f32" => Kind::Number,
            "a boolean" => Kind::Bool,
            "a string" => Kind::Text,
            "a sequence" => Kind::List,
            "a map" => Kind::TextTable,
            "struct SecretRef" => Kind::Secret,
            s if s.starts_with("struct ") => Kind::Table,
            _ => return None,
        })
    }

    pub fn words(self) -> &'static str {
        match self {
            Kind::WholeNumber => "a whole number",
            Kind::Number => "a number",
            Kind::Bool => "true or false",
            Kind::Text => "text in quotes",
            Kind::List => "a list of names in quotes",
            Kind::TextTable => "a table of names to text in quotes",
            Kind::Secret => "a table `{ secret = \"…\", version = \"…\" }`",
            Kind::Table => "a table",
            Kind::Cpu => "a CPU count",
            Kind::Choice => "one of the allowed names, in quotes",
        }
    }

    /// A value of this kind, to show in a help line.
    pub fn example(self) -> &'static str {
        match self {
            Kind::WholeNumber => "10",
            Kind::Number => "2.5",
            Kind::Bool => "true",
            Kind::Text | Kind::Choice => "\"…\"",
            Kind::List => "[\"a\", \"b\"]",
            Kind::TextTable => "{ name = \"value\" }",
            Kind::Secret => "{ secret = \"api-key\", version = \"1\" }",
            Kind::Table => "{ … }",
            Kind::Cpu => "1",
        }
    }

    fn of(schema: &Value) -> Kind {
        if schema.get("$ref").and_then(Value::as_str) == Some("#/$defs/SecretRef") {
            return Kind::Secret;
        }
        let schema = resolve(schema);
        if schema.get("enum").is_some() {
            return Kind::Choice;
        }
        if schema.get("anyOf").is_some() {
            return Kind::Cpu;
        }
        match type_name(schema) {
            "integer" => Kind::WholeNumber,
            "number" => Kind::Number,
            "boolean" => Kind::Bool,
            "array" => Kind::List,
            "object" if schema.get("properties").is_some() => Kind::Table,
            "object" => Kind::TextTable,
            _ => Kind::Text,
        }
    }
}

/// The schema of the whole spec.
pub fn root() -> &'static Value {
    static ROOT: OnceLock<Value> = OnceLock::new();
    ROOT.get_or_init(|| schemars::schema_for!(Spec).to_value())
}

/// The schema of `key` inside the table `schema` describes, if the table has that key.
pub fn field<'a>(schema: &'a Value, key: &str) -> Option<&'a Value> {
    let schema = resolve(schema);
    schema
        .get("properties")
        .and_then(|p| p.get(key))
        .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
}

/// The schema at a dotted key path such as `model.framework`.
pub fn at(path: &str) -> Option<&'static Value> {
    path.split('.')
        .filter(|k| !k.is_empty())
        .try_fold(root(), |schema, key| field(schema, key))
}

/// What the key with this schema takes.
pub fn kind(schema: &Value) -> Kind {
    Kind::of(schema)
}

/// What the key with this schema takes, naming an enum's values.
pub fn words(schema: &Value) -> String {
    match kind(schema) {
        Kind::Choice => format!("one of {} in quotes", quoted(&choices(schema))),
        other => other.words().to_string(),
    }
}

/// Names in backticks, comma separated.
pub fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The keys a table must have, in the order the type declares them.
pub fn required(schema: &Value) -> Vec<&str> {
    resolve(schema)
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The values an enum allows; empty for anything else.
pub fn choices(schema: &Value) -> Vec<&str> {
    resolve(schema)
        .get("enum")
        .and_then(Value::as_array)
        .map(|e| e.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

pub fn description(schema: &Value) -> Option<&str> {
    schema.get("description").and_then(Value::as_str)
}

/// Follows a `$ref` into the schema's definitions; other schemas are returned as they are.
fn resolve(schema: &Value) -> &Value {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|name| root().get("$defs")?.get(name))
        .unwrap_or(schema)
}

/// The JSON type of a schema, ignoring the `null` an `Option` adds.
fn type_name(schema: &Value) -> &str {
    match schema.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or(""),
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_type_has_its_kind() {
        for (path, expected) in [
            ("container.port", Kind::WholeNumber),
            ("serving.max_batch_wait_ms", Kind::Number),
            ("service.deletion_protection", Kind::Bool),
            ("resources.cpu_always_allocated", Kind::Bool),
            ("service.name", Kind::Text),
            ("container.base_image", Kind::Text),
            ("model.features", Kind::List),
            ("service.labels", Kind::TextTable),
            ("env", Kind::TextTable),
            ("secrets.API_KEY", Kind::Secret),
            ("scaling", Kind::Table),
            ("resources.cpu", Kind::Cpu),
            ("model.framework", Kind::Choice),
            ("access.ingress", Kind::Choice),
        ] {
            let schema = at(path).unwrap_or_else(|| panic!("no schema at {path}"));
            assert_eq!(kind(schema), expected, "{path}");
        }
    }

    #[test]
    fn required_keys_and_choices_come_from_the_types() {
        assert_eq!(required(root()), ["service", "model", "service_account"]);
        assert_eq!(required(at("secrets.X").unwrap()), ["secret", "version"]);
        assert_eq!(
            choices(at("model.framework").unwrap()),
            ["sklearn", "xgboost", "lightgbm", "onnx", "custom"]
        );
        assert!(at("service.regoin").is_none());
    }

    #[test]
    fn serde_type_names_map_to_kinds() {
        assert_eq!(Kind::from_expected("i64"), Some(Kind::WholeNumber));
        assert_eq!(Kind::from_expected("struct SecretRef"), Some(Kind::Secret));
        assert_eq!(Kind::from_expected("struct ServiceSpec"), Some(Kind::Table));
        assert_eq!(Kind::from_expected("a sequence"), Some(Kind::List));
        assert_eq!(Kind::from_expected("something else"), None);
    }
}
