//! `[service_account]`: the runtime identity's id and display name.

use super::Checker;
use super::ids::{account_id_like, is_account_id};
use crate::spec::{ServiceAccountSpec, Spec};

pub(super) fn check(c: &mut Checker, a: &ServiceAccountSpec) {
    let id = &a.account_id;
    if !is_account_id(id.get_ref()) {
        c.err(
            "service_account.account_id",
            id.span(),
            format!("`{}` is not a valid service account id", id.get_ref()),
            format!(
                "use 6-30 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen, e.g. `{}`",
                account_id_like(id.get_ref())
            ),
        );
    }
    if let Some(d) = &a.display_name {
        c.free_text("service_account.display_name", d, 100);
        if d.get_ref().contains('\n') {
            c.err(
                "service_account.display_name",
                d.span(),
                "a display name is one line".into(),
                "remove the line break",
            );
        }
    }
}

/// The runtime account's id must differ from the accounts mlgen names after the service
/// (`SERVICE-build`, `SERVICE-deploy`): a deploy would create one account and grant it both
/// roles.
pub(super) fn check_distinct_from_named(c: &mut Checker, spec: &Spec) {
    let id = &spec.service_account.account_id;
    let service = spec.service.name.get_ref();
    let named = crate::model::named_ids(service, spec.image.url.is_none(), spec.ci.is_some());
    if let Some((named, what)) = named.into_iter().find(|(n, _)| n == id.get_ref()) {
        c.err(
            "service_account.account_id",
            id.span(),
            format!("`{named}` is the id of the account {what} runs as"),
            format!(
                "use another id for the runtime account, e.g. `{}`",
                account_id_like(&format!("{service}-runtime"))
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{run, spec};
    use super::*;

    #[test]
    fn ids_and_display_names() {
        let fine = spec("iris-runtime", "iris-runtime").service_account;
        assert!(run(|c| check(c, &fine)).is_empty());
        let short = spec("\"iris-runtime\"", "\"rt\"").service_account;
        let ds = run(|c| check(c, &short));
        assert!(
            ds[0]
                .help
                .as_deref()
                .unwrap()
                .ends_with("e.g. `rt-runtime`")
        );
        let two_lines = spec("\"Iris model runtime\"", "\"a\\nb\"").service_account;
        assert_eq!(
            run(|c| check(c, &two_lines))[0].message,
            "a display name is one line"
        );
    }
}
