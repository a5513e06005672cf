//! Cloud Run platform facts loaded from `data/platform.toml` (regions, GPUs, CPU/memory
//! table, base images), compiled into the binary.

use std::sync::OnceLock;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    pub regions: Vec<String>,
    pub gpu: Vec<GpuType>,
    pub cpu: Vec<CpuMemory>,
    pub python: Vec<String>,
    pub reserved_env: Vec<String>,
    pub reserved_env_prefixes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuType {
    #[serde(rename = "type")]
    pub kind: String,
    pub min_cpu: u32,
    pub min_memory_gib: u32,
    pub regions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuMemory {
    pub cpu: String,
    pub min_memory_mib: u64,
    pub max_memory_mib: u64,
}

/// Cloud Run's execution environments. mlgen runs a fractional CPU on the first generation
/// (the only one that takes it) and everything else on the second (GPUs and Cloud Storage
/// mounts need it). The model and the validators both ask [`Generation::for_cpu`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    Gen1,
    Gen2,
}

impl Generation {
    /// The second generation needs at least this much memory.
    pub const GEN2_MIN_MEMORY_MIB: u64 = 512;

    pub fn for_cpu(millicpu: u32) -> Generation {
        if millicpu >= 1000 {
            Generation::Gen2
        } else {
            Generation::Gen1
        }
    }

    /// gcloud's spelling and the API's.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Generation::Gen1 => ("gen1", "EXECUTION_ENVIRONMENT_GEN1"),
            Generation::Gen2 => ("gen2", "EXECUTION_ENVIRONMENT_GEN2"),
        }
    }
}

/// The platform table, parsed once.
pub fn platform() -> &'static Platform {
    static P: OnceLock<Platform> = OnceLock::new();
    P.get_or_init(|| {
        toml::from_str(include_str!("../data/platform.toml"))
            .expect("data/platform.toml is valid (checked by a unit test)")
    })
}

impl Platform {
    pub fn gpu(&self, kind: &str) -> Option<&GpuType> {
        self.gpu.iter().find(|g| g.kind == kind)
    }

    /// Memory bounds for a CPU value in millicores.
    pub fn memory_bounds(&self, millicpu: u32) -> Option<&CpuMemory> {
        let key = match millicpu {
            m if m < 500 => "fractional-below-0.5".to_string(),
            m if m < 1000 => "fractional".to_string(),
            m => (m / 1000).to_string(),
        };
        self.cpu.iter().find(|c| c.cpu == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_data_parses_and_is_consistent() {
        let p = platform();
        assert!(p.regions.iter().any(|r| r == "europe-west1"));
        for g in &p.gpu {
            for r in &g.regions {
                assert!(
                    p.regions.contains(r),
                    "GPU region {r} is not a Cloud Run region"
                );
            }
        }
        assert_eq!(p.memory_bounds(1000).unwrap().max_memory_mib, 4096);
        assert_eq!(p.memory_bounds(80).unwrap().max_memory_mib, 512);
        assert_eq!(p.memory_bounds(4000).unwrap().min_memory_mib, 2048);
    }
}
