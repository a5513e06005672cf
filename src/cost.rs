//! The monthly cost estimate `plan` shows: what a service costs with no traffic (its minimum
//! instances) and per million requests, from the list prices in `data/pricing.toml`.
//!
//! The inputs are recorded in the output folder ([`FILE`]) like any generated file, so the
//! next `plan` reads the last applied inputs from disk and shows the old figure beside the new.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::model::{Container, Scaling, Service};

/// The estimate's inputs, written into the output folder beside the generated files.
pub const FILE: &str = ".mlgen-cost.json";

const SECONDS_PER_HOUR: f64 = 3600.0;

/// The price table, parsed once.
pub fn pricing() -> &'static Pricing {
    static P: OnceLock<Pricing> = OnceLock::new();
    P.get_or_init(|| {
        toml::from_str(include_str!("../data/pricing.toml"))
            .expect("data/pricing.toml is valid (checked by a unit test)")
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    pub source: String,
    pub as_of: String,
    pub hours_per_month: u32,
    pub tiers: BTreeMap<Tier, Vec<String>>,
    pub request_based: BTreeMap<Tier, RequestRates>,
    pub instance_based: BTreeMap<Tier, InstanceRates>,
    /// GPU type → tier → rates.
    pub gpu: BTreeMap<String, BTreeMap<Tier, GpuRates>>,
    /// Serving library → default mean request duration.
    pub mean_request_ms: BTreeMap<String, DefaultDuration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Tier1,
    Tier2,
}

impl Tier {
    pub fn label(self) -> &'static str {
        match self {
            Tier::Tier1 => "Tier 1",
            Tier::Tier2 => "Tier 2",
        }
    }
}

/// USD per vCPU-second, per GiB-second and per request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestRates {
    pub cpu: f64,
    pub memory: f64,
    pub idle_cpu: f64,
    pub idle_memory: f64,
    pub request: f64,
}

/// USD per vCPU-second and per GiB-second.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceRates {
    pub cpu: f64,
    pub memory: f64,
}

/// USD per GPU-second.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuRates {
    pub zonal_redundancy: f64,
    pub no_zonal_redundancy: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultDuration {
    pub ms: f64,
    pub source: String,
}

impl Pricing {
    pub fn tier(&self, region: &str) -> Option<Tier> {
        self.tiers
            .iter()
            .find(|(_, regions)| regions.iter().any(|r| r == region))
            .map(|(t, _)| *t)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Billing {
    /// CPU allocated only while requests are handled (`cpu_idle = true`).
    RequestBased,
    /// CPU always allocated: every instance-second at one rate.
    InstanceBased,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuUse {
    pub kind: String,
    pub count: u32,
    pub zonal_redundancy: bool,
}

/// Everything the estimate depends on, as resolved from the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    pub region: String,
    pub billing: Billing,
    pub vcpu: f64,
    pub memory_gib: f64,
    pub gpu: Option<GpuUse>,
    pub min_instances: u32,
    pub concurrency: u32,
    pub mean_request_ms: f64,
    /// Where `mean_request_ms` comes from: the spec, or the default and its source.
    pub mean_request_ms_from: String,
}

impl Inputs {
    /// The inputs of a deployment's parts; `mean_request_ms` is the spec's `[cost]` value,
    /// if set, else the benchmark's figure for the library that serves the model.
    pub fn of(
        service: &Service,
        c: &Container,
        scaling: &Scaling,
        serve_framework: &str,
        mean_request_ms: Option<f64>,
    ) -> Self {
        let (ms, from) = match mean_request_ms {
            Some(ms) => (ms, "[cost] mean_request_ms".to_string()),
            None => {
                let framework = serve_framework;
                let default = pricing().mean_request_ms.get(framework).unwrap_or_else(|| {
                    panic!("data/pricing.toml has a mean_request_ms for {framework} (unit test)")
                });
                (default.ms, default.source.clone())
            }
        };
        Inputs {
            region: service.region.clone(),
            billing: if c.cpu_idle {
                Billing::RequestBased
            } else {
                Billing::InstanceBased
            },
            vcpu: c.cpu.parse().expect("the model writes CPU as a number"),
            memory_gib: gib(&c.memory),
            gpu: c.gpu.as_ref().map(|g| GpuUse {
                kind: g.kind.clone(),
                count: g.count,
                zonal_redundancy: !g.zonal_redundancy_disabled,
            }),
            min_instances: scaling.min_instances,
            concurrency: scaling.concurrency,
            mean_request_ms: ms,
            mean_request_ms_from: from,
        }
    }

    /// The content of [`FILE`].
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("cost inputs serialise");
        s.push('\n');
        s
    }

    /// Reads [`FILE`]'s content; `None` for anything else (an older or hand-edited file).
    pub fn from_json(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

/// GiB in the model's memory spelling (`512Mi`, `2Gi`).
fn gib(memory: &str) -> f64 {
    let (n, per_gib) = match memory.strip_suffix("Gi") {
        Some(n) => (n, 1.0),
        None => (memory.trim_end_matches("Mi"), 1024.0),
    };
    n.parse::<f64>()
        .expect("the model writes memory as Mi or Gi")
        / per_gib
}

/// Why there is no estimate: a price `data/pricing.toml` does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unpriced {
    #[error("region {0} is in neither price tier of data/pricing.toml")]
    Region(String),
    #[error(
        "data/pricing.toml has no confirmed {} price for instance-based billing (CPU always \
         allocated), and none is guessed; request-based billing or a Tier 1 region has an estimate",
        .0.label()
    )]
    InstanceBased(Tier),
    #[error(
        "data/pricing.toml has no confirmed {} price for GPU {kind}, and none is guessed; a Tier 1 \
         region has an estimate",
        .tier.label()
    )]
    Gpu { kind: String, tier: Tier },
}

/// USD figures, rounded to cents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub tier: Tier,
    /// The floor paid with no traffic: the minimum instances, idle, all month.
    pub idle_monthly_usd: f64,
    /// Instance time (and request fees) for a million requests, beyond the floor.
    pub per_million_requests_usd: f64,
}

/// Cost per second of one instance: (busy, idle minimum instance), and the fee per request.
struct InstanceRate {
    busy: f64,
    idle: f64,
    request: f64,
}

fn instance_rate(i: &Inputs, tier: Tier) -> Result<InstanceRate, Unpriced> {
    let p = pricing();
    let gpu = gpu_rate(i, tier)?;
    let size = |cpu: f64, memory: f64| i.vcpu * cpu + i.memory_gib * memory + gpu;
    Ok(match i.billing {
        Billing::RequestBased => {
            let r = &p.request_based[&tier];
            InstanceRate {
                busy: size(r.cpu, r.memory),
                idle: size(r.idle_cpu, r.idle_memory),
                request: r.request,
            }
        }
        Billing::InstanceBased => {
            let r = p
                .instance_based
                .get(&tier)
                .ok_or(Unpriced::InstanceBased(tier))?;
            let all = size(r.cpu, r.memory);
            InstanceRate {
                busy: all,
                idle: all,
                request: 0.0,
            }
        }
    })
}

fn gpu_rate(i: &Inputs, tier: Tier) -> Result<f64, Unpriced> {
    let Some(g) = &i.gpu else { return Ok(0.0) };
    let rates = pricing()
        .gpu
        .get(&g.kind)
        .and_then(|t| t.get(&tier))
        .ok_or_else(|| Unpriced::Gpu {
            kind: g.kind.clone(),
            tier,
        })?;
    let each = if g.zonal_redundancy {
        rates.zonal_redundancy
    } else {
        rates.no_zonal_redundancy
    };
    Ok(each * f64::from(g.count))
}

/// The estimate for `i` at the list prices.
pub fn estimate(i: &Inputs) -> Result<Estimate, Unpriced> {
    let p = pricing();
    let tier = p
        .tier(&i.region)
        .ok_or_else(|| Unpriced::Region(i.region.clone()))?;
    let rate = instance_rate(i, tier)?;
    let month_s = f64::from(p.hours_per_month) * SECONDS_PER_HOUR;
    // Requests share an instance `concurrency` at a time, so each holds it for ms / concurrency.
    let instance_s_per_request = i.mean_request_ms / 1000.0 / f64::from(i.concurrency);
    let per_request = instance_s_per_request * rate.busy + rate.request;
    Ok(Estimate {
        tier,
        idle_monthly_usd: cents(f64::from(i.min_instances) * month_s * rate.idle),
        per_million_requests_usd: cents(1e6 * per_request),
    })
}

fn cents(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

/// What `plan` shows about cost: the estimate now, and the last applied one where it differs.
#[derive(Debug, Clone)]
pub struct Report {
    pub inputs: Inputs,
    pub now: Result<Estimate, Unpriced>,
    pub before: Option<Estimate>,
}

impl Report {
    /// `recorded` is [`FILE`] as it is on disk, if it is.
    pub fn new(inputs: Inputs, recorded: Option<&str>) -> Self {
        let now = estimate(&inputs);
        let before = recorded
            .and_then(Inputs::from_json)
            .and_then(|old| estimate(&old).ok())
            .filter(|old| now.as_ref().is_ok_and(|new| new != old));
        Report {
            inputs,
            now,
            before,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::platform;

    fn inputs(region: &str, billing: Billing) -> Inputs {
        Inputs {
            region: region.into(),
            billing,
            vcpu: 1.0,
            memory_gib: 2.0,
            gpu: None,
            min_instances: 1,
            concurrency: 80,
            mean_request_ms: 8.0,
            mean_request_ms_from: "test".into(),
        }
    }

    #[test]
    fn pricing_data_parses_and_covers_the_platform() {
        let p = pricing();
        let mut tiered: Vec<&String> = p.tiers.values().flatten().collect();
        tiered.sort();
        let count = tiered.len();
        tiered.dedup();
        assert_eq!(tiered.len(), count, "a region is in two tiers");
        for r in tiered {
            assert!(
                platform().regions.contains(r),
                "{r} is not a Cloud Run region"
            );
        }
        for g in &platform().gpu {
            assert!(p.gpu.contains_key(&g.kind), "no price for GPU {}", g.kind);
        }
        for f in ["sklearn", "xgboost", "lightgbm", "onnx"] {
            assert!(p.mean_request_ms[f].ms > 0.0, "no default duration for {f}");
        }
        assert!(p.request_based.contains_key(&Tier::Tier1));
        assert!(p.request_based.contains_key(&Tier::Tier2));
    }

    #[test]
    fn request_based_floor_is_the_idle_rate_all_month() {
        // 730 h x 3600 s x (1 vCPU x 0.0000025 + 2 GiB x 0.0000025) = 2,628,000 x 0.0000075
        let e = estimate(&inputs("europe-west1", Billing::RequestBased)).unwrap();
        assert_eq!(e.tier, Tier::Tier1);
        assert_eq!(e.idle_monthly_usd, 19.71);
        // 1e6 x 8 ms / 80 = 100 s x (0.000024 + 2 x 0.0000025) = $0.0029, + 1e6 x $0.0000004
        assert_eq!(e.per_million_requests_usd, 0.40);
    }

    #[test]
    fn tier_2_regions_cost_more() {
        let mut i = inputs("europe-west2", Billing::RequestBased);
        (i.concurrency, i.mean_request_ms) = (1, 100.0);
        let e = estimate(&i).unwrap();
        assert_eq!(e.tier, Tier::Tier2);
        // 2,628,000 x (0.0000035 + 2 x 0.0000035) = 27.594
        assert_eq!(e.idle_monthly_usd, 27.59);
        // 1e6 x 0.1 s x (0.0000336 + 2 x 0.0000035) = 4.06, + 0.40
        assert_eq!(e.per_million_requests_usd, 4.46);
        // The same service in a Tier 1 region: 19.71 and 3.30.
        i.region = "europe-west1".into();
        let t1 = estimate(&i).unwrap();
        assert_eq!((t1.tier, t1.idle_monthly_usd), (Tier::Tier1, 19.71));
        assert_eq!(t1.per_million_requests_usd, 3.30);
    }

    #[test]
    fn instance_based_billing_has_no_request_fee_and_one_rate() {
        let mut i = inputs("us-central1", Billing::InstanceBased);
        i.concurrency = 1;
        i.mean_request_ms = 100.0;
        // 2,628,000 x (0.000018 + 2 x 0.000002) = 57.816
        let e = estimate(&i).unwrap();
        assert_eq!(e.idle_monthly_usd, 57.82);
        // 1e6 x 0.1 s x 0.000022 = 2.2
        assert_eq!(e.per_million_requests_usd, 2.2);
    }

    #[test]
    fn gpu_is_billed_per_second_with_its_redundancy() {
        let mut i = inputs("europe-west4", Billing::InstanceBased);
        (i.vcpu, i.memory_gib, i.concurrency) = (4.0, 16.0, 16);
        i.gpu = Some(GpuUse {
            kind: "nvidia-l4".into(),
            count: 1,
            zonal_redundancy: false,
        });
        // 2,628,000 x (4 x 0.000018 + 16 x 0.000002 + 0.0001867) = 2,628,000 x 0.0002907
        assert_eq!(estimate(&i).unwrap().idle_monthly_usd, 763.96);
        i.gpu.as_mut().unwrap().zonal_redundancy = true;
        // 2,628,000 x (0.000104 + 0.0002909) = 1037.8
        assert_eq!(estimate(&i).unwrap().idle_monthly_usd, 1037.80);
    }

    #[test]
    fn concurrency_divides_the_instance_time_of_a_request() {
        let mut i = inputs("us-central1", Billing::RequestBased);
        (i.concurrency, i.mean_request_ms) = (1, 100.0);
        // 1e6 x 0.1 s x 0.000029 = 2.9, + 0.40
        assert_eq!(estimate(&i).unwrap().per_million_requests_usd, 3.30);
        i.concurrency = 10;
        // 0.29 + 0.40
        assert_eq!(estimate(&i).unwrap().per_million_requests_usd, 0.69);
    }

    #[test]
    fn missing_prices_are_named_not_guessed() {
        let i = inputs("europe-north2", Billing::RequestBased);
        assert_eq!(estimate(&i), Err(Unpriced::Region("europe-north2".into())));
        let i = inputs("asia-east2", Billing::InstanceBased);
        assert_eq!(estimate(&i), Err(Unpriced::InstanceBased(Tier::Tier2)));
        let mut i = inputs("asia-southeast1", Billing::InstanceBased);
        i.gpu = Some(GpuUse {
            kind: "nvidia-l4".into(),
            count: 1,
            zonal_redundancy: true,
        });
        let tier = Tier::Tier2;
        let kind = "nvidia-l4".to_string();
        // The instance's own Tier 2 rate is missing too; the GPU's is named first.
        assert_eq!(estimate(&i), Err(Unpriced::Gpu { kind, tier }));
    }

    #[test]
    fn memory_spellings() {
        assert_eq!(gib("512Mi"), 0.5);
        assert_eq!(gib("2Gi"), 2.0);
    }

    #[test]
    fn the_report_shows_the_recorded_figure_only_when_it_differs() {
        let old = inputs("europe-west1", Billing::RequestBased);
        let mut new = old.clone();
        new.min_instances = 2;
        let r = Report::new(new.clone(), Some(&old.to_json()));
        assert_eq!(r.before.unwrap().idle_monthly_usd, 19.71);
        assert_eq!(r.now.unwrap().idle_monthly_usd, 39.42);
        assert!(
            Report::new(new.clone(), Some(&new.to_json()))
                .before
                .is_none()
        );
        assert!(Report::new(new, Some("not json")).before.is_none());
    }
}
