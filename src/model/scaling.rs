//! The `[scaling]` table: instance counts, concurrency and the request timeout.

use serde::{Deserialize, Serialize};

use crate::spec::ScalingSpec;
use crate::spec::validate::Checked;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    pub min_instances: u32,
    pub max_instances: u32,
    pub concurrency: u32,
    pub timeout_seconds: u32,
    /// `300s`, the form Terraform and Pulumi take.
    pub timeout: String,
}

pub(super) fn resolve(spec: &ScalingSpec, checked: &Checked) -> Scaling {
    Scaling {
        min_instances: *spec.min_instances.get_ref() as u32,
        max_instances: *spec.max_instances.get_ref() as u32,
        concurrency: *spec.concurrency.get_ref() as u32,
        timeout_seconds: checked.timeout_s,
        timeout: format!("{}s", checked.timeout_s),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{checked, spec};
    use super::*;

    #[test]
    fn timeout_in_both_forms() {
        let s = spec("[scaling]\ntimeout = \"2m\"\nmax_instances = 3\n");
        let got = resolve(&s.scaling, &checked(&s));
        assert_eq!((got.timeout_seconds, got.timeout.as_str()), (120, "120s"));
        assert_eq!((got.min_instances, got.max_instances), (0, 3));
    }
}
