//! `[env]` and `[secrets]`: environment variables, and keeping credentials out of plain text.

use super::Checker;
use super::ids::{is_env_name, is_secret_id};
use crate::platform::platform;
use crate::spec::Spec;

/// A service account key file: Cloud Run already runs the app as the runtime account.
const KEY_FILE_VARIABLE: &str = "GOOGLE_APPLICATION_CREDENTIALS";

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
    } else if name == KEY_FILE_VARIABLE {
        c.err(
            key,
            k.span(),
            "a service account key file is not needed on Cloud Run".into(),
            format!(
                "remove `{KEY_FILE_VARIABLE}`: the app runs as the runtime service account (`[service_account]`), and the roles granted to that account are what the app gets"
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
        let store = format!(
            "store it in Secret Manager and reference it: [secrets] {name} = {{ secret = \"...\", version = \"1\" }}"
        );
        if name != KEY_FILE_VARIABLE && names_a_credential(name) {
            let message = format!("`{name}` looks like a credential in plain text");
            c.err(&key, k.span(), message, store);
        } else if has_password(v.get_ref()) {
            let message = "the value holds a password in plain text".to_string();
            c.err(&key, v.span(), message, store);
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

/// Whether a variable's name says it holds a credential. Names are read word by word
/// (split at `_`), so `MAX_TOKENS` and `TOKENIZERS_PARALLELISM` are not tokens; a name
/// ending in `NAME`, `ID` or `VERSION` names a credential rather than holding one.
fn names_a_credential(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper.split('_').filter(|w| !w.is_empty()).collect();
    let Some(last) = words.last() else {
        return false;
    };
    if ["NAME", "ID", "VERSION"].contains(last) {
        return false;
    }
    let secret_word = |w: &&str| {
        w.ends_with("TOKEN")
            || ["PASS", "PWD", "PASSWD", "CREDENTIALS", "CREDENTIAL", "DSN"].contains(w)
            || ["PASSWORD", "PASSWD", "SECRET", "APIKEY", "PRIVATEKEY"]
                .iter()
                .any(|s| w.contains(s))
    };
    let key_pair = words.windows(2).any(|pair| {
        pair[1] == "KEY" && ["API", "PRIVATE", "ACCESS", "SIGNING", "ENCRYPTION"].contains(&pair[0])
    });
    *last == "KEY" || key_pair || words.iter().any(secret_word)
}

/// Whether a value is a URL with a password in it, e.g. `postgres://user:pw@host/db`.
fn has_password(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .and_then(|(user_info, _)| user_info.split_once(':'))
        .is_some_and(|(_, password)| !password.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names_are_recognised_word_by_word() {
        for name in [
            "API_TOKEN",
            "AUTH_TOKEN_VALUE",
            "GITHUBTOKEN",
            "OPENAI_APIKEY",
            "OPENAI_API_KEY",
            "STRIPE_KEY",
            "PRIVATE_KEY_PEM",
            "DB_PASS",
            "DB_PWD",
            "DB_PASSWD",
            "DB_PASSWORD",
            "CLIENT_SECRET",
            "SECRET",
            "SENTRY_DSN",
            "GCP_CREDENTIALS",
            "token",
        ] {
            assert!(names_a_credential(name), "{name} should be a credential");
        }
        for name in [
            "TOKENIZERS_PARALLELISM",
            "MAX_TOKENS",
            "PASSTHROUGH",
            "SECRET_NAME",
            "API_KEY_ID",
            "CACHE_KEY_PREFIX",
            "LOG_LEVEL",
            "_",
        ] {
            assert!(!names_a_credential(name), "{name} should pass");
        }
    }

    #[test]
    fn urls_with_a_password_are_recognised() {
        for v in [
            "postgres://u:p@h/db",
            "redis://:pw@cache:6379",
            "mysql://u:p@h?x=@y",
        ] {
            assert!(has_password(v), "{v}");
        }
        for v in [
            "postgres://h/db",
            "https://u@example.com",
            "https://example.com/a:b@c",
            "u:p@h",
        ] {
            assert!(!has_password(v), "{v}");
        }
    }
}
