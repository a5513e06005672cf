//! The `[env]` and `[secrets]` tables: the service's environment, sorted by name.

use serde::{Deserialize, Serialize};

use crate::spec::Spec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretEnv {
    pub name: String,
    pub secret: String,
    pub version: String,
}

pub(super) fn plain(spec: &Spec) -> Vec<EnvVar> {
    spec.env
        .iter()
        .map(|(k, v)| EnvVar {
            name: k.get_ref().clone(),
            value: v.get_ref().clone(),
        })
        .collect()
}

pub(super) fn secrets(spec: &Spec) -> Vec<SecretEnv> {
    spec.secrets
        .iter()
        .map(|(k, v)| SecretEnv {
            name: k.get_ref().clone(),
            secret: v.get_ref().secret.clone(),
            version: v.get_ref().version.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixture::spec;
    use super::*;

    #[test]
    fn both_are_sorted_by_name() {
        let s = spec(
            "[env]\nZ = \"1\"\nA = \"2\"\n[secrets]\nY = { secret = \"y\", version = \"3\" }\nB = { secret = \"b\", version = \"latest\" }\n",
        );
        let names: Vec<_> = plain(&s).into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["A", "Z"]);
        let secrets = secrets(&s);
        assert_eq!(
            (
                secrets[0].name.as_str(),
                secrets[0].secret.as_str(),
                secrets[0].version.as_str()
            ),
            ("B", "b", "latest")
        );
    }
}
