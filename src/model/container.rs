//! The `[container]` port and the `[resources]` table: what each instance gets and how
//! Cloud Run bills and schedules it.

use serde::{Deserialize, Serialize};

use crate::platform::Generation;
use crate::spec::Spec;
use crate::spec::validate::{Checked, cpu_text, mib_text};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    pub port: u16,
    /// As Cloud Run spells it: `1`, `0.5`.
    pub cpu: String,
    /// `512Mi`, `2Gi`.
    pub memory: String,
    pub gpu: Option<Gpu>,
    /// `false` = CPU always allocated (instance-based billing).
    pub cpu_idle: bool,
    pub startup_cpu_boost: bool,
    /// `gen1` or `gen2`.
    pub execution_environment: String,
    /// API spelling: `EXECUTION_ENVIRONMENT_GEN2`.
    pub execution_environment_api: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpu {
    pub kind: String,
    pub count: u32,
    /// In the API's polarity (`gpu_zonal_redundancy_disabled`), which Terraform and Pulumi
    /// take as is; the spec's `gpu_zonal_redundancy` is its negation.
    pub zonal_redundancy_disabled: bool,
}

pub(super) fn resolve(spec: &Spec, checked: &Checked) -> Container {
    let r = &spec.resources;
    let gpu = checked.gpu.map(|g| Gpu {
        kind: g.kind.clone(),
        count: 1,
        zonal_redundancy_disabled: r
            .gpu_zonal_redundancy
            .as_ref()
            .is_some_and(|z| !z.get_ref()),
    });
    let always_allocated = r
        .cpu_always_allocated
        .as_ref()
        .is_some_and(|a| *a.get_ref());
    // GPUs need instance-based billing; otherwise the user's choice, request-based by default.
    let cpu_idle = gpu.is_none() && !always_allocated;
    let (execution_environment, execution_environment_api) =
        Generation::for_cpu(checked.millicpu).names();
    Container {
        port: *spec.container.port.get_ref() as u16,
        cpu: cpu_text(checked.millicpu),
        memory: mib_text(checked.memory_mib),
        gpu,
        cpu_idle,
        startup_cpu_boost: r.startup_cpu_boost,
        execution_environment: execution_environment.to_string(),
        execution_environment_api: execution_environment_api.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{checked, spec};
    use super::*;

    const GPU: &str = "[resources]\ncpu = 4\nmemory = \"16Gi\"\ngpu = \"nvidia-l4\"\n";

    fn container(extra: &str) -> Container {
        let s = spec(extra);
        resolve(&s, &checked(&s))
    }

    #[test]
    fn zonal_redundancy_is_on_unless_the_spec_turns_it_off() {
        let on = container(GPU).gpu.unwrap();
        assert!(!on.zonal_redundancy_disabled);
        let off = container(&format!("{GPU}gpu_zonal_redundancy = false\n"));
        assert!(off.gpu.unwrap().zonal_redundancy_disabled);
    }

    #[test]
    fn a_gpu_keeps_the_cpu_allocated_and_runs_on_gen2() {
        let c = container(GPU);
        assert!(!c.cpu_idle);
        assert_eq!(c.execution_environment, "gen2");
        assert_eq!(c.execution_environment_api, "EXECUTION_ENVIRONMENT_GEN2");
    }

    #[test]
    fn cpu_is_idle_between_requests_unless_always_allocated() {
        assert!(container("").cpu_idle);
        assert!(!container("[resources]\ncpu_always_allocated = true\n").cpu_idle);
        let frac = container("[resources]\ncpu = 0.5\n[scaling]\nconcurrency = 1\n");
        assert_eq!(
            (frac.cpu.as_str(), frac.execution_environment.as_str()),
            ("0.5", "gen1")
        );
    }
}
