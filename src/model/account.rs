//! The `[service_account]` table: the identity the service runs as.

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

pub(super) fn resolve(spec: &ServiceAccountSpec, service: &Service) -> Account {
    let account_id = spec.account_id.get_ref().clone();
    let email = format!("{account_id}@{}.iam.gserviceaccount.com", service.project);
    Account {
        display_name: spec.display_name.as_ref().map_or_else(
            || format!("{} runtime", service.name),
            |d| d.get_ref().clone(),
        ),
        member: format!("serviceAccount:{email}"),
        email,
        account_id,
    }
}

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
}
