//! `[env]` and `[secrets]`: environment variables, and keeping credentials out of plain text.

use super::Checker;
use super::ids::{is_env_name, is_secret_id};
use crate::platform::platform;
use crate::spec::Spec;

pub(super) fn check(c: &mut Checker, spec: &Spec) {
    let total = spec.env.len() + spec.secrets.len();
    if total > 1000 {
        c.err(
            "env",
            0..0,
            format!("{total} environment variables is too many"),
            "Cloud Run allows at most 1000 per container",
        );
    }
    let names = spec
        .env
        .keys()
        .map(|k| ("env", k))
        .chain(spec.secrets.keys().map(|k| ("secrets", k)));
    for (table, k) in names {
        check_name(c, &format!("{table}.{}", k.get_ref()), k);
    }
    check_plain(c, spec);
    check_secrets(c, spec);
}

fn check_name(c: &mut Checker, key: &str, k: &toml::Spanned<String>) {
    let p = platform();
    let name = k.get_ref().as_str();
    if !is_env_name(name) {
        c.err(
            key,
            k.span(),
            format!("`{name}` is not a usable environment variable name"),
            "use letters, digits and `_`, not starting with a digit",
        );
    } else if p.reserved_env.iter().any(|r| r == name)
        || p.reserved_env_prefixes.iter().any(|r| name.starts_with(r))
    {
        c.err(
            key,
            k.span(),
            format!("`{name}` is reserved"),
            format!(
                "Cloud Run or the generated app sets it; reserved: {}, and names starting with {}",
                p.reserved_env.join(", "),
                p.reserved_env_prefixes.join(", ")
            ),
        );
    }
}

fn check_plain(c: &mut Checker, spec: &Spec) {
    for (k, v) in &spec.env {
        let name = k.get_ref();
        let key = format!("env.{name}");
        if spec.secrets.keys().any(|s| s.get_ref() == name) {
            c.err(
                &key,
                k.span(),
                format!("`{name}` is set in both [env] and [secrets]"),
                "keep one of them",
            );
        }
        if looks_like_credential(name) {
            c.err(
                &key,
                k.span(),
                format!("`{name}` looks like a credential in plain text"),
                format!(
                    "store it in Secret Manager and reference it: [secrets] {name} = {{ secret = \"...\", version = \"1\" }}"
                ),
            );
        }
        c.free_text(&key, v, 32 * 1024);
    }
}

fn check_secrets(c: &mut Checker, spec: &Spec) {
    for (k, v) in &spec.secrets {
        let key = format!("secrets.{}", k.get_ref());
        let s = v.get_ref();
        if !is_secret_id(&s.secret) {
            c.err(
                &key,
                v.span(),
                format!("`{}` is not a valid Secret Manager secret id", s.secret),
                "use 1-255 letters, digits, `_` and `-`",
            );
        }
        if s.version == "latest" {
            c.err(
                &key,
                v.span(),
                "secret version `latest` is not pinned".into(),
                "env secrets are read when an instance starts; pin a version number such as `version = \"3\"` so every instance sees the same value",
            );
        } else if s.version.is_empty()
            || !s.version.chars().all(|ch| ch.is_ascii_digit())
            || s.version.starts_with('0')
        {
            c.err(
                &key,
                v.span(),
                format!("`{}` is not a secret version", s.version),
                "use a version number such as `version = \"3\"`",
            );
        }
    }
}

fn looks_like_credential(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.ends_with("_TOKEN")
        || n.ends_with("_KEY")
        || n == "TOKEN"
        || n.contains("PASSWORD")
        || n.contains("PASSWD")
        || n.contains("SECRET")
        || n.ends_with("CREDENTIALS")
}
