//! serde's and toml's messages said in the spec's words: what kind of value a key takes
//! and what would be valid, never which Rust type reads it.

use std::ops::Range;

use super::FEATURE_EXPECTED;
use super::shape::{self, Kind};
use crate::diagnostics::{Diagnostic, suggest};

/// What the CPU key takes; validation says the same about a value of the right type.
pub const CPU_HELP: &str = "use a fraction from 0.08 to below 1 (e.g. 0.5), or 1, 2, 4, 6 or 8";

/// How to write one of `[model] features`.
const FEATURE_HELP: &str = "write a name for a number column, e.g. `\"age\"`, or a table for another type, e.g. `{ name = \"plan\", type = \"category\", values = [\"free\", \"pro\"] }`";

/// One located diagnostic for a toml or serde error message.
pub fn diagnose(message: &str, span: Range<usize>, text: &str) -> Diagnostic {
    let d = Diagnostic::new(key_path_at(text, span.start), span, message).label("here");
    if let Some(rest) = message.strip_prefix("unknown field") {
        return unknown(d, rest, |found| format!("unknown key `{found}`"));
    }
    if let Some(rest) = message.strip_prefix("unknown variant") {
        return unknown(d, rest, |found| {
            format!("`{found}` is not one of the allowed values")
        });
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        return wrong_type(d, rest);
    }
    if message == "wanted string or table" {
        return expected(d, Kind::Choice, None);
    }
    if message.starts_with("data did not match any variant of untagged enum CpuValue") {
        return expected(d, Kind::Cpu, None);
    }
    d
}

/// An unknown key or enum value: one "did you mean", and the valid names listed once.
fn unknown(d: Diagnostic, rest: &str, message: impl Fn(&str) -> String) -> Diagnostic {
    let found = rest.split('`').nth(1).unwrap_or_default().to_string();
    let valid: Vec<&str> = rest
        .split_once("expected")
        .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
        .unwrap_or_default();
    let listed = shape::quoted(&valid);
    let help = match suggest(&found, valid.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? valid here: {listed}"),
        None if valid.is_empty() => "nothing else is allowed here; remove it".to_string(),
        None => format!("valid here: {listed}"),
    };
    Diagnostic {
        message: message(&found),
        ..d
    }
    .help(help)
}

/// `invalid type: FOUND, expected TYPE`, with TYPE in the spec's words.
fn wrong_type(d: Diagnostic, rest: &str) -> Diagnostic {
    let Some((found, wanted)) = rest.split_once(", expected ") else {
        return d;
    };
    if wanted == FEATURE_EXPECTED {
        let message = format!(
            "expected a feature name in quotes or a feature table, found {}",
            found_words(found)
        );
        return Diagnostic { message, ..d }.help(FEATURE_HELP);
    }
    match Kind::from_expected(wanted) {
        Some(kind) => expected(d, kind, Some(&found_words(found))),
        None => d,
    }
}

fn expected(d: Diagnostic, kind: Kind, found: Option<&str>) -> Diagnostic {
    let message = match found {
        Some(found) => format!("expected {}, found {found}", kind.words()),
        None => format!("expected {}", kind.words()),
    };
    let help = help_for(&d.key, kind);
    Diagnostic { message, ..d }.help(help)
}

/// How to write a value of `kind` for `key`.
fn help_for(key: &str, kind: Kind) -> String {
    let schema = shape::at(key);
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let example = match schema {
        // The key itself takes this kind; otherwise an item inside it does.
        Some(s) if shape::kind(s) == kind => format!("`{leaf} = {}`", kind.example()),
        _ => format!("`{}`", kind.example()),
    };
    match kind {
        Kind::Choice => format!("write {}", schema.map_or(kind.words().into(), shape::words)),
        Kind::Cpu => format!("{CPU_HELP}; e.g. `cpu = 1`"),
        Kind::Table => format!("write `[{key}]` on a line of its own, then its keys"),
        Kind::Secret => format!(
            "write {}, e.g. {example}: a reference to Secret Manager, never the value",
            kind.words()
        ),
        _ => format!("write {}, e.g. {example}", kind.words()),
    }
}

/// serde's name for the value it found, in the spec's words.
fn found_words(found: &str) -> String {
    let found = found.trim();
    for (theirs, ours) in [
        ("string ", "text "),
        ("integer ", ""),
        ("floating point ", ""),
        ("boolean ", ""),
    ] {
        if let Some(value) = found.strip_prefix(theirs) {
            return format!("{ours}{value}");
        }
    }
    match found {
        "sequence" => "a list".into(),
        "map" => "a table".into(),
        other => other.into(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn explain(message: &str, text: &str) -> Diagnostic {
        let at = text.find('=').map_or(0, |i| i + 2);
        diagnose(message, at..text.len(), text)
    }

    #[test]
    fn found_values_are_named_as_written() {
        assert_eq!(found_words("string \"10\""), "text \"10\"");
        assert_eq!(found_words("integer `1`"), "`1`");
        assert_eq!(found_words("floating point `1.5`"), "`1.5`");
        assert_eq!(found_words("sequence"), "a list");
        assert_eq!(found_words("map"), "a table");
    }

    #[test]
    fn a_wrong_type_says_what_the_key_takes() {
        let d = explain(
            "invalid type: string \"10\", expected i64",
            "[container]\nport = \"10\"",
        );
        assert_eq!(d.key, "container.port");
        assert_eq!(d.message, "expected a whole number, found text \"10\"");
        assert_eq!(
            d.help.as_deref(),
            Some("write a whole number, e.g. `port = 10`")
        );
    }

    #[test]
    fn an_item_of_the_wrong_type_is_shown_alone() {
        let d = explain(
            "invalid type: integer `1`, expected a string",
            "[model]\nfeatures = [1]",
        );
        assert_eq!(
            d.help.as_deref(),
            Some("write text in quotes, e.g. `\"…\"`")
        );
    }

    #[test]
    fn an_enum_of_the_wrong_type_lists_its_values() {
        let d = explain("wanted string or table", "[access]\ningress = 1");
        assert_eq!(d.message, "expected one of the allowed names, in quotes");
        let help = d.help.unwrap();
        assert!(
            help.contains("`internal-and-cloud-load-balancing`"),
            "{help}"
        );
    }

    #[test]
    fn unknown_keys_list_the_valid_ones_once() {
        let d = explain(
            "unknown field `regoin`, expected one of `name`, `region`",
            "[service]\nregoin = \"x\"",
        );
        assert_eq!(d.message, "unknown key `regoin`");
        assert_eq!(
            d.help.as_deref(),
            Some("did you mean `region`? valid here: `name`, `region`")
        );
    }

    #[test]
    fn key_paths_follow_tables() {
        assert_eq!(key_path_at("[a]\nb = 1\n", 4), "a.b");
        assert_eq!(key_path_at("b = 1\n", 0), "b");
        assert_eq!(key_path_at("[a]\n[c]\n", 4), "c");
    }
}
