//! `[rollout]`: how a deploy moves traffic to the revision it creates, decided once so that
//! Terraform, Pulumi and gcloud name the same revisions and send them the same shares.
//!
//! With a canary, every deploy creates a revision with a deterministic name, tagged
//! [`CANDIDATE_TAG`], beside the revision that served before it, tagged [`STABLE_TAG`]. The
//! candidate's percent is an input (a Terraform variable, a Pulumi config value, the
//! argument of `promote.sh`); the stable revision takes the rest, so rolling back is the
//! candidate at 0%.
//!
//! The stable revision is named by the caller (Terraform's `stable_revision`, Pulumi's
//! config of the same name, `STABLE_REVISION` for deploy.sh): each target prints the
//! revision it deployed, and only the caller knows whether that one was promoted. Reading it
//! back from the live service would make a plan depend on the last apply's traffic, so a
//! second plan would never be empty. Left empty, there is no revision before the candidate
//! (the first deploy) and the candidate is its own stable revision, serving everything.

use serde::{Deserialize, Serialize};

use super::{Account, Container, EnvVar, Probes, Scaling, SecretEnv, Service, Volume};
use crate::manifest::hash;
use crate::spec::{RolloutSpec, Strategy};

/// The tag whose URL reaches the newest revision before it takes traffic.
pub const CANDIDATE_TAG: &str = "candidate";
/// The tag of the revision that served before the candidate, which a rollback returns to.
pub const STABLE_TAG: &str = "stable";
/// Hex characters of the revision suffix. Revision names are DNS labels (63 characters);
/// a service name has at most 49, and `-` plus 12 keeps every name within the limit.
const SUFFIX_LEN: usize = 12;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// The candidate's percents in turn, increasing, the last 100.
    pub steps: Vec<u32>,
    /// What each percent a target accepts (0, rolled back or not yet promoted, then the
    /// steps) sends where.
    pub splits: Vec<Split>,
    pub candidate_tag: String,
    pub stable_tag: String,
    pub revision: RevisionName,
}

/// The traffic at one candidate percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub candidate: u32,
    pub stable: u32,
}

/// How every target names the revision a deploy creates: `PREFIX` then the first
/// `suffix_len` hex characters of SHA-256(`KEY` + `template_hash`).
///
/// `KEY` identifies the image before anything is built, so every target knows the name
/// when it plans: the content tag for an image built here (the hash of its inputs, which
/// each target computes alike and builds once), the image reference for one built
/// elsewhere. It is not the digest: Pulumi and Terraform learn that only after the build.
/// `template_hash` covers the rest of the revision: Cloud Run refuses to reuse a revision
/// name, so a change of settings alone (memory, an env var) needs a new name too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionName {
    /// `SERVICE-`: a revision's name starts with its service's (gcloud's
    /// `--revision-suffix` adds the dash itself).
    pub prefix: String,
    pub key: RevisionKey,
    pub template_hash: String,
    pub suffix_len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevisionKey {
    ContentTag,
    ImageUrl,
}

/// The revision template's settings besides the image, hashed into revision names.
pub(super) struct Template<'a> {
    pub container: &'a Container,
    pub scaling: &'a Scaling,
    pub env: &'a [EnvVar],
    pub secrets: &'a [SecretEnv],
    pub volumes: &'a [Volume],
    pub probes: &'a Probes,
    pub account: &'a Account,
}

/// None for `all-at-once`: Cloud Run's own behaviour, no names and no traffic blocks.
pub(super) fn resolve(
    spec: &RolloutSpec,
    service: &Service,
    built_here: bool,
    template: &Template,
) -> Option<Rollout> {
    if *spec.strategy.get_ref() == Strategy::AllAtOnce {
        return None;
    }
    let steps: Vec<u32> = spec
        .steps
        .get_ref()
        .iter()
        .map(|s| u32::try_from(*s.get_ref()).expect("validated"))
        .collect();
    let splits = std::iter::once(0)
        .chain(steps.iter().copied())
        .map(|candidate| Split {
            candidate,
            stable: 100 - candidate,
        })
        .collect();
    let settings = serde_json::to_string(&(
        template.container,
        template.scaling,
        template.env,
        template.secrets,
        template.volumes,
        template.probes,
        &template.account.email,
    ))
    .expect("the model serialises");
    Some(Rollout {
        steps,
        splits,
        candidate_tag: CANDIDATE_TAG.to_string(),
        stable_tag: STABLE_TAG.to_string(),
        revision: RevisionName {
            prefix: format!("{}-", service.name),
            key: if built_here {
                RevisionKey::ContentTag
            } else {
                RevisionKey::ImageUrl
            },
            template_hash: hash(settings.as_bytes()),
            suffix_len: SUFFIX_LEN,
        },
    })
}

impl RevisionName {
    /// The suffix for `key` (gcloud's `--revision-suffix`).
    pub fn suffix(&self, key: &str) -> String {
        hash(format!("{key}{}", self.template_hash).as_bytes())[..self.suffix_len].to_string()
    }

    /// The revision's full name for `key`.
    pub fn of(&self, key: &str) -> String {
        format!("{}{}", self.prefix, self.suffix(key))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::deployment;
    use super::*;

    const CANARY: &str = "[rollout]\nstrategy = \"canary\"\n";

    #[test]
    fn all_at_once_names_nothing() {
        assert_eq!(deployment("").rollout, None);
        assert_eq!(deployment("[rollout]\n").rollout, None);
    }

    #[test]
    fn each_percent_splits_between_candidate_and_stable() {
        let r = deployment(CANARY).rollout.unwrap();
        assert_eq!(r.steps, [5, 25, 100]);
        let splits: Vec<(u32, u32)> = r.splits.iter().map(|s| (s.candidate, s.stable)).collect();
        assert_eq!(splits, [(0, 100), (5, 95), (25, 75), (100, 0)]);
        assert_eq!(
            (r.candidate_tag.as_str(), r.stable_tag.as_str()),
            ("candidate", "stable")
        );
    }

    #[test]
    fn a_revision_is_named_by_its_image_and_its_settings() {
        let r = deployment(CANARY).rollout.unwrap().revision;
        assert_eq!(r.key, RevisionKey::ContentTag);
        let name = r.of("abc");
        assert!(
            name.starts_with("svc-") && name.len() == "svc-".len() + 12,
            "{name}"
        );
        assert_eq!(
            name,
            r.of("abc"),
            "the same image and settings, the same name"
        );
        assert_ne!(name, r.of("abd"), "a new image, a new name");
        // Cloud Run refuses a revision name twice: new settings on the same image need a new one.
        let more_memory = deployment(&format!("{CANARY}[resources]\nmemory = \"1Gi\"\n"));
        assert_ne!(more_memory.rollout.unwrap().revision.of("abc"), name);
        let env = deployment(&format!("{CANARY}[env]\nA = \"1\"\n"));
        assert_ne!(env.rollout.unwrap().revision.of("abc"), name);
        // What is not part of the revision does not rename it.
        let labels = deployment(&format!("{CANARY}[service.labels]\nteam = \"ml\"\n"));
        assert_eq!(labels.rollout.unwrap().revision.of("abc"), name);
    }

    #[test]
    fn the_longest_service_name_keeps_revision_names_within_63_characters() {
        let long = "s".repeat(49);
        let text =
            super::super::fixture::BASE.replace("name = \"svc\"", &format!("name = \"{long}\""));
        let s = super::super::fixture::spec_text(&format!("{text}{CANARY}"));
        let d = super::super::resolve(
            &s,
            &super::super::fixture::checked(&s),
            "mlgen.toml",
            "deploy",
        );
        assert_eq!(d.rollout.unwrap().revision.of("k").len(), 62);
    }
}
