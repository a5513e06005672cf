//! Cloud Monitoring in every target, only with `[monitoring]`: `terraform/monitoring.tf`
//! (with the dashboard document beside it), the alert policies, channels, uptime check and
//! dashboard in the Pulumi program (`templates/pulumi/_monitoring.py`, included by
//! `__main__.py`), and for gcloud `gcloud/monitoring.sh` with the JSON documents it sends,
//! in `gcloud/monitoring/`.
//!
//! Kept apart from the main files of each target: the service deploys without it, and a
//! spec without the table renders exactly what it did before.

use askama::Template;
use serde_json::{Value, json};

use super::terraform::align;
use super::{add, add_text, render_one};
use crate::error::Error;
use crate::model::{AlertPolicy, Channel, Deployment, Monitoring};
use crate::tree::Tree;

/// The dashboard document, beside `monitoring.tf` and in `gcloud/monitoring/`.
const DASHBOARD: &str = "dashboard.json";
/// The APIs' resource in main.tf, which every monitoring resource waits for (the Terraform
/// validator fails on a reference to anything main.tf does not declare).
const TF_APIS: &str = "google_project_service.apis";
/// The gcloud documents' folder, beside the scripts.
const GCLOUD_DIR: &str = "gcloud/monitoring";

#[derive(Template)]
#[template(path = "terraform/monitoring.tf")]
struct Terraform<'a> {
    d: &'a Deployment,
    m: &'a Monitoring,
    dashboard_file: &'static str,
    apis: &'static str,
}

/// Something the gcloud script sends from a JSON document, and that document's file name.
struct Doc<'a, T> {
    item: &'a T,
    file: String,
}

#[derive(Template)]
#[template(path = "gcloud/monitoring.sh")]
struct Script<'a> {
    d: &'a Deployment,
    m: &'a Monitoring,
    channels: Vec<Doc<'a, Channel>>,
    policies: Vec<Doc<'a, AlertPolicy>>,
    dashboard_file: &'static str,
    /// gcloud takes the period in minutes, the resource type in kebab-case and the labels
    /// as one KEY=VALUE list.
    uptime_period_minutes: u32,
    uptime_resource_type: String,
    uptime_resource_labels: String,
}

pub fn render(d: &Deployment, tree: &mut Tree) -> Result<(), Error> {
    let Some(m) = &d.monitoring else {
        return Ok(());
    };
    let dashboard = m.dashboard.api_json();
    let tf = Terraform {
        d,
        m,
        dashboard_file: DASHBOARD,
        apis: TF_APIS,
    };
    let body = render_one("terraform/monitoring.tf", &tf)?;
    add_text(tree, d, "terraform/monitoring.tf", &align(&body));
    tree.add(format!("terraform/{DASHBOARD}"), &dashboard);
    gcloud(d, m, tree, &dashboard)
}

fn gcloud(d: &Deployment, m: &Monitoring, tree: &mut Tree, dashboard: &str) -> Result<(), Error> {
    let doc = |kind: &str, key: &str| format!("{kind}-{key}.json");
    let channels: Vec<Doc<Channel>> = m
        .channels
        .iter()
        .map(|c| Doc {
            item: c,
            file: doc("channel", &c.key),
        })
        .collect();
    let policies: Vec<Doc<AlertPolicy>> = m
        .policies
        .iter()
        .map(|p| Doc {
            item: p,
            file: doc("policy", &p.key),
        })
        .collect();
    for c in &channels {
        tree.add(
            format!("{GCLOUD_DIR}/{}", c.file),
            &pretty(&channel_json(c.item)),
        );
    }
    for p in &policies {
        tree.add(
            format!("{GCLOUD_DIR}/{}", p.file),
            &pretty(&policy_json(p.item)),
        );
    }
    tree.add(format!("{GCLOUD_DIR}/{DASHBOARD}"), dashboard);
    let uptime = m.uptime_check.as_ref();
    let script = Script {
        d,
        m,
        channels,
        policies,
        dashboard_file: DASHBOARD,
        uptime_period_minutes: uptime.map_or(0, |u| u.period_seconds / 60),
        uptime_resource_type: uptime.map_or(String::new(), |u| u.resource_type.replace('_', "-")),
        uptime_resource_labels: uptime.map_or(String::new(), |u| {
            let pairs: Vec<String> = u
                .resource_labels
                .iter()
                .map(|l| format!("{}={}", l.key, l.value))
                .collect();
            pairs.join(",")
        }),
    };
    add(
        tree,
        d,
        "gcloud/monitoring.sh",
        "gcloud/monitoring.sh",
        &script,
    )
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("a JSON value serialises") + "\n"
}

/// The API's `NotificationChannel`.
fn channel_json(c: &Channel) -> Value {
    let labels: serde_json::Map<String, Value> = c
        .labels
        .iter()
        .map(|l| (l.key.clone(), json!(l.value)))
        .collect();
    json!({"type": c.kind, "displayName": c.display_name, "labels": labels})
}

/// The API's `AlertPolicy`; the script adds the channels, whose names the API assigns.
fn policy_json(p: &AlertPolicy) -> Value {
    let c = &p.condition;
    let mut threshold = json!({
        "filter": c.series.filter,
        "aggregations": [c.series.api_aggregation()],
        "comparison": c.comparison,
        "thresholdValue": c.threshold,
        "duration": c.duration,
        "trigger": {"count": 1},
    });
    if let Some(den) = &c.denominator {
        threshold["denominatorFilter"] = json!(den.filter);
        threshold["denominatorAggregations"] = json!([den.api_aggregation()]);
    }
    json!({
        "displayName": p.display_name,
        "combiner": "OR",
        "documentation": {"content": p.documentation, "mimeType": "text/markdown"},
        "conditions": [{"displayName": c.display_name, "conditionThreshold": threshold}],
    })
}
