//! The id and format rules of GCP resources and of the values a spec holds, and
//! suggestions that satisfy them.

pub fn is_service_name(s: &str) -> bool {
    dns_like(s, 1, 49)
}

pub fn is_project_id(s: &str) -> bool {
    dns_like(s, 6, 30)
}

pub fn is_account_id(s: &str) -> bool {
    dns_like(s, 6, 30)
}

pub fn is_repository_id(s: &str) -> bool {
    // No authoritative regex is published; this is the conservative form.
    dns_like(s, 1, 63)
}

/// Lowercase letter first, then lowercase letters, digits and hyphens, no trailing hyphen.
fn dns_like(s: &str, min: usize, max: usize) -> bool {
    let b = s.as_bytes();
    (min..=max).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

pub fn is_label(s: &str, key: bool) -> bool {
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if key {
        !s.is_empty() && s.len() <= 63 && s.as_bytes()[0].is_ascii_lowercase() && ok_chars
    } else {
        s.len() <= 63 && ok_chars
    }
}

pub fn is_bucket(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=63).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_.".contains(c))
        && !s.starts_with("goog")
}

/// A relative path that stays inside its root and is safe in every target unquoted.
pub fn is_safe_path(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        && s.split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

pub fn is_tag(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

pub fn is_image_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.split(['.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

pub fn is_feature_char(c: char) -> bool {
    c.is_alphanumeric() || "_-. ".contains(c)
}

pub fn is_env_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && !b[0].is_ascii_digit()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

pub fn is_secret_id(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
                && is_domain(domain)
        }
        None => false,
    }
}

pub fn is_domain(s: &str) -> bool {
    s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

pub fn is_pinned_requirement(s: &str) -> bool {
    let Some((name, version)) = s.split_once("==") else {
        return false;
    };
    let name = match name.split_once('[') {
        Some((n, extras)) => {
            if !extras.ends_with(']')
                || !extras[..extras.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.,".contains(c))
            {
                return false;
            }
            n
        }
        None => name,
    };
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !version.is_empty()
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+!-".contains(c))
}

/// `s` made into a valid Cloud Run service name.
pub fn service_name_like(s: &str) -> String {
    dns_fix(s, 1, 49, "svc-")
}

/// `s` made into a valid service account id: a short id is lengthened with `-runtime`,
/// which says what the account is for.
pub fn account_id_like(s: &str) -> String {
    dns_fix(s, 6, 30, "-runtime")
}

/// Lowercases `s`, turns runs of other characters into one hyphen, puts a letter first
/// and keeps at most `max` characters; appends `pad` if that leaves fewer than `min`.
fn dns_fix(s: &str, min: usize, max: usize, pad: &str) -> String {
    let mut out = String::new();
    for c in s.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert_str(0, "svc-");
    }
    out.truncate(max);
    let mut out = out.trim_end_matches('-').to_string();
    if out.len() < min {
        out.push_str(pad);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_account_ids_get_one_suffix() {
        assert_eq!(account_id_like("rt"), "rt-runtime");
        assert_eq!(account_id_like("Iris_Runtime"), "iris-runtime");
        assert_eq!(account_id_like("iris-runtime-"), "iris-runtime");
        assert_eq!(account_id_like(&"a".repeat(31)), "a".repeat(30));
    }

    #[test]
    fn service_names_start_with_a_letter() {
        assert_eq!(service_name_like("Iris Classifier"), "iris-classifier");
        assert_eq!(service_name_like("1iris"), "svc-1iris");
        assert_eq!(service_name_like("---"), "svc");
    }

    #[test]
    fn dns_like_ids() {
        assert!(is_account_id("iris-runtime"));
        for bad in ["iris", "Iris-runtime", "iris-runtime-", "1iris-runtime", ""] {
            assert!(!is_account_id(bad), "{bad}");
        }
        assert!(is_service_name("a"));
        assert!(!is_service_name(&"a".repeat(50)));
    }

    #[test]
    fn buckets_paths_and_requirements() {
        assert!(is_bucket("acme-models"));
        assert!(!is_bucket("goog-models") && !is_bucket("Acme") && !is_bucket("ab"));
        assert!(is_safe_path("models/iris.joblib"));
        assert!(!is_safe_path("../iris.joblib") && !is_safe_path("/iris") && !is_safe_path("a//b"));
        assert!(is_pinned_requirement("uvicorn[standard]==0.30.0"));
        assert!(!is_pinned_requirement("uvicorn>=0.30") && !is_pinned_requirement("a b==1"));
    }

    proptest! {
        #[test]
        fn suggestions_pass_the_rule_they_fix(s in ".{0,80}") {
            let account = account_id_like(&s);
            prop_assert!(is_account_id(&account), "{s:?} -> {account:?}");
            let service = service_name_like(&s);
            prop_assert!(is_service_name(&service), "{s:?} -> {service:?}");
        }
    }
}
