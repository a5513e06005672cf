//! The `[serving]` table and the app's process layout: how many workers, how many threads
//! each gives the model library, and which device the model runs on.

use serde::{Deserialize, Serialize};

use crate::runtime::runtime;
use crate::spec::ServingSpec;
use crate::spec::validate::Checked;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Serving {
    /// Server processes: one per whole vCPU (one with a GPU).
    pub workers: u32,
    pub max_batch_size: u32,
    pub max_batch_wait_ms: f64,
    pub max_request_bytes: u64,
    /// Compute threads each worker gives the model library: the vCPUs left per worker.
    pub threads: u32,
    /// Where the model runs: `cpu`, or the GPU device the framework's data names (`cuda`).
    pub device: String,
}

/// `serve_framework` is the library that loads the model at run time.
pub(super) fn resolve(
    spec: &ServingSpec,
    checked: &Checked,
    serve_framework: &str,
    gpu: bool,
) -> Serving {
    let vcpus = checked.millicpu / 1000;
    let workers = if gpu { 1 } else { vcpus.max(1) };
    let gpu_device = &runtime().frameworks[serve_framework].gpu_device;
    Serving {
        workers,
        max_batch_size: *spec.max_batch_size.get_ref() as u32,
        max_batch_wait_ms: *spec.max_batch_wait_ms.get_ref(),
        max_request_bytes: *spec.max_request_bytes.get_ref() as u64,
        threads: (vcpus / workers).max(1),
        device: match gpu_device {
            Some(device) if gpu => device.clone(),
            _ => "cpu".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{checked, spec};
    use super::*;

    fn serving(extra: &str, framework: &str, gpu: bool) -> Serving {
        let s = spec(extra);
        resolve(&s.serving, &checked(&s), framework, gpu)
    }

    #[test]
    fn one_worker_per_whole_vcpu_on_cpu() {
        let s = serving("[resources]\ncpu = 4\nmemory = \"2Gi\"\n", "sklearn", false);
        assert_eq!((s.workers, s.threads, s.device.as_str()), (4, 1, "cpu"));
        let s = serving(
            "[resources]\ncpu = 0.5\n[scaling]\nconcurrency = 1\n",
            "sklearn",
            false,
        );
        assert_eq!((s.workers, s.threads), (1, 1));
    }

    #[test]
    fn a_gpu_gets_one_worker_with_every_thread() {
        let s = serving("[resources]\ncpu = 4\nmemory = \"16Gi\"\n", "xgboost", true);
        assert_eq!((s.workers, s.threads, s.device.as_str()), (1, 4, "cuda"));
    }
}
