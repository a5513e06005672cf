//! The `[service_account]` table: the identity the service runs as; and the identity the
//! image build runs as.

use serde::{Deserialize, Serialize};

use super::Service;
use crate::spec::ServiceAccountSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub display_name: String,
    pub email: String,
    /// `serviceAccount:EMAIL`.
    pub member: String,
}

impl Account {
    /// The account `account_id` of `project`: its email and member follow from them.
    fn new(account_id: String, display_name: String, project: &str) -> Account {
        let email = format!("{account_id}@{project}.iam.gserviceaccount.com");
        Account {
            account_id,
            display_name,
            member: format!("serviceAccount:{email}"),
            email,
        }
    }
}

pub(super) fn resolve(spec: &ServiceAccountSpec, service: &Service) -> Account {
    let display_name = spec.display_name.as_ref().map_or_else(
        || format!("{} runtime", service.name),
        |d| d.get_ref().clone(),
    );
    Account::new(
        spec.account_id.get_ref().clone(),
        display_name,
        &service.project,
    )
}

/// An account mlgen names after the service, `SERVICE-SUFFIX` (the service name cut so the
/// id stays within IAM's 30 characters).
pub(super) fn named_after(service: &Service, suffix: &str, display_name: String) -> Account {
    Account::new(
        id_after(&service.name, suffix),
        display_name,
        &service.project,
    )
}

fn id_after(service_name: &str, suffix: &str) -> String {
    let stem: String = service_name.chars().take(30 - suffix.len()).collect();
    // IAM's account id: 6-30 of `[a-z0-9-]`, starting with a letter, not ending with `-`.
    format!("{}{suffix}", stem.trim_end_matches('-'))
}

/// The account a build here runs as, `SERVICE-build`: Cloud Build runs as it instead of
/// the project's default build identity, holding only what the build needs
/// ([`super::iam`]).
pub(super) fn build(service: &Service) -> Account {
    named_after(
        service,
        BUILD_SUFFIX,
        format!("{} image build", service.name),
    )
}

/// The ids of the accounts mlgen names after the service `service_name`, with what each
/// is for: the build's (unless the image is built elsewhere) and the deploy pipeline's
/// (with `[ci]`). Validation refuses a runtime account of one of these ids.
pub fn named_ids(service_name: &str, builds: bool, pipeline: bool) -> Vec<(String, &'static str)> {
    [
        (builds, BUILD_SUFFIX, "the image build"),
        (pipeline, DEPLOY_SUFFIX, "the deploy pipeline"),
    ]
    .into_iter()
    .filter(|(wanted, ..)| *wanted)
    .map(|(_, suffix, what)| (id_after(service_name, suffix), what))
    .collect()
}

const BUILD_SUFFIX: &str = "-build";
pub(super) const DEPLOY_SUFFIX: &str = "-deploy";

#[cfg(test)]
mod tests {
    use super::super::fixture::spec;
    use super::super::service;
    use super::*;

    #[test]
    fn email_and_member_come_from_the_id_and_project() {
        let s = spec("");
        let a = resolve(&s.service_account, &service::resolve(&s));
        assert_eq!(a.email, "svc-runtime@proj-123.iam.gserviceaccount.com");
        assert_eq!(a.member, format!("serviceAccount:{}", a.email));
        assert_eq!(a.display_name, "svc runtime");
    }

    #[test]
    fn the_build_account_id_stays_within_iam_limits() {
        let s = spec("");
        let mut svc = service::resolve(&s);
        let a = build(&svc);
        assert_eq!(a.email, "svc-build@proj-123.iam.gserviceaccount.com");
        assert_eq!(a.member, format!("serviceAccount:{}", a.email));
        svc.name = format!("{}-x", "a".repeat(23));
        let id = build(&svc).account_id;
        assert_eq!(id, format!("{}-build", "a".repeat(23)));
        assert!(id.len() <= 30);
    }
}
