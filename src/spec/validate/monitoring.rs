//! `[monitoring]`: where alerts go and when they fire.

use std::collections::BTreeSet;

use toml::Spanned;

use super::Checker;
use super::ids::is_email;
use crate::spec::MonitoringSpec;

/// Channel kinds mlgen creates: those the Monitoring API delivers to without a secret or a
/// grant of its own (Slack needs a token, Pub/Sub a publisher grant to Monitoring's agent).
const CHANNEL_KINDS: [&str; 1] = ["email"];

/// Checks the table against the request timeout it alerts within.
pub(super) fn check(c: &mut Checker, m: Option<&MonitoringSpec>, timeout_s: u32) {
    let Some(m) = m else {
        return;
    };
    let mut seen = BTreeSet::new();
    for target in &m.notify {
        if let Err(help) = check_target(target.get_ref()) {
            let message = format!("`{}` is not a notification target", target.get_ref());
            c.err("monitoring.notify", target.span(), message, help);
        } else if !seen.insert(target.get_ref().as_str()) {
            let message = format!("`{}` is listed twice", target.get_ref());
            c.err(
                "monitoring.notify",
                target.span(),
                message,
                "list each target once",
            );
        }
    }
    if let Some(p99) = &m.p99_ms {
        check_p99(c, p99, timeout_s);
    }
    let rate = *m.error_rate.get_ref();
    if !(rate > 0.0 && rate < 1.0) {
        c.err(
            "monitoring.error_rate",
            m.error_rate.span(),
            format!("error_rate {rate} is not a share between 0 and 1"),
            "give the share of requests answered with a 5xx status that should alert, e.g. `0.01` for 1%",
        );
    }
}

/// `KIND:ADDRESS`, of a kind mlgen creates.
fn check_target(target: &str) -> Result<(), String> {
    let kinds = CHANNEL_KINDS.join(", ");
    match target.split_once(':') {
        Some(("email", address)) if is_email(address) => Ok(()),
        Some(("email", _)) => Err("give an email address, e.g. `email:oncall@example.com`".into()),
        Some((kind, _)) => Err(format!(
            "mlgen creates channels of these kinds: {kinds}; `{kind}` needs a secret or a grant, so create it yourself"
        )),
        None => Err(format!(
            "write KIND:ADDRESS with a kind of {kinds}, e.g. `email:oncall@example.com`"
        )),
    }
}

/// A p99 above the request timeout cannot happen: Cloud Run ends requests there.
fn check_p99(c: &mut Checker, p99: &Spanned<i64>, timeout_s: u32) {
    let ms = *p99.get_ref();
    let timeout_ms = i64::from(timeout_s) * 1000;
    if ms <= 0 {
        c.err(
            "monitoring.p99_ms",
            p99.span(),
            format!("p99_ms {ms} is not a positive number of milliseconds"),
            "give the request latency in milliseconds that the slowest 1% of requests should stay under",
        );
    } else if ms >= timeout_ms {
        c.err(
            "monitoring.p99_ms",
            p99.span(),
            format!("p99_ms {ms} is not below the request timeout ({timeout_s}s)"),
            format!(
                "requests end at the timeout, so this alert could never fire; use less than {timeout_ms}, or leave it out for half the timeout"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{keys, run, spec};
    use super::*;

    fn problems(table: &str) -> Vec<String> {
        let s = spec(
            "[service_account]",
            &format!("[monitoring]\n{table}\n[service_account]"),
        );
        keys(|c| check(c, s.monitoring.as_ref(), 300))
    }

    #[test]
    fn a_spec_without_the_table_has_nothing_to_check() {
        let s = spec("[service_account]", "[service_account]");
        assert!(s.monitoring.is_none());
        assert!(keys(|c| check(c, s.monitoring.as_ref(), 300)).is_empty());
    }

    #[test]
    fn email_targets_are_accepted_once() {
        assert!(problems("notify = [\"email:oncall@acme.example\"]").is_empty());
        assert!(problems("").is_empty());
        let twice = "notify = [\"email:a@acme.example\", \"email:a@acme.example\"]";
        assert_eq!(problems(twice), ["monitoring.notify"]);
    }

    #[test]
    fn other_kinds_and_bad_addresses_are_refused_at_the_value() {
        for bad in ["slack:#ops", "email:not-an-address", "oncall@acme.example"] {
            let s = spec(
                "[service_account]",
                &format!("[monitoring]\nnotify = [\"{bad}\"]\n[service_account]"),
            );
            let d = run(|c| check(c, s.monitoring.as_ref(), 300));
            assert_eq!(d.len(), 1, "{bad}");
            assert_eq!(d[0].key, "monitoring.notify");
            assert!(
                !d[0].span.is_empty(),
                "{bad}: the error points at the value"
            );
        }
    }

    #[test]
    fn p99_must_be_positive_and_below_the_timeout() {
        assert!(problems("p99_ms = 299999").is_empty());
        for bad in ["0", "-5", "300000"] {
            assert_eq!(
                problems(&format!("p99_ms = {bad}")),
                ["monitoring.p99_ms"],
                "{bad}"
            );
        }
    }

    #[test]
    fn error_rate_is_a_share_strictly_between_0_and_1() {
        assert!(problems("error_rate = 0.05").is_empty());
        for bad in ["0", "1", "1.5", "-0.1", "nan"] {
            assert_eq!(
                problems(&format!("error_rate = {bad}")),
                ["monitoring.error_rate"],
                "{bad}"
            );
        }
    }
}
