//! `[environments.<name>]`: one spec, several deployments. Each environment's tables mirror
//! the spec's own and override the keys that differ.
//!
//! The merge happens on the parsed TOML document, before the types read it, so every value
//! keeps the span of the line that set it: an environment's bad value is reported at its
//! own line, and a value it does not override at the spec's.

use std::collections::BTreeMap;
use std::ops::Range;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::{AccessSpec, ResourcesSpec, ScalingSpec, SecretRef};
use crate::diagnostics::Diagnostic;

/// The table that holds the environments.
pub const TABLE: &str = "environments";

/// The key an environment sets for itself rather than for the spec's tables.
const APPROVAL: &str = "approval";

/// What an environment may override: a whole table (each of its keys), or one key of a table.
pub const VARIES: [&str; 9] = [
    "service.project",
    "service.region",
    "service.labels",
    "image.repository",
    "resources",
    "scaling",
    "access",
    "env",
    "secrets",
];

/// Names are folder names, GitHub environments and parts of resource names.
const NAME_MAX: usize = 30;

/// One environment as the spec names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Environment {
    pub name: String,
    /// A person approves before the deploy pipeline deploys here.
    pub approval: bool,
    /// The name's span, in `[environments.NAME]`.
    pub span: Range<usize>,
}

/// `[environments.<name>]` as the schema describes it; the spec's own types check the
/// values once they are merged.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct EnvironmentSpec {
    /// A person approves before the deploy pipeline deploys to this environment.
    #[serde(default)]
    approval: bool,
    /// The service's project, region and labels in this environment.
    service: Option<ServiceOverride>,
    /// The repository the image is pushed to; only the first environment builds.
    image: Option<ImageOverride>,
    /// CPU, memory and GPU here.
    resources: Option<ResourcesSpec>,
    /// Instance counts, concurrency and timeout here.
    scaling: Option<ScalingSpec>,
    /// Callers, deployers and ingress here.
    access: Option<AccessSpec>,
    /// Plain environment variables added or changed here.
    env: Option<BTreeMap<String, String>>,
    /// Secret references added or changed here.
    secrets: Option<BTreeMap<String, SecretRef>>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ServiceOverride {
    /// GCP project id of this environment.
    project: Option<String>,
    /// Cloud Run region of this environment.
    region: Option<String>,
    /// GCP labels added or changed in this environment.
    labels: Option<BTreeMap<String, String>>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ImageOverride {
    /// Artifact Registry repository id.
    repository: Option<String>,
}

/// One environment's table, taken out of the document.
pub struct Overrides<'i> {
    pub environment: Environment,
    table: DeTable<'i>,
}

/// Takes `[environments]` out of `root`: the environments in the order written, each
/// checked to override only what may vary. None when the spec has no such table.
pub fn split<'i>(root: &mut DeTable<'i>) -> Result<Vec<Overrides<'i>>, Vec<Diagnostic>> {
    let Some((key, value)) = root.remove_entry(TABLE) else {
        return Ok(Vec::new());
    };
    let span = value.span();
    let DeValue::Table(table) = value.into_inner() else {
        return Err(vec![
            Diagnostic::new(
                TABLE,
                span,
                "`environments` must be a table of environments",
            )
            .label("not a table")
            .help(EXAMPLE),
        ]);
    };
    let mut envs: Vec<_> = table.into_iter().collect();
    envs.sort_by_key(|(k, _)| k.span().start);
    if envs.is_empty() {
        let d = Diagnostic::new(TABLE, key.span(), "`[environments]` names no environment")
            .label("empty")
            .help(EXAMPLE);
        return Err(vec![d]);
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (name, value) in envs {
        match overrides(name, value) {
            Ok(o) => out.push(o),
            Err(mut d) => errors.append(&mut d),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

const EXAMPLE: &str = "e.g. `[environments.prod.service]` with `project = \"acme-prod\"`, \
                       and `approval = true` under `[environments.prod]`";

fn overrides<'i>(
    name: Spanned<DeString<'i>>,
    value: Spanned<DeValue<'i>>,
) -> Result<Overrides<'i>, Vec<Diagnostic>> {
    let span = name.span();
    let name = name.into_inner().into_owned();
    let key = format!("{TABLE}.{name}");
    let mut errors = Vec::new();
    if !valid_name(&name) {
        errors.push(
            Diagnostic::new(
                &key,
                span.clone(),
                format!("`{name}` is not a usable environment name"),
            )
            .label("names a folder, a GitHub environment and resources")
            .help(format!(
                "start with a lowercase letter; then lowercase letters, digits and hyphens, \
                     up to {NAME_MAX} characters, e.g. `staging`"
            )),
        );
    }
    let value_span = value.span();
    let DeValue::Table(mut table) = value.into_inner() else {
        errors.push(
            Diagnostic::new(&key, value_span, "an environment is a table of overrides")
                .label("not a table")
                .help(EXAMPLE),
        );
        return Err(errors);
    };
    let approval = match table.remove_entry(APPROVAL) {
        None => false,
        Some((_, v)) => match v.get_ref() {
            DeValue::Boolean(b) => *b,
            _ => {
                errors.push(
                    Diagnostic::new(format!("{key}.{APPROVAL}"), v.span(), "expected true or false")
                        .label("here")
                        .help("`approval = true` holds deploys to this environment for a person's approval"),
                );
                false
            }
        },
    };
    check_varies(&key, "", &table, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let environment = Environment {
        name,
        approval,
        span,
    };
    Ok(Overrides { environment, table })
}

fn valid_name(name: &str) -> bool {
    name.len() <= NAME_MAX
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

/// Reports every key of `table` (at dotted `path` inside the spec) that may not vary.
fn check_varies(env: &str, path: &str, table: &DeTable, errors: &mut Vec<Diagnostic>) {
    for (k, v) in table {
        let full = if path.is_empty() {
            k.get_ref().to_string()
        } else {
            format!("{path}.{k}", k = k.get_ref())
        };
        if VARIES.contains(&full.as_str()) {
            continue;
        }
        let inside = VARIES.iter().any(|p| p.starts_with(&format!("{full}.")));
        match v.get_ref() {
            DeValue::Table(sub) if inside => check_varies(env, &full, sub, errors),
            _ => errors.push(cannot_vary(env, &full, k.span())),
        }
    }
}

fn cannot_vary(env: &str, key: &str, span: Range<usize>) -> Diagnostic {
    let can: Vec<&str> = std::iter::once(APPROVAL).chain(VARIES).collect();
    let (message, label, help) = if super::shape::at(key).is_some() {
        (
            format!("`{key}` cannot vary between environments"),
            "the same in every environment",
            "set it in the spec's own table; an environment may set",
        )
    } else {
        (
            format!("unknown key `{key}`"),
            "not a key of the spec",
            "an environment may set",
        )
    };
    Diagnostic::new(format!("{env}.{key}"), span, message)
        .label(label)
        .help(format!("{help} {}", quoted(&can)))
}

/// Names in backticks, comma separated.
pub fn quoted(names: &[&str]) -> String {
    super::shape::quoted(names)
}

/// `root` with the environment's values in place of the spec's: tables merge key by key,
/// any other value replaces the one it overrides (its span with it).
pub fn merge<'i>(mut root: DeTable<'i>, overrides: &Overrides<'i>) -> DeTable<'i> {
    merge_into(&mut root, overrides.table.clone());
    root
}

fn merge_into<'i>(base: &mut DeTable<'i>, over: DeTable<'i>) {
    for (k, v) in over {
        let both_tables = matches!(v.get_ref(), DeValue::Table(_))
            && matches!(
                base.get(k.get_ref().as_ref()).map(Spanned::get_ref),
                Some(DeValue::Table(_))
            );
        if both_tables {
            let Some(DeValue::Table(b)) = base.get_mut(k.get_ref().as_ref()).map(Spanned::get_mut)
            else {
                unreachable!("checked above")
            };
            let DeValue::Table(o) = v.into_inner() else {
                unreachable!("checked above")
            };
            merge_into(b, o);
        } else {
            // Removed first, so the key keeps the override's span too.
            base.remove(k.get_ref().as_ref());
            base.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> DeTable<'_> {
        DeTable::parse(text).unwrap().into_inner()
    }

    #[test]
    fn environments_come_out_in_the_order_written() {
        let text = "[environments.zeta]\n[environments.alpha]\napproval = true\n";
        let mut root = doc(text);
        let envs = split(&mut root).unwrap();
        let names: Vec<_> = envs.iter().map(|o| o.environment.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
        assert!(!envs[0].environment.approval && envs[1].environment.approval);
        assert!(root.is_empty());
    }

    #[test]
    fn a_key_that_cannot_vary_is_reported_at_its_line() {
        let text = "[environments.prod.service]\nproject = \"p\"\nname = \"other\"\n\
                    [environments.prod.model]\nframework = \"onnx\"\n";
        let errors = split(&mut doc(text)).err().unwrap();
        let keys: Vec<_> = errors
            .iter()
            .map(|d| (d.key.as_str(), &text[d.span.clone()]))
            .collect();
        assert_eq!(
            keys,
            [
                ("environments.prod.model", "model"),
                ("environments.prod.service.name", "name"),
            ]
        );
        assert!(errors[1].message.contains("`service.name` cannot vary"));
        assert!(
            errors[1]
                .help
                .as_ref()
                .unwrap()
                .contains("`service.project`")
        );
        let typo = "[environments.prod.service]\nprojct = \"p\"\n";
        let errors = split(&mut doc(typo)).err().unwrap();
        assert_eq!(errors[0].message, "unknown key `service.projct`");
    }

    #[test]
    fn names_and_approval_are_checked() {
        let text = "[environments.Prod]\napproval = \"yes\"\n";
        let errors = split(&mut doc(text)).err().unwrap();
        assert_eq!(errors.len(), 2);
        assert_eq!(&text[errors[0].span.clone()], "Prod");
        assert_eq!(&text[errors[1].span.clone()], "\"yes\"");
        assert!(split(&mut doc("environments = 1\n")).is_err());
        assert!(valid_name("prod-eu1") && !valid_name("1st") && !valid_name("a-"));
    }

    #[test]
    fn tables_merge_key_by_key_and_values_keep_the_overriding_span() {
        let text = "[scaling]\nmin_instances = 0\nmax_instances = 4\n[env]\nA = \"1\"\n\
                    [environments.prod.scaling]\nmin_instances = 2\n[environments.prod.env]\nB = \"2\"\n";
        let mut root = doc(text);
        let envs = split(&mut root).unwrap();
        let merged = merge(root, &envs[0]);
        let scaling = match merged["scaling"].get_ref() {
            DeValue::Table(t) => t,
            _ => panic!(),
        };
        let min = &scaling["min_instances"];
        assert_eq!(&text[min.span()], "2");
        assert!(text[..min.span().start].contains("[environments.prod.scaling]"));
        assert!(scaling.contains_key("max_instances"));
        let DeValue::Table(env) = merged["env"].get_ref() else {
            panic!()
        };
        assert_eq!(env.len(), 2);
    }
}
