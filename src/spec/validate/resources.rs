//! `[resources]`: CPU, memory and GPU of each instance, checked against each other.

use super::quantities::{cpu_text, mib_text, parse_cpu, parse_memory};
use super::{Checker, span_or};
use crate::diagnostics::suggest;
use crate::platform::Generation;
use crate::platform::{GpuType, platform};
use crate::spec::explain::CPU_HELP;
use crate::spec::{ResourcesSpec, Spec};

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
    check_fractional_cpu_billing(c, r, millicpu);
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
    let span = span_or(r.memory.span(), r.cpu.span());
    if let Some(bounds) = platform().memory_bounds(millicpu)
        && (memory_mib < bounds.min_memory_mib || memory_mib > bounds.max_memory_mib)
    {
        c.err(
            "resources.memory",
            span,
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
    } else if Generation::for_cpu(millicpu) == Generation::Gen2
        && memory_mib < Generation::GEN2_MIN_MEMORY_MIB
    {
        c.err(
            "resources.memory",
            span,
            format!(
                "{} of memory is too little for {} CPU: a service with 1 CPU or more runs in the second-generation environment, which needs at least {}",
                r.memory.get_ref(),
                cpu_text(millicpu),
                mib_text(Generation::GEN2_MIN_MEMORY_MIB)
            ),
            format!(
                "set `memory = \"{}\"` or more; only a fractional CPU (first generation) runs with less",
                mib_text(Generation::GEN2_MIN_MEMORY_MIB)
            ),
        );
    }
}

/// A fractional CPU is billed per request, so it cannot stay allocated between requests.
fn check_fractional_cpu_billing(c: &mut Checker, r: &ResourcesSpec, millicpu: u32) {
    if let Some(a) = &r.cpu_always_allocated
        && *a.get_ref()
        && millicpu < 1000
    {
        c.err(
            "resources.cpu_always_allocated",
            a.span(),
            format!(
                "a fractional CPU ({}) cannot stay allocated between requests",
                cpu_text(millicpu)
            ),
            "remove `cpu_always_allocated = true` (fractional CPU is only allocated during requests), or set `cpu = 1` or more",
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

/// Each instance holds one GPU, and the project's GPU quota in the region caps how many
/// run at once; Cloud Run refuses a `max_instances` above it.
pub(super) fn warn_gpu_quota(c: &mut Checker, spec: &Spec, gpu: &GpuType) {
    let r = &spec.resources;
    let Some(g) = &r.gpu else { return };
    let region = spec.service.region.get_ref();
    let max = spec.scaling.max_instances.get_ref();
    let redundancy = if zonal_redundancy(r) {
        ""
    } else {
        " without zonal redundancy"
    };
    c.warn(
        "resources.gpu",
        g.span(),
        format!(
            "each instance holds one {}, so `max_instances = {max}` needs a GPU quota of at least {max} in {region}",
            gpu.kind
        ),
        format!(
            "before deploying, check the Cloud Run quota \"Total {} GPU allocation{redundancy}, per project per region\" for {region} (console: IAM & Admin > Quotas) and request at least {max} if it is lower; a project may have none until it asks",
            quota_label(&gpu.kind)
        ),
    );
}

/// Zonal redundancy is on unless the spec turns it off.
pub(super) fn zonal_redundancy(r: &ResourcesSpec) -> bool {
    r.gpu_zonal_redundancy.as_ref().is_none_or(|z| *z.get_ref())
}

/// A GPU type as Cloud Run's quota names spell it: `nvidia-l4` is `Nvidia L4`.
fn quota_label(kind: &str) -> String {
    let (vendor, model) = kind.split_once('-').unwrap_or((kind, ""));
    let mut chars = vendor.chars();
    let vendor: String = chars
        .next()
        .map(|f| f.to_ascii_uppercase())
        .into_iter()
        .chain(chars)
        .collect();
    format!("{vendor} {}", model.to_ascii_uppercase())
        .trim_end()
        .to_string()
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

    #[test]
    fn one_cpu_or_more_runs_gen2_which_needs_512_mib() {
        let small = [("\"2Gi\"", "\"256Mi\"")];
        assert_eq!(resource_keys(&small, "europe-west1"), ["resources.memory"]);
        let at_least = [("\"2Gi\"", "\"512Mi\"")];
        assert!(resource_keys(&at_least, "europe-west1").is_empty());
        let fractional = [("cpu = 1", "cpu = 0.5"), ("\"2Gi\"", "\"256Mi\"")];
        assert!(resource_keys(&fractional, "europe-west1").is_empty());
    }

    #[test]
    fn a_fractional_cpu_cannot_stay_allocated() {
        let always = "cpu = 0.5\ncpu_always_allocated = true";
        let edits = [("cpu = 1", always), ("\"2Gi\"", "\"1Gi\"")];
        assert_eq!(
            resource_keys(&edits, "europe-west1"),
            ["resources.cpu_always_allocated"]
        );
        let whole = [("cpu = 1", "cpu = 1\ncpu_always_allocated = true")];
        assert!(resource_keys(&whole, "europe-west1").is_empty());
    }

    #[test]
    fn gpu_quota_names_the_quota_of_the_redundancy_chosen() {
        let gpu = "cpu = 4\ngpu = \"nvidia-l4\"";
        let warn = |extra: &str| {
            let s = super::super::testing::edited(&[("cpu = 1", &format!("{gpu}{extra}"))]);
            let l4 = platform().gpu("nvidia-l4").unwrap();
            let mut c = Checker::default();
            warn_gpu_quota(&mut c, &s, l4);
            let [w] = &c.warnings[..] else {
                panic!("{:?}", c.warnings)
            };
            assert!(w.message.contains("`max_instances = 10`"), "{}", w.message);
            w.help.clone().unwrap()
        };
        let on = warn("");
        assert!(
            on.contains("\"Total Nvidia L4 GPU allocation, per project per region\""),
            "{on}"
        );
        let off = warn("\ngpu_zonal_redundancy = false");
        assert!(
            off.contains("allocation without zonal redundancy, per"),
            "{off}"
        );
        assert_eq!(quota_label("nvidia-l4"), "Nvidia L4");
    }
}
