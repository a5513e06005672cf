//! The `[service]` table, with the `[access]` settings that belong to the service itself:
//! who may reach it (ingress) and whether callers are checked at all.

use serde::{Deserialize, Serialize};

use crate::spec::{Ingress, Spec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub project: String,
    pub region: String,
    pub description: Option<String>,
    pub labels: Vec<Label>,
    pub deletion_protection: bool,
    /// gcloud spelling: `all`, `internal`, `internal-and-cloud-load-balancing`.
    pub ingress: String,
    /// API spelling: `INGRESS_TRAFFIC_ALL`, ...
    pub ingress_api: String,
    /// `true` turns the invoker IAM check off (never `allUsers`).
    pub invoker_iam_disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub key: String,
    pub value: String,
}

pub(super) fn resolve(spec: &Spec) -> Service {
    let s = &spec.service;
    let (ingress, ingress_api) = ingress(spec.access.ingress);
    Service {
        name: s.name.get_ref().clone(),
        project: s.project.get_ref().clone(),
        region: s.region.get_ref().clone(),
        description: s.description.as_ref().map(|d| d.get_ref().clone()),
        labels: s
            .labels
            .iter()
            .map(|(k, v)| Label {
                key: k.get_ref().clone(),
                value: v.get_ref().clone(),
            })
            .collect(),
        deletion_protection: s.deletion_protection,
        ingress: ingress.to_string(),
        ingress_api: ingress_api.to_string(),
        // A public service skips the check instead of granting `allUsers` the invoker role.
        invoker_iam_disabled: spec.access.public,
    }
}

/// The setting as gcloud spells it and as the API (Terraform, Pulumi) spells it.
fn ingress(i: Ingress) -> (&'static str, &'static str) {
    match i {
        Ingress::All => ("all", "INGRESS_TRAFFIC_ALL"),
        Ingress::Internal => ("internal", "INGRESS_TRAFFIC_INTERNAL_ONLY"),
        Ingress::InternalAndCloudLoadBalancing => (
            "internal-and-cloud-load-balancing",
            "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::spec;
    use super::*;

    #[test]
    fn labels_are_sorted_and_ingress_has_both_spellings() {
        let s = resolve(&spec(
            "[access]\ningress = \"internal\"\n[service.labels]\nb = \"2\"\na = \"1\"\n",
        ));
        let keys: Vec<_> = s.labels.iter().map(|l| l.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(s.ingress, "internal");
        assert_eq!(s.ingress_api, "INGRESS_TRAFFIC_INTERNAL_ONLY");
    }

    #[test]
    fn public_disables_the_invoker_check() {
        assert!(!resolve(&spec("")).invoker_iam_disabled);
        assert!(resolve(&spec("[access]\npublic = true\n")).invoker_iam_disabled);
    }
}
