//! Every required key a spec lacks, found in one pass over the parsed text, so a user
//! sees all of them at once (serde stops at the first).

use std::ops::Range;

use serde_json::Value;
use toml::de::{DeTable, DeValue};

use super::shape::{self, Kind};
use crate::diagnostics::Diagnostic;

/// Each missing required key, located at the table that lacks it; a missing top-level
/// table is located at `end`, where it would go.
pub fn missing_keys(root: &DeTable, end: Range<usize>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    walk(root, shape::root(), "", end, &mut out);
    out
}

fn walk(table: &DeTable, schema: &Value, path: &str, at: Range<usize>, out: &mut Vec<Diagnostic>) {
    for key in shape::required(schema) {
        if !table.contains_key(key) {
            let field = shape::field(schema, key).unwrap_or(&Value::Null);
            out.push(missing(path, key, field, at.clone()));
        }
    }
    for (key, value) in table {
        if let DeValue::Table(inner) = value.get_ref()
            && let Some(field) = shape::field(schema, key.get_ref())
        {
            let inner_path = join(path, key.get_ref());
            walk(inner, field, &inner_path, key.span(), out);
        }
    }
}

fn missing(table: &str, key: &str, field: &Value, at: Range<usize>) -> Diagnostic {
    let kind = shape::kind(field);
    if table.is_empty() && kind == Kind::Table {
        let keys = shape::quoted(&shape::required(field));
        return Diagnostic::new(key, at, format!("the spec has no `[{key}]` table"))
            .label("it would go here")
            .help(format!(
                "add the table `[{key}]` with {keys}; `mlgen init` writes a commented starter spec"
            ));
    }
    let what = shape::description(field)
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    Diagnostic::new(
        join(table, key),
        at,
        format!("table `{table}` has no `{key}`"),
    )
    .label("in this table")
    .help(format!(
        "add `{key} = {}` ({}){what}",
        kind.example(),
        shape::words(field)
    ))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing_in(text: &str) -> Vec<Diagnostic> {
        let root = DeTable::parse(text).unwrap();
        missing_keys(root.get_ref(), text.len()..text.len())
    }

    #[test]
    fn an_empty_file_lacks_every_required_table() {
        let ds = missing_in("");
        let keys: Vec<&str> = ds.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["service", "model", "service_account"]);
        let help = ds[0].help.as_deref().unwrap();
        assert!(
            help.starts_with("add the table `[service]` with `name`"),
            "{help}"
        );
    }

    #[test]
    fn missing_keys_point_at_their_table() {
        let text = "[service]\nname = \"x\"\n[secrets]\nA = { secret = \"s\" }\n";
        let ds = missing_in(text);
        let service: Vec<&Diagnostic> = ds
            .iter()
            .filter(|d| d.key.starts_with("service."))
            .collect();
        assert_eq!(service.len(), 3, "{ds:#?}");
        assert!(service.iter().all(|d| &text[d.span.clone()] == "service"));
        let version = ds.iter().find(|d| d.key == "secrets.A.version").unwrap();
        assert_eq!(&text[version.span.clone()], "A");
        assert!(version.help.as_deref().unwrap().contains("text in quotes"));
    }
}
