//! The bucket the image build's source is uploaded to. `gcloud builds submit` otherwise
//! uploads to `gs://PROJECT_cloudbuild`, which gcloud creates on the first submit, so no
//! deployment could grant the build's account read on it beforehand; this bucket is the
//! deployment's own, and the build's account reads its sources.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Service;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagingBucket {
    pub name: String,
    /// The service's region: the sources stay where the service runs.
    pub location: String,
    /// What `gcloud builds submit --gcs-source-staging-dir` takes: `gs://NAME/source`.
    pub source_dir: String,
    /// Staged sources are deleted this many days after upload: a build reads its source
    /// once, when it starts.
    pub delete_after_days: u32,
}

/// The staging bucket of a service whose image is built here, named
/// `PROJECT-SERVICE-build`.
pub(super) fn resolve(service: &Service) -> StagingBucket {
    let name = bucket_name(&service.project, &service.name);
    StagingBucket {
        source_dir: format!("gs://{name}/source"),
        name,
        location: service.region.clone(),
        delete_after_days: DELETE_AFTER_DAYS,
    }
}

const DELETE_AFTER_DAYS: u32 = 7;
const SUFFIX: &str = "-build";
/// Cloud Storage: a name without dots is 3-63 characters.
const MAX_LEN: usize = 63;

/// Cloud Storage's rules: 3-63 of `[a-z0-9_.-]` starting and ending with a letter or
/// digit; not starting with `goog`, not containing `google`. A project id and a service
/// name are 1-49 of `[a-z0-9-]`, starting with a letter, so only length and the `goog`
/// rules need handling. Bucket names are global: a name cut to fit keeps a digest of the
/// whole, so two long service names never share a bucket.
fn bucket_name(project: &str, service: &str) -> String {
    // As gcloud names its own staging bucket: `google` is spelled `elgoog`.
    let full = format!("{project}-{service}{SUFFIX}").replace("google", "elgoog");
    let full = match full.strip_prefix("goog") {
        Some(rest) => format!("elgoog{rest}"),
        None => full,
    };
    if full.len() <= MAX_LEN {
        return full;
    }
    let digest = Sha256::digest(full.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let keep = MAX_LEN - SUFFIX.len() - hex.len() - 1;
    let stem = full[..keep].trim_end_matches('-');
    format!("{stem}-{hex}{SUFFIX}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        let b = name.as_bytes();
        (3..=MAX_LEN).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_.".contains(c))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && !name.starts_with("goog")
            && !name.contains("google")
    }

    #[test]
    fn the_name_is_project_service_build() {
        assert_eq!(bucket_name("proj-123", "svc"), "proj-123-svc-build");
    }

    #[test]
    fn long_names_are_cut_to_63_and_stay_distinct() {
        let project = format!("p{}", "x".repeat(29));
        let a = bucket_name(&project, &format!("{}-a", "s".repeat(46)));
        let b = bucket_name(&project, &format!("{}-b", "s".repeat(46)));
        assert!(valid(&a) && valid(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(a.ends_with("-build"));
    }

    #[test]
    fn goog_never_starts_and_google_never_appears() {
        for (p, s) in [("googly-1", "svc"), ("proj-123", "google-model")] {
            let n = bucket_name(p, s);
            assert!(valid(&n), "{n}");
        }
        assert_eq!(bucket_name("googly-1", "svc"), "elgoogly-1-svc-build");
    }
}
