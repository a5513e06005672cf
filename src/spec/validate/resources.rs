//! `[resources]`: CPU, memory and GPU of each instance, checked against each other.

use super::quantities::{cpu_text, mib_text, parse_cpu, parse_memory};
use super::{Checker, span_or};
use crate::diagnostics::suggest;
use crate::platform::{GpuType, platform};
use crate::spec::ResourcesSpec;
use crate::spec::explain::CPU_HELP;

/// The instance size, parsed; invalid values are replaced by defaults so later checks
/// still run.
pub(super) struct Sized {
    pub millicpu: u32,
    pub memory_mib: u64,
    pub gpu: Option<&'static GpuType>,
}

pub(super) fn check(c: &mut Checker, r: &ResourcesSpec, region: &str) -> Sized {
    let millicpu = parse_cpu(r.cpu.get_ref()).unwrap_or_else(|| {
        c.err(
            "resources.cpu",
            r.cpu.span(),
            "not a valid Cloud Run CPU value".into(),
            CPU_HELP,
        );
        1000
    });
    let memory_mib = parse_memory(r.memory.get_ref()).unwrap_or_else(|| {
        c.err(
            "resources.memory",
            r.memory.span(),
            format!("`{}` is not a memory size", r.memory.get_ref()),
            "write a whole number of MiB or GiB, e.g. `512Mi`, `2Gi`",
        );
        512
    });
    check_memory_fits_cpu(c, r, millicpu, memory_mib);
    let gpu = check_gpu(c, r, region, millicpu, memory_mib);
    if r.gpu.is_none()
        && let Some(z) = &r.gpu_zonal_redundancy
    {
        c.err(
            "resources.gpu_zonal_redundancy",
            z.span(),
            "gpu_zonal_redundancy applies only with a GPU".into(),
            "remove it, or set `gpu`",
        );
    }
    Sized {
        millicpu,
        memory_mib,
        gpu,
    }
}

fn check_memory_fits_cpu(c: &mut Checker, r: &ResourcesSpec, millicpu: u32, memory_mib: u64) {
    if let Some(bounds) = platform().memory_bounds(millicpu)
        && (memory_mib < bounds.min_memory_mib || memory_mib > bounds.max_memory_mib)
    {
        c.err(
            "resources.memory",
            span_or(r.memory.span(), r.cpu.span()),
            format!(
                "{} of memory is not allowed with {} CPU",
                r.memory.get_ref(),
                cpu_text(millicpu)
            ),
            format!(
                "with {} CPU, memory must be {} to {}",
                cpu_text(millicpu),
                mib_text(bounds.min_memory_mib),
                mib_text(bounds.max_memory_mib)
            ),
        );
    }
}

fn check_gpu(
    c: &mut Checker,
    r: &ResourcesSpec,
    region: &str,
    millicpu: u32,
    memory_mib: u64,
) -> Option<&'static GpuType> {
    let g = r.gpu.as_ref()?;
    let p = platform();
    let Some(t) = p.gpu(g.get_ref()) else {
        let kinds: Vec<&str> = p.gpu.iter().map(|g| g.kind.as_str()).collect();
        let hint = suggest(g.get_ref(), kinds.iter().copied())
            .map(|s| format!("did you mean `{s}`? "))
            .unwrap_or_default();
        c.err(
            "resources.gpu",
            g.span(),
            format!("`{}` is not a Cloud Run GPU type", g.get_ref()),
            format!("{hint}available: {}", kinds.join(", ")),
        );
        return None;
    };
    if millicpu < t.min_cpu * 1000 {
        c.err(
            "resources.cpu",
            span_or(r.cpu.span(), g.span()),
            format!("{} needs at least {} CPU", t.kind, t.min_cpu),
            format!("set `cpu = {}` or more", t.min_cpu),
        );
    }
    if memory_mib < u64::from(t.min_memory_gib) * 1024 {
        c.err(
            "resources.memory",
            span_or(r.memory.span(), g.span()),
            format!("{} needs at least {}Gi of memory", t.kind, t.min_memory_gib),
            format!("set `memory = \"{}Gi\"` or more", t.min_memory_gib),
        );
    }
    if !t.regions.iter().any(|x| x == region) {
        c.err(
            "resources.gpu",
            g.span(),
            format!("{} is not offered in {region}", t.kind),
            format!("{} is offered in: {}", t.kind, t.regions.join(", ")),
        );
    }
    if let Some(a) = &r.cpu_always_allocated
        && !*a.get_ref()
    {
        c.err(
            "resources.cpu_always_allocated",
            a.span(),
            "a GPU service must keep CPU always allocated".into(),
            "remove `cpu_always_allocated = false`: GPUs need instance-based billing",
        );
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{keys, spec};
    use super::*;

    fn resource_keys(edits: &[(&str, &str)], region: &str) -> Vec<String> {
        let r = super::super::testing::edited(edits).resources;
        keys(|c| check(c, &r, region))
    }

    #[test]
    fn sizes_parse_and_fit_each_other() {
        let r = spec("cpu = 1", "cpu = 0.5").resources;
        let mut c = Checker::default();
        let sized = check(&mut c, &r, "europe-west1");
        assert_eq!((sized.millicpu, sized.memory_mib), (500, 2048));
        assert_eq!(c.out.len(), 1, "2Gi is too much for 0.5 CPU");
        assert_eq!(
            resource_keys(&[("cpu = 1", "cpu = 3")], "europe-west1"),
            ["resources.cpu"]
        );
    }

    #[test]
    fn gpus_need_cpu_memory_and_a_region() {
        let gpu = [("cpu = 1", "cpu = 2\ngpu = \"nvidia-l4\"")];
        assert_eq!(
            resource_keys(&gpu, "europe-west1"),
            ["resources.cpu", "resources.memory"]
        );
        let gpu = [
            ("cpu = 1", "cpu = 4\ngpu = \"nvidia-l4\""),
            ("\"2Gi\"", "\"16Gi\""),
        ];
        assert!(resource_keys(&gpu, "europe-west1").is_empty());
        assert_eq!(resource_keys(&gpu, "europe-west2"), ["resources.gpu"]);
        let no_gpu = [("cpu = 1", "cpu = 1\ngpu_zonal_redundancy = false")];
        assert_eq!(
            resource_keys(&no_gpu, "europe-west1"),
            ["resources.gpu_zonal_redundancy"]
        );
    }
}
