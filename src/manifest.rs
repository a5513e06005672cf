//! The record of what `apply` wrote: path and content hash of every file mlgen owns.
//!
//! It lets `plan` tell a spec change from a hand edit, and lets `apply` remove files the
//! spec no longer produces without ever touching files it did not write.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Refusal};

/// File name of the manifest inside the output folder.
pub const FILE: &str = ".mlgen-manifest.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version of this file.
    pub version: u32,
    /// In an environment's folder, whose it is: once the spec no longer names the
    /// environment, this tells its folder from one that another spec or tool wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentOf>,
    /// Relative path → sha256 of the content as written.
    pub files: BTreeMap<String, String>,
}

/// The environment of a spec that an output folder was written for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentOf {
    /// The spec's file name.
    pub spec: String,
    /// The environment's name, which is also the folder's.
    pub name: String,
}

impl Manifest {
    pub fn new(files: BTreeMap<String, String>, environment: Option<EnvironmentOf>) -> Self {
        Manifest {
            version: 1,
            environment,
            files,
        }
    }

    /// Reads the manifest of `out_dir`; a missing one is empty.
    pub fn load(out_dir: &Path) -> Result<Self, Error> {
        let path = out_dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                let reason = e.to_string();
                Refusal::BadManifest { path, reason }.into()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Manifest::new(BTreeMap::new(), None))
            }
            Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("manifest serialises");
        s.push('\n');
        s
    }
}

/// Hex sha256 of `bytes`.
pub fn hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
