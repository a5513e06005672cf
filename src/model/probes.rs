//! The service's startup and liveness probes: fixed by mlgen, they call the app's routes.
//!
//! Each target spells a probe as its HTTP check plus [`Probe::settings`], so a setting is
//! added or changed here once and every target follows.

use serde::{Deserialize, Serialize};

/// Serving routes, shared by the app and the probes.
pub const READY_PATH: &str = "/ready";
/// Not `/healthz`: Cloud Run reserves paths ending in `z` for its own use.
pub const LIVE_PATH: &str = "/live";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probes {
    pub startup: Probe,
    pub liveness: Probe,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub path: String,
    pub port: u16,
    pub initial_delay_seconds: u32,
    pub period_seconds: u32,
    pub timeout_seconds: u32,
    pub failure_threshold: u32,
}

/// One numeric probe setting, named as the Cloud Run API names it (`period_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSetting {
    pub name: &'static str,
    pub value: u32,
}

impl Probe {
    /// Every setting besides the HTTP check, in the order the targets write them.
    pub fn settings(&self) -> [ProbeSetting; 4] {
        let s = |name, value| ProbeSetting { name, value };
        [
            s("initial_delay_seconds", self.initial_delay_seconds),
            s("period_seconds", self.period_seconds),
            s("timeout_seconds", self.timeout_seconds),
            s("failure_threshold", self.failure_threshold),
        ]
    }
}

impl Probes {
    pub(super) fn on_port(port: u16) -> Self {
        Probes {
            // Startup window: 48 x 5 s = 240 s, the documented maximum for services.
            startup: Probe {
                path: READY_PATH.to_string(),
                port,
                initial_delay_seconds: 0,
                period_seconds: 5,
                timeout_seconds: 3,
                failure_threshold: 48,
            },
            liveness: Probe {
                path: LIVE_PATH.to_string(),
                port,
                initial_delay_seconds: 0,
                period_seconds: 30,
                timeout_seconds: 5,
                failure_threshold: 3,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_every_numeric_field_once() {
        let p = Probes::on_port(9000).startup;
        let json = serde_json::to_value(&p).unwrap();
        let fields = json.as_object().unwrap();
        let settings = p.settings();
        // Every field but the HTTP check's path and port is a setting, with its value.
        assert_eq!(settings.len(), fields.len() - 2);
        for s in settings {
            assert_eq!(fields[s.name], s.value, "{}", s.name);
        }
        assert_eq!((p.path.as_str(), p.port), (READY_PATH, 9000));
    }

    #[test]
    fn the_startup_window_is_the_services_maximum() {
        let p = Probes::on_port(8080).startup;
        assert_eq!(p.period_seconds * p.failure_threshold, 240);
    }
}
