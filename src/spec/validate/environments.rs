//! Checks across `[environments]`: what one environment cannot see alone.

use super::Checked;
use crate::diagnostics::Diagnostic;
use crate::spec::Spec;

/// Two environments in one project and region would be one Cloud Run service, since the
/// service name cannot vary: the later one is reported at its name.
pub fn check(specs: &[(Spec, Checked)]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, (later, _)) in specs.iter().enumerate() {
        let Some(env) = &later.environment else {
            continue;
        };
        let place = |s: &Spec| {
            (
                s.service.project.get_ref().clone(),
                s.service.region.get_ref().clone(),
            )
        };
        let Some(earlier) = specs[..i]
            .iter()
            .find(|(s, _)| place(s) == place(later))
            .and_then(|(s, _)| s.environment.as_ref())
        else {
            continue;
        };
        let (project, region) = place(later);
        out.push(
            Diagnostic::new(
                format!("environments.{}", env.name),
                env.span.clone(),
                format!(
                    "`{}` deploys to project `{project}`, region `{region}`, as `{}` does: both would be one service",
                    env.name, earlier.name
                ),
            )
            .label("same project and region")
            .help(format!(
                "give it its own project or region, e.g. `[environments.{}.service]` with `project = \"…\"`",
                env.name
            )),
        );
    }
    out
}
