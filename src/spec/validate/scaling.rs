//! `[scaling]`: instance counts, concurrency and request timeout.

use super::quantities::parse_duration;
use super::{Checker, span_or};
use crate::spec::{ResourcesSpec, ScalingSpec};

/// Checks the table; returns the request timeout in seconds (300 when invalid).
pub(super) fn check(c: &mut Checker, s: &ScalingSpec, r: &ResourcesSpec, millicpu: u32) -> u32 {
    check_instances(c, s);
    if !(1..=1000).contains(s.concurrency.get_ref()) {
        c.err(
            "scaling.concurrency",
            s.concurrency.span(),
            format!("concurrency {} is out of range", s.concurrency.get_ref()),
            "Cloud Run accepts 1 to 1000 concurrent requests per instance",
        );
    } else if millicpu < 1000 && *s.concurrency.get_ref() != 1 {
        c.err(
            "scaling.concurrency",
            span_or(s.concurrency.span(), r.cpu.span()),
            "a fractional CPU needs concurrency 1".into(),
            "set `concurrency = 1`, or use `cpu = 1` or more",
        );
    }
    match parse_duration(s.timeout.get_ref()) {
        Some(t) if (1..=3600).contains(&t) => t,
        _ => {
            c.err(
                "scaling.timeout",
                s.timeout.span(),
                format!("`{}` is not a valid request timeout", s.timeout.get_ref()),
                "use a duration from `1s` to `3600s`, written in seconds, minutes or hours: `300s`, `15m`, `1h`",
            );
            300
        }
    }
}

fn check_instances(c: &mut Checker, s: &ScalingSpec) {
    let (min, max) = (*s.min_instances.get_ref(), *s.max_instances.get_ref());
    if min < 0 {
        c.err(
            "scaling.min_instances",
            s.min_instances.span(),
            "min_instances cannot be negative".into(),
            "use 0 to scale to zero, or a positive number to keep instances warm",
        );
    }
    if !(1..=1000).contains(&max) {
        c.err(
            "scaling.max_instances",
            s.max_instances.span(),
            format!("max_instances {max} is out of range"),
            "use 1 to 1000 (your regional quota may be lower)",
        );
    }
    if min > max {
        c.err(
            "scaling.min_instances",
            s.min_instances.span(),
            format!("min_instances ({min}) is greater than max_instances ({max})"),
            "min_instances must be at most max_instances",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{edited, keys};
    use super::*;

    fn scaling_keys(edits: &[(&str, &str)], millicpu: u32) -> Vec<String> {
        let s = edited(edits);
        keys(|c| check(c, &s.scaling, &s.resources, millicpu))
    }

    #[test]
    fn counts_concurrency_and_timeout() {
        assert!(scaling_keys(&[], 1000).is_empty());
        assert_eq!(
            scaling_keys(&[("min_instances = 0", "min_instances = 11")], 1000),
            ["scaling.min_instances"]
        );
        assert_eq!(scaling_keys(&[], 500), ["scaling.concurrency"]);
        assert_eq!(
            scaling_keys(&[("\"300s\"", "\"2h\"")], 1000),
            ["scaling.timeout"]
        );
        let s = edited(&[("\"300s\"", "\"15m\"")]);
        assert_eq!(
            check(&mut Checker::default(), &s.scaling, &s.resources, 1000),
            900
        );
    }
}
