//! The `[monitoring]` table: alert policies, notification channels, an uptime check and a
//! dashboard in Cloud Monitoring, decided once for every target.
//!
//! Everything is spelt as the Monitoring API spells it (metric filters, aligner, reducer and
//! comparison enum values, durations as `60s`), so each target only writes it down. Every
//! name is derived from the service, so a project holding several services (or, later,
//! several environments of one) gets one set per service.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::{Label, Probes, Scaling, Service};
use crate::spec::MonitoringSpec;

/// Cloud Run's metrics, as listed in `data/monitoring.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub source: String,
    pub read: String,
    pub resource_type: String,
    pub metrics: BTreeMap<String, Metric>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    #[serde(rename = "type")]
    pub kind_name: String,
    pub kind: String,
    pub value: String,
    /// The descriptor's unit: that of a threshold compared with the metric.
    pub unit: String,
    pub labels: Vec<String>,
    /// Where the descriptor was confirmed, and when.
    pub checked: String,
}

/// The metric list, parsed once.
pub fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        toml::from_str(include_str!("../../data/monitoring.toml"))
            .expect("data/monitoring.toml is valid (checked by a unit test)")
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Monitoring {
    /// Where alerts go, in the order of `notify`.
    pub channels: Vec<Channel>,
    pub policies: Vec<AlertPolicy>,
    /// Only for a service anyone can reach: a checker cannot call a private one.
    pub uptime_check: Option<UptimeCheck>,
    pub dashboard: Dashboard,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Resource name in Terraform and Pulumi, file name for gcloud.
    pub key: String,
    /// What finds the channel again on a re-run of the gcloud script.
    pub display_name: String,
    /// The API's channel type, e.g. `email`.
    #[serde(rename = "type")]
    pub kind: String,
    pub labels: Vec<Label>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertPolicy {
    pub key: String,
    /// Stable across threshold changes: the gcloud script finds the policy by it.
    pub display_name: String,
    /// Shown in the incident and the notification (markdown).
    pub documentation: String,
    pub condition: Condition,
}

/// A threshold condition: the series (or the ratio of two) compared with a value for a while.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub display_name: String,
    pub series: Series,
    /// With a denominator, the condition compares `series / denominator`.
    pub denominator: Option<Series>,
    pub comparison: String,
    pub threshold: f64,
    pub duration: String,
}

/// One aggregated time series of a Cloud Run metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The metric type, also named in `filter`.
    pub metric: String,
    pub filter: String,
    pub alignment_period: String,
    pub aligner: String,
    pub reducer: String,
    pub group_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UptimeCheck {
    pub key: String,
    pub display_name: String,
    pub path: String,
    pub period_seconds: u32,
    pub timeout_seconds: u32,
    pub resource_type: String,
    pub resource_labels: Vec<Label>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub display_name: String,
    pub charts: Vec<Chart>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub title: String,
    pub series: Vec<Series>,
}

impl Series {
    /// The API's `Aggregation` message, as policies and dashboards take it.
    pub fn api_aggregation(&self) -> serde_json::Value {
        let mut a = serde_json::json!({
            "alignmentPeriod": self.alignment_period,
            "perSeriesAligner": self.aligner,
            "crossSeriesReducer": self.reducer,
        });
        if !self.group_by.is_empty() {
            a["groupByFields"] = serde_json::json!(self.group_by);
        }
        a
    }
}

impl Dashboard {
    /// Columns of the dashboard's grid; each chart takes half its width.
    const COLUMNS: usize = 48;

    /// The dashboard as the Monitoring API's `Dashboard` document: every target creates
    /// it from this same text.
    pub fn api_json(&self) -> String {
        let (width, height) = (Self::COLUMNS / 2, 16);
        let tiles: Vec<serde_json::Value> = self
            .charts
            .iter()
            .enumerate()
            .map(|(i, chart)| {
                serde_json::json!({
                    "xPos": (i % 2) * width,
                    "yPos": (i / 2) * height,
                    "width": width,
                    "height": height,
                    "widget": chart.api_widget(),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "displayName": self.display_name,
            "mosaicLayout": {"columns": Self::COLUMNS, "tiles": tiles},
        });
        serde_json::to_string_pretty(&doc).expect("a JSON value serialises") + "\n"
    }

    /// [`Self::api_json`] line by line, for a target that writes it as a string literal.
    pub fn api_json_lines(&self) -> Vec<String> {
        self.api_json().lines().map(str::to_string).collect()
    }
}

impl Chart {
    fn api_widget(&self) -> serde_json::Value {
        let data_sets: Vec<serde_json::Value> = self
            .series
            .iter()
            .map(|s| {
                serde_json::json!({
                    "timeSeriesQuery": {"timeSeriesFilter": {
                        "filter": s.filter,
                        "aggregation": s.api_aggregation(),
                    }},
                    "plotType": "LINE",
                })
            })
            .collect();
        serde_json::json!({"title": self.title, "xyChart": {"dataSets": data_sets}})
    }
}

/// What the policies and the dashboard are derived from besides the table itself.
pub(super) struct Inputs<'a> {
    /// The spec's environment: several may share a project, so their names say which.
    pub environment: Option<&'a str>,
    pub service: &'a Service,
    pub scaling: &'a Scaling,
    pub probes: &'a Probes,
    pub gpu: bool,
}

impl Inputs<'_> {
    /// What the display names call the service: `NAME`, or `NAME (ENVIRONMENT)`.
    fn title(&self) -> String {
        match self.environment {
            Some(env) => format!("{} ({env})", self.service.name),
            None => self.service.name.clone(),
        }
    }

    /// The series' filter on the monitored resource: the service, and in an environment
    /// its region too, as environments may share a project.
    fn scope(&self) -> String {
        let service = format!("resource.labels.service_name=\"{}\"", self.service.name);
        match self.environment {
            Some(_) => format!(
                "{service} AND resource.labels.location=\"{}\"",
                self.service.region
            ),
            None => service,
        }
    }
}

pub(super) fn resolve(spec: Option<&MonitoringSpec>, i: &Inputs) -> Option<Monitoring> {
    let spec = spec?;
    let public = i.service.ingress == "all" && i.service.invoker_iam_disabled;
    let title = i.title();
    Some(Monitoring {
        channels: channels(spec, &title),
        policies: policies(spec, i),
        uptime_check: public.then(|| uptime_check(i.service, &title, &i.probes.liveness.path)),
        dashboard: dashboard(&i.scope(), &title, i.gpu),
    })
}

fn channels(spec: &MonitoringSpec, service: &str) -> Vec<Channel> {
    let mut keys = Vec::new();
    spec.notify
        .iter()
        .map(|target| {
            let (kind, address) = target.get_ref().split_once(':').expect("validated");
            let key = unique_key(&mut keys, &format!("{kind}_{address}"));
            Channel {
                key,
                display_name: format!("{service} alerts: {address}"),
                kind: kind.to_string(),
                labels: vec![Label {
                    key: "email_address".to_string(),
                    value: address.to_string(),
                }],
            }
        })
        .collect()
}

/// An identifier from `text` (`email_oncall_acme_example`), unique among `taken`.
fn unique_key(taken: &mut Vec<String>, text: &str) -> String {
    let base: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let key = (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}_{n}")
            }
        })
        .find(|k| !taken.contains(k))
        .expect("some suffix is free");
    taken.push(key.clone());
    key
}

/// The series of metric `name` (a key of data/monitoring.toml) on the resources `scope`
/// selects ([`Inputs::scope`]).
fn series(name: &str, scope: &str, aligner: &str, reducer: &str, extra: &str) -> Series {
    let m = metrics();
    let metric = &m.metrics[name].kind_name;
    Series {
        metric: metric.clone(),
        filter: format!(
            "metric.type=\"{metric}\" AND resource.type=\"{}\" AND {scope}{extra}",
            m.resource_type
        ),
        alignment_period: "60s".to_string(),
        aligner: aligner.to_string(),
        reducer: reducer.to_string(),
        group_by: Vec::new(),
    }
}

/// The 99th percentile of a distribution metric over every revision of the service: each
/// series' points in the period merged into one distribution, then the percentile of all.
/// ALIGN_DELTA merges a DELTA metric's points but refuses a GAUGE; ALIGN_SUM merges a GAUGE's.
fn p99(name: &str, scope: &str) -> Series {
    let aligner = match metrics().metrics[name].kind.as_str() {
        "GAUGE" => "ALIGN_SUM",
        _ => "ALIGN_DELTA",
    };
    series(name, scope, aligner, "REDUCE_PERCENTILE_99", "")
}

fn policies(spec: &MonitoringSpec, i: &Inputs) -> Vec<AlertPolicy> {
    let name = &i.scope();
    let rate = *spec.error_rate.get_ref();
    // By default half the timeout: slow enough to matter, early enough to act on.
    let p99_ms = spec
        .p99_ms
        .as_ref()
        .map_or(f64::from(i.scaling.timeout_seconds) * 500.0, |p| {
            *p.get_ref() as f64
        });
    // Half the window the startup probe allows: instances this slow are close to failing it.
    let p = &i.probes.startup;
    let window_s = p.initial_delay_seconds + p.period_seconds * p.failure_threshold;
    let startup_ms = f64::from(window_s) * 500.0;
    let max = i.scaling.max_instances;
    let requests = |extra| series("requests", name, "ALIGN_RATE", "REDUCE_SUM", extra);
    let condition = |display_name, series, comparison: &str, threshold, duration: &str| Condition {
        display_name,
        series,
        denominator: None,
        comparison: comparison.to_string(),
        threshold,
        duration: duration.to_string(),
    };
    let rules = [
        (
            "errors",
            "5xx responses",
            Condition {
                denominator: Some(requests("")),
                ..condition(
                    format!("5xx share of requests above {rate}"),
                    requests(" AND metric.labels.response_code_class=\"5xx\""),
                    "COMPARISON_GT",
                    rate,
                    "300s",
                )
            },
            "More than `error_rate` of the requests got a 5xx answer for 5 minutes. Check the service's logs and its latest revision.",
        ),
        (
            "latency",
            "request latency",
            condition(
                format!("p99 request latency above {p99_ms} ms"),
                p99("latencies", name),
                "COMPARISON_GT",
                p99_ms,
                "300s",
            ),
            "The slowest 1% of requests took longer than `p99_ms` for 5 minutes. Check CPU and memory on the dashboard, and the request timeout.",
        ),
        (
            "saturation",
            "instances at the maximum",
            condition(
                format!("instance count at max_instances ({max})"),
                series("instances", name, "ALIGN_MAX", "REDUCE_SUM", ""),
                "COMPARISON_GE",
                f64::from(max),
                "300s",
            ),
            "The service ran at `max_instances` for 5 minutes: requests beyond its capacity wait or fail. Raise `max_instances` or `concurrency`.",
        ),
        (
            "startup",
            "slow container startup",
            condition(
                format!("p99 container startup above {startup_ms} ms"),
                p99("startup", name),
                "COMPARISON_GT",
                startup_ms,
                "0s",
            ),
            "New instances took more than half the time the startup probe allows to become ready. Check the model's size and load time.",
        ),
    ];
    rules
        .into_iter()
        .map(|(key, title, condition, documentation)| AlertPolicy {
            key: key.to_string(),
            display_name: format!("{}: {title}", i.title()),
            documentation: documentation.to_string(),
            condition,
        })
        .collect()
}

/// Checks `/live` over HTTPS on the service's own URL, found from its monitored resource.
fn uptime_check(service: &Service, title: &str, path: &str) -> UptimeCheck {
    let label = |key: &str, value: &str| Label {
        key: key.to_string(),
        value: value.to_string(),
    };
    UptimeCheck {
        key: "uptime".to_string(),
        display_name: format!("{title}: uptime"),
        path: path.to_string(),
        period_seconds: 60,
        timeout_seconds: 10,
        resource_type: metrics().resource_type.clone(),
        resource_labels: vec![
            label("location", &service.region),
            label("project_id", &service.project),
            label("service_name", &service.name),
        ],
    }
}

fn dashboard(scope: &str, title: &str, gpu: bool) -> Dashboard {
    let chart = |title: &str, series| Chart {
        title: title.to_string(),
        series: vec![series],
    };
    let by = |mut s: Series, label: &str| {
        s.group_by = vec![format!("metric.label.{label}")];
        s
    };
    let requests = series("requests", scope, "ALIGN_RATE", "REDUCE_SUM", "");
    let instances = series("instances", scope, "ALIGN_MAX", "REDUCE_SUM", "");
    let mut latency = chart("Request latency p50 and p99 (ms)", p99("latencies", scope));
    let mut p50 = p99("latencies", scope);
    p50.reducer = "REDUCE_PERCENTILE_50".to_string();
    latency.series.insert(0, p50);
    let mut charts = vec![
        chart(
            "Requests per second by response class",
            by(requests, "response_code_class"),
        ),
        latency,
        chart("Instances by state", by(instances, "state")),
        chart("CPU utilisation p99", p99("cpu", scope)),
        chart("Memory utilisation p99", p99("memory", scope)),
        chart("Container startup latency p99 (ms)", p99("startup", scope)),
    ];
    if gpu {
        charts.push(chart("GPU utilisation p99", p99("gpu", scope)));
    }
    Dashboard {
        display_name: format!("{title} (Cloud Run)"),
        charts,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::deployment;
    use super::*;

    /// Every series a policy or a chart reads.
    fn all_series(m: &Monitoring) -> Vec<&Series> {
        let policies = m
            .policies
            .iter()
            .flat_map(|p| std::iter::once(&p.condition.series).chain(&p.condition.denominator));
        let charts = m.dashboard.charts.iter().flat_map(|c| &c.series);
        policies.chain(charts).collect()
    }

    #[test]
    fn the_metric_list_parses_and_names_run_metrics() {
        let m = metrics();
        assert!(m.source.starts_with("https://cloud.google.com/"));
        assert!(
            m.metrics
                .values()
                .all(|x| x.kind_name.starts_with("run.googleapis.com/"))
        );
    }

    /// A GPU service with `[monitoring]`: every metric the model reads.
    const GPU: &str =
        "[resources]\ncpu = 4\nmemory = \"16Gi\"\ngpu = \"nvidia-l4\"\n[monitoring]\n";

    fn by_type() -> BTreeMap<&'static str, &'static Metric> {
        metrics()
            .metrics
            .values()
            .map(|x| (x.kind_name.as_str(), x))
            .collect()
    }

    #[test]
    fn aligners_and_labels_fit_each_metric() {
        let m = deployment(GPU).monitoring.unwrap();
        let by_type = by_type();
        assert!(
            all_series(&m)
                .iter()
                .any(|s| by_type[s.metric.as_str()].kind == "GAUGE"
                    && by_type[s.metric.as_str()].value == "DISTRIBUTION")
        );
        for s in all_series(&m) {
            let metric = by_type[s.metric.as_str()];
            if s.aligner == "ALIGN_RATE" || s.aligner == "ALIGN_DELTA" {
                assert_ne!(metric.kind, "GAUGE", "{s:?}");
            }
            if s.reducer.starts_with("REDUCE_PERCENTILE") {
                assert_eq!(metric.value, "DISTRIBUTION", "{s:?}");
            }
            for label in &s.group_by {
                let name = label.trim_start_matches("metric.label.");
                assert!(metric.labels.iter().any(|l| l == name), "{label}");
            }
        }
    }

    #[test]
    fn millisecond_thresholds_compare_millisecond_metrics() {
        let m = deployment(GPU).monitoring.unwrap();
        for key in ["latency", "startup"] {
            let p = m.policies.iter().find(|p| p.key == key).unwrap();
            assert_eq!(by_type()[p.condition.series.metric.as_str()].unit, "ms");
        }
    }

    #[test]
    fn nothing_without_the_table() {
        assert_eq!(deployment("").monitoring, None);
    }

    #[test]
    fn thresholds_default_from_the_spec() {
        let d = deployment("[scaling]\ntimeout = \"20s\"\nmax_instances = 7\n[monitoring]\n");
        let m = d.monitoring.unwrap();
        let t: BTreeMap<&str, (f64, &str)> = m
            .policies
            .iter()
            .map(|p| {
                (
                    p.key.as_str(),
                    (p.condition.threshold, p.condition.comparison.as_str()),
                )
            })
            .collect();
        assert_eq!(t["errors"], (0.01, "COMPARISON_GT"));
        assert_eq!(t["latency"], (10_000.0, "COMPARISON_GT"));
        assert_eq!(t["saturation"], (7.0, "COMPARISON_GE"));
        // The startup probe allows 48 x 5 s.
        assert_eq!(t["startup"], (120_000.0, "COMPARISON_GT"));
        assert!(m.channels.is_empty() && m.uptime_check.is_none());
    }

    #[test]
    fn written_thresholds_win_and_the_error_rate_is_a_ratio() {
        let d = deployment("[monitoring]\np99_ms = 800\nerror_rate = 0.05\n");
        let m = d.monitoring.unwrap();
        assert_eq!(m.policies[1].condition.threshold, 800.0);
        let errors = &m.policies[0].condition;
        assert_eq!(errors.threshold, 0.05);
        let denominator = errors.denominator.as_ref().unwrap();
        assert!(errors.series.filter.contains("response_code_class=\"5xx\""));
        assert!(!denominator.filter.contains("5xx"));
        assert_eq!(errors.series.metric, denominator.metric);
    }

    #[test]
    fn each_notify_target_is_one_channel_with_its_own_key() {
        let notify = "notify = [\"email:a.b@x.example\", \"email:a-b@x.example\"]";
        let m = deployment(&format!("[monitoring]\n{notify}\n"))
            .monitoring
            .unwrap();
        let keys: Vec<&str> = m.channels.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["email_a_b_x_example", "email_a_b_x_example_2"]);
        assert_eq!(m.channels[1].labels[0].value, "a-b@x.example");
        assert_eq!(m.channels[0].kind, "email");
    }

    #[test]
    fn only_a_public_service_gets_an_uptime_check() {
        let public = "[access]\npublic = true\n[monitoring]\n";
        let check = deployment(public).monitoring.unwrap().uptime_check.unwrap();
        assert_eq!(check.path, super::super::LIVE_PATH);
        let internal = "[access]\npublic = true\ningress = \"internal\"\n[monitoring]\n";
        assert_eq!(deployment(internal).monitoring.unwrap().uptime_check, None);
    }

    #[test]
    fn every_policy_and_chart_reads_a_listed_metric_of_this_service() {
        let d = deployment("[monitoring]\n");
        let m = d.monitoring.unwrap();
        let listed: Vec<&str> = metrics()
            .metrics
            .values()
            .map(|x| x.kind_name.as_str())
            .collect();
        for s in all_series(&m) {
            assert!(listed.contains(&s.metric.as_str()), "{}", s.metric);
            assert!(s.filter.contains("service_name=\"svc\""), "{}", s.filter);
        }
    }
}
