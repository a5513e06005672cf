//! `[service]`: the Cloud Run service's name, project, region, description and labels.

use super::Checker;
use super::ids::{is_label, is_project_id, is_service_name, service_name_like};
use crate::diagnostics::suggest;
use crate::platform::platform;
use crate::spec::ServiceSpec;

pub(super) fn check(c: &mut Checker, s: &ServiceSpec) {
    let name = &s.name;
    if !is_service_name(name.get_ref()) {
        c.err(
            "service.name",
            name.span(),
            format!("`{}` is not a valid Cloud Run service name", name.get_ref()),
            format!(
                "use 1-49 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen, e.g. `{}`",
                service_name_like(name.get_ref())
            ),
        );
    }
    let project = &s.project;
    if !is_project_id(project.get_ref()) {
        c.err(
            "service.project",
            project.span(),
            format!("`{}` is not a valid GCP project id", project.get_ref()),
            "a project id has 6-30 lowercase letters, digits and hyphens, starts with a letter and does not end with a hyphen",
        );
    }
    check_region(c, s);
    if let Some(d) = &s.description {
        c.free_text("service.description", d, 512);
    }
    check_labels(c, s);
}

fn check_region(c: &mut Checker, s: &ServiceSpec) {
    let regions = &platform().regions;
    let region = &s.region;
    if !regions.iter().any(|r| r == region.get_ref()) {
        let hint = suggest(region.get_ref(), regions.iter().map(String::as_str))
            .map(|s| format!("did you mean `{s}`? "))
            .unwrap_or_default();
        c.err(
            "service.region",
            region.span(),
            format!("`{}` is not a Cloud Run region", region.get_ref()),
            format!("{hint}Cloud Run regions: {}", regions.join(", ")),
        );
    }
}

fn check_labels(c: &mut Checker, s: &ServiceSpec) {
    let labels = &s.labels;
    if labels.len() > 64 {
        let first = labels.keys().next().map(|k| k.span()).unwrap_or(0..0);
        c.err(
            "service.labels",
            first,
            format!("{} labels is too many", labels.len()),
            "GCP allows at most 64 labels per resource",
        );
    }
    for (k, v) in labels {
        let key = format!("service.labels.{}", k.get_ref());
        if !is_label(k.get_ref(), true) {
            c.err(
                &key,
                k.span(),
                format!("`{}` is not a valid label key", k.get_ref()),
                "label keys have 1-63 lowercase letters, digits, `_` and `-`, and start with a lowercase letter",
            );
        }
        if !is_label(v.get_ref(), false) {
            c.err(
                &key,
                v.span(),
                format!("`{}` is not a valid label value", v.get_ref()),
                "label values have up to 63 lowercase letters, digits, `_` and `-`",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{keys, spec};
    use super::*;

    fn service_keys(from: &str, to: &str) -> Vec<String> {
        keys(|c| check(c, &spec(from, to).service))
    }

    #[test]
    fn names_projects_regions_and_labels() {
        assert!(service_keys("team", "team").is_empty());
        assert_eq!(
            service_keys("\"iris-classifier\"", "\"Iris\""),
            ["service.name"]
        );
        assert_eq!(
            service_keys("\"acme-ml-prod\"", "\"acme\""),
            ["service.project"]
        );
        assert_eq!(
            service_keys("\"europe-west1\"", "\"europe-wset1\""),
            ["service.region"]
        );
        assert_eq!(
            service_keys("team = \"ml\"", "Team = \"ML\""),
            ["service.labels.Team"; 2]
        );
    }
}
