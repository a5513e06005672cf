//! `[cost]`: the inputs of the estimate `plan` prints, checked like the rest of the spec.

use super::Checker;
use crate::spec::CostSpec;

/// `mean_request_ms` is a positive, finite number of milliseconds.
pub(super) fn check(c: &mut Checker, cost: &CostSpec) {
    let Some(ms) = &cost.mean_request_ms else {
        return;
    };
    let v = *ms.get_ref();
    if !(v.is_finite() && v > 0.0) {
        c.err(
            "cost.mean_request_ms",
            ms.span(),
            format!("mean_request_ms {v} is not a positive duration"),
            "give the mean time one request takes, in milliseconds, e.g. `25`; leave it out to use the benchmark's figure for the framework",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::diagnostics::Diagnostic;
    use crate::spec::Spec;

    fn problems(cost: &str) -> Vec<Diagnostic> {
        let base = include_str!("../../../examples/iris-sklearn/mlgen.toml");
        let spec: Spec = toml::from_str(&format!("{base}\n[cost]\n{cost}\n")).unwrap();
        let mut c = Checker::default();
        check(&mut c, &spec.cost);
        c.out
    }

    #[test]
    fn mean_request_ms_must_be_a_positive_number() {
        assert!(problems("").is_empty());
        assert!(problems("mean_request_ms = 12").is_empty());
        assert!(problems("mean_request_ms = 0.5").is_empty());
        for bad in ["0", "-3.5", "nan", "inf"] {
            let d = problems(&format!("mean_request_ms = {bad}"));
            assert_eq!(d.len(), 1, "{bad}");
            assert_eq!(d[0].key, "cost.mean_request_ms");
            assert!(
                !d[0].span.is_empty(),
                "{bad}: the error points at the value"
            );
        }
    }
}
