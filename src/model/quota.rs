//! The GPU quota a service with a GPU needs: every target checks it before creating anything,
//! since Cloud Run refuses the service for it last, once everything else exists.

use serde::{Deserialize, Serialize};

use super::{Gpu, Service};

/// The service whose quotas Cloud Run's GPUs count against (Cloud Quotas API).
const RUN_SERVICE: &str = "run.googleapis.com";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuQuota {
    /// The Cloud Quotas API's service and quota id: one quota per GPU type and zonal
    /// redundancy mode (`NvidiaL4GpuAllocPerProjectRegion`,
    /// `NvidiaL4GpuAllocNoZonalRedundancyPerProjectRegion`).
    pub service: String,
    pub quota_id: String,
    pub project: String,
    pub region: String,
    /// GPUs one instance takes: less quota than this and no instance starts.
    pub needed: u32,
    /// What to do when the quota is short, for the targets' messages.
    pub request: String,
}

pub(super) fn resolve(gpu: Option<&Gpu>, service: &Service) -> Option<GpuQuota> {
    let gpu = gpu?;
    let quota_id = format!(
        "{}GpuAlloc{}PerProjectRegion",
        camel_words(&gpu.kind),
        if gpu.zonal_redundancy_disabled {
            "NoZonalRedundancy"
        } else {
            ""
        }
    );
    let request = format!(
        "GPU quota: request at least {needed} of {quota_id} ({RUN_SERVICE}) in {region}: \
         gcloud beta quotas preferences create --service={RUN_SERVICE} --quota-id={quota_id} \
         --dimensions=region={region} --preferred-value={needed} --project={project} --email=EMAIL",
        needed = gpu.count,
        region = service.region,
        project = service.project,
    );
    Some(GpuQuota {
        service: RUN_SERVICE.to_string(),
        quota_id,
        project: service.project.clone(),
        region: service.region.clone(),
        needed: gpu.count,
        request,
    })
}

/// `nvidia-rtx-pro-6000` as the quota ids spell a GPU type: `NvidiaRtxPro6000`.
fn camel_words(kind: &str) -> String {
    kind.split('-')
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixture::deployment;
    use super::*;

    #[test]
    fn each_gpu_type_and_redundancy_mode_has_its_quota() {
        assert_eq!(camel_words("nvidia-rtx-pro-6000"), "NvidiaRtxPro6000");
        let d = deployment("");
        assert_eq!(d.gpu_quota, None);
        let mut gpu = Gpu {
            kind: "nvidia-l4".to_string(),
            count: 1,
            zonal_redundancy_disabled: false,
        };
        let q = resolve(Some(&gpu), &d.service).unwrap();
        assert_eq!(q.quota_id, "NvidiaL4GpuAllocPerProjectRegion");
        assert_eq!((q.region.as_str(), q.needed), ("europe-west1", 1));
        assert!(q.request.contains(
            "--quota-id=NvidiaL4GpuAllocPerProjectRegion --dimensions=region=europe-west1"
        ));
        gpu.zonal_redundancy_disabled = true;
        let q = resolve(Some(&gpu), &d.service).unwrap();
        assert_eq!(
            q.quota_id,
            "NvidiaL4GpuAllocNoZonalRedundancyPerProjectRegion"
        );
    }
}
