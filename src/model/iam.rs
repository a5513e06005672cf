//! Every IAM grant of the deployment, from the `[access]`, `[secrets]` and `[model]` tables:
//! least privilege, each grant on the one resource that needs it.
//!
//! A grant says what it is on as an [`IamTarget`]; each renderer maps that to its own
//! resource type or command in one exhaustive `match`, so the targets cannot disagree on
//! which grants exist or whom they name.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Account, SecretEnv, Volume};
use crate::spec::AccessSpec;

/// What an IAM grant is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IamTarget {
    /// A Secret Manager secret (`resource` = secret id).
    Secret,
    /// A Cloud Storage bucket (`resource` = bucket name).
    Bucket,
    /// The runtime service account (`resource` = its email).
    ServiceAccount,
    /// The Cloud Run service (`resource` = service name).
    Service,
}

impl IamTarget {
    /// Every variant, for tests that check each renderer spells each one.
    pub const ALL: [IamTarget; 4] = [
        IamTarget::Secret,
        IamTarget::Bucket,
        IamTarget::ServiceAccount,
        IamTarget::Service,
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IamGrant {
    /// Identifier for the IaC resource: unique, `[a-z0-9_]`, stable across reorderings.
    pub key: String,
    pub target: IamTarget,
    pub resource: String,
    pub role: String,
    pub member: String,
    /// Must exist before the service is deployed (secret and bucket access).
    pub before_service: bool,
    /// The member is the runtime account this deployment creates, so IaC refers to the
    /// account's resource (and so creates it first) instead of repeating its email.
    pub member_is_runtime: bool,
}

/// The grants in creation order: what the runtime account reads, then deployers, then callers.
pub(super) fn grants(
    access: &AccessSpec,
    runtime: &Account,
    secrets: &[SecretEnv],
    volumes: &[Volume],
    service: &str,
) -> Vec<IamGrant> {
    let mut out = Grants {
        runtime,
        list: Vec::new(),
        keys: BTreeSet::new(),
    };
    let distinct_secrets: BTreeSet<&str> = secrets.iter().map(|s| s.secret.as_str()).collect();
    for secret in distinct_secrets {
        out.runtime_reads(IamTarget::Secret, secret);
    }
    for v in volumes {
        out.runtime_reads(IamTarget::Bucket, &v.bucket);
    }
    for d in &access.deployers {
        out.push(IamTarget::ServiceAccount, &runtime.email, d.get_ref());
    }
    for i in &access.invokers {
        out.push(IamTarget::Service, service, i.get_ref());
    }
    out.list
}

struct Grants<'a> {
    runtime: &'a Account,
    list: Vec<IamGrant>,
    keys: BTreeSet<String>,
}

impl Grants<'_> {
    /// Read access the service needs at startup: Cloud Run checks it when deploying.
    fn runtime_reads(&mut self, target: IamTarget, resource: &str) {
        let member = self.runtime.member.clone();
        self.push(target, resource, &member);
    }

    fn push(&mut self, target: IamTarget, resource: &str, member: &str) {
        let (prefix, role) = match target {
            IamTarget::Secret => ("secret_access", "roles/secretmanager.secretAccessor"),
            IamTarget::Bucket => ("model_read", "roles/storage.objectViewer"),
            IamTarget::ServiceAccount => ("deployer_act_as", "roles/iam.serviceAccountUser"),
            IamTarget::Service => ("invoker", "roles/run.invoker"),
        };
        // Secrets and buckets are named by their resource, the rest by their member.
        let subject = match target {
            IamTarget::Secret | IamTarget::Bucket => resource,
            IamTarget::ServiceAccount | IamTarget::Service => member_id(member),
        };
        self.list.push(IamGrant {
            key: unique_key(&mut self.keys, prefix, subject),
            target,
            resource: resource.to_string(),
            role: role.to_string(),
            member: member.to_string(),
            before_service: matches!(target, IamTarget::Secret | IamTarget::Bucket),
            member_is_runtime: member == self.runtime.member,
        });
    }
}

/// The member without its kind, and without the domain suffix of a service account: the
/// account's project says enough, the suffix only makes keys long.
fn member_id(member: &str) -> &str {
    let id = member.split_once(':').map_or(member, |(_, id)| id);
    id.strip_suffix(".iam.gserviceaccount.com")
        .or_else(|| id.strip_suffix(".gserviceaccount.com"))
        .unwrap_or(id)
}

/// `prefix_slug`, the slug naming the subject, so keys survive reordering of the spec's
/// lists; a numeric suffix separates subjects whose slugs collide.
fn unique_key(used: &mut BTreeSet<String>, prefix: &str, subject: &str) -> String {
    let base = format!("{prefix}_{}", ident(subject));
    let mut key = base.clone();
    let mut n = 2;
    while !used.insert(key.clone()) {
        key = format!("{base}_{n}");
        n += 1;
    }
    key
}

/// Lowercase `[a-z0-9_]`, collapsing runs of other characters to one `_`.
fn ident(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').chars().take(48).collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixture::deployment;
    use super::*;

    /// Fails to compile when a variant is added, and fails when `ALL` misses it.
    #[test]
    fn all_lists_every_target_once() {
        let index = |t: IamTarget| match t {
            IamTarget::Secret => 0,
            IamTarget::Bucket => 1,
            IamTarget::ServiceAccount => 2,
            IamTarget::Service => 3,
        };
        let got: Vec<usize> = IamTarget::ALL.into_iter().map(index).collect();
        assert_eq!(got, (0..IamTarget::ALL.len()).collect::<Vec<_>>());
    }

    #[test]
    fn each_kind_of_grant_gets_its_role_and_order() {
        let d = deployment(
            "[access]\ninvokers = [\"user:a@x.example\"]\ndeployers = [\"group:d@x.example\"]\n\
             [secrets]\nK = { secret = \"s\", version = \"1\" }\nL = { secret = \"s\", version = \"2\" }\n",
        );
        let got: Vec<_> = d
            .iam
            .iter()
            .map(|g| (g.key.as_str(), g.target, g.role.as_str(), g.before_service))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "secret_access_s",
                    IamTarget::Secret,
                    "roles/secretmanager.secretAccessor",
                    true
                ),
                (
                    "deployer_act_as_d_x_example",
                    IamTarget::ServiceAccount,
                    "roles/iam.serviceAccountUser",
                    false
                ),
                (
                    "invoker_a_x_example",
                    IamTarget::Service,
                    "roles/run.invoker",
                    false
                ),
            ]
        );
        assert!(d.iam[0].member_is_runtime && !d.iam[2].member_is_runtime);
        assert_eq!(d.iam[1].resource, d.runtime_account.email);
    }

    #[test]
    fn keys_name_the_subject_and_separate_collisions() {
        let mut used = BTreeSet::new();
        assert_eq!(unique_key(&mut used, "invoker", "a.b"), "invoker_a_b");
        assert_eq!(unique_key(&mut used, "invoker", "a-b"), "invoker_a_b_2");
        assert_eq!(
            member_id("serviceAccount:ci@p.iam.gserviceaccount.com"),
            "ci@p"
        );
        assert_eq!(ident("--A..b--"), "a_b");
    }
}
