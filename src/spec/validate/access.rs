//! `[access]`: who may call and deploy the service.

use std::collections::BTreeSet;

use super::Checker;
use super::ids::{is_domain, is_email};
use crate::diagnostics::suggest;
use crate::spec::{AccessSpec, Ingress};

pub(super) fn check(c: &mut Checker, a: &AccessSpec) {
    for (key, list) in [
        ("access.invokers", &a.invokers),
        ("access.deployers", &a.deployers),
    ] {
        let mut seen = BTreeSet::new();
        for m in list {
            if let Err(help) = check_member(m.get_ref()) {
                c.err(
                    key,
                    m.span(),
                    format!("`{}` is not a valid IAM member", m.get_ref()),
                    help,
                );
            } else if !seen.insert(m.get_ref().as_str()) {
                c.err(
                    key,
                    m.span(),
                    format!("`{}` is listed twice", m.get_ref()),
                    "list each member once",
                );
            }
        }
    }
    if a.public && !a.invokers.is_empty() {
        c.err(
            "access.invokers",
            a.invokers[0].span(),
            "invokers have no effect on a public service".into(),
            "`public = true` turns the invoker check off; remove `invokers`, or set `public = false`",
        );
    }
    warn_unreachable_people(c, a);
}

/// People call from their own machines, outside Google Cloud, which an internal-only
/// service does not accept requests from.
fn warn_unreachable_people(c: &mut Checker, a: &AccessSpec) {
    let through = match a.ingress {
        Ingress::All => return,
        Ingress::Internal => "a VPC network of the project (or Shared VPC)",
        Ingress::InternalAndCloudLoadBalancing => {
            "a VPC network of the project or a Cloud Load Balancer in front of the service"
        }
    };
    for m in &a.invokers {
        let kind = m.get_ref().split_once(':').map_or("", |(kind, _)| kind);
        if matches!(kind, "user" | "group" | "domain") {
            c.warn(
                "access.invokers",
                m.span(),
                format!(
                    "`{}` is a person or group of people, but the service only takes requests from inside Google Cloud",
                    m.get_ref()
                ),
                format!(
                    "requests from a laptop or the internet never reach it; they must come through {through}, which mlgen does not create. Set `ingress = \"all\"` for people to call it directly (the invoker check still applies), or invite only service accounts"
                ),
            );
        }
    }
}

/// Checks IAM member syntax; returns what would be valid on error.
fn check_member(m: &str) -> Result<(), String> {
    const KINDS: [&str; 5] = ["user", "group", "serviceAccount", "domain", "principal"];
    if m == "allUsers" || m == "allAuthenticatedUsers" {
        return Err(
            "mlgen never grants access to everyone; for a public service set `public = true`, which turns the invoker check off".into(),
        );
    }
    if m.starts_with("principal://") || m.starts_with("principalSet://") {
        return if m.chars().all(|c| c.is_ascii_graphic()) {
            Ok(())
        } else {
            Err("a principal URI has no spaces or control characters".into())
        };
    }
    let Some((kind, id)) = m.split_once(':') else {
        return Err(format!(
            "write TYPE:ID, e.g. `group:ml-clients@example.com`; types: {}",
            KINDS[..4].join(", ")
        ));
    };
    let ok = match kind {
        "user" | "group" | "serviceAccount" => is_email(id),
        "domain" => is_domain(id),
        _ => {
            let hint = suggest(kind, KINDS[..4].iter().copied())
                .map(|s| format!("did you mean `{s}:`? "))
                .unwrap_or_default();
            return Err(format!(
                "{hint}member types are {}, principal:// and principalSet://",
                KINDS[..4].join(", ")
            ));
        }
    };
    if !ok {
        return Err(if kind == "domain" {
            "a domain member looks like `domain:example.com`".into()
        } else {
            format!("`{kind}:` needs an email address, e.g. `{kind}:name@example.com`")
        });
    }
    if kind == "serviceAccount" && !id.ends_with(".gserviceaccount.com") {
        return Err(
            "service account emails end in `.gserviceaccount.com` (ID@PROJECT.iam.gserviceaccount.com)".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_have_a_type_and_an_id() {
        assert!(check_member("group:ml@example.com").is_ok());
        assert!(check_member("domain:example.com").is_ok());
        assert!(check_member("principal://iam.googleapis.com/x").is_ok());
        assert!(
            check_member("allUsers")
                .unwrap_err()
                .contains("public = true")
        );
        assert!(
            check_member("ml@example.com")
                .unwrap_err()
                .contains("TYPE:ID")
        );
        assert!(
            check_member("gruop:ml@example.com")
                .unwrap_err()
                .contains("`group:`")
        );
        assert!(
            check_member("serviceAccount:ci@example.com")
                .unwrap_err()
                .contains(".gserviceaccount.com")
        );
    }

    #[test]
    fn people_invited_to_an_internal_service_are_warned() {
        let edits =
            |ingress: &str| super::super::testing::edited(&[("ingress = \"all\"", ingress)]).access;
        let warned = |a: &AccessSpec| {
            let mut c = Checker::default();
            check(&mut c, a);
            assert!(c.out.is_empty(), "{:?}", c.out);
            c.warnings
                .into_iter()
                .map(|d| d.message)
                .collect::<Vec<_>>()
        };
        assert!(warned(&edits("ingress = \"all\"")).is_empty());
        for ingress in ["internal", "internal-and-cloud-load-balancing"] {
            let w = warned(&edits(&format!("ingress = \"{ingress}\"")));
            let [only] = &w[..] else { panic!("{w:?}") };
            assert!(only.contains("`group:ml-clients@acme.example`"), "{only}");
        }
    }
}
