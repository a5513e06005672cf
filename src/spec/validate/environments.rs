//! Checks across `[environments]`: what one environment cannot see alone.

use super::Checked;
use crate::diagnostics::Diagnostic;
use crate::spec::Spec;

/// The errors across environments; warnings go to the environment they concern.
pub fn check(specs: &mut [(Spec, Checked)]) -> Vec<Diagnostic> {
    if let [(first, _), later @ ..] = specs {
        for (spec, checked) in later {
            checked.warnings.extend(unused_repository(first, spec));
        }
    }
    same_service(specs)
}

/// A later environment runs the image the first one built, from the first one's
/// repository: a repository of its own would never be used.
fn unused_repository(first: &Spec, later: &Spec) -> Option<Diagnostic> {
    let (Some(built), Some(own)) = (&first.image.repository, &later.image.repository) else {
        return None;
    };
    let (from, env) = (first.environment.as_ref()?, later.environment.as_ref()?);
    (built.span() != own.span() && first.image.url.is_none()).then(|| {
        Diagnostic::new(
            "image.repository",
            own.span(),
            format!(
                "`{}` runs the image `{}` builds, from `{}`'s repository: this one is not used",
                env.name, from.name, from.name
            ),
        )
        .label("not used")
        .help(format!(
            "remove it; set the repository in the spec's `[image]` or `[environments.{}.image]`",
            from.name
        ))
        .warning()
    })
}

/// Two environments in one project and region would be one Cloud Run service, since the
/// service name cannot vary: the later one is reported at its name.
fn same_service(specs: &[(Spec, Checked)]) -> Vec<Diagnostic> {
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
