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
    let mut errors = same_service(specs);
    if let [(first, _), later @ ..] = &*specs {
        errors.extend(later.iter().filter_map(|(spec, _)| other_gpu(first, spec)));
    }
    errors
}

/// The image is built once, by the first environment, with a GPU's packages or without:
/// a later environment that adds a GPU would run an image built without them. (An override
/// can add or change a key, never remove one, so a later environment cannot drop the GPU.)
fn other_gpu(first: &Spec, later: &Spec) -> Option<Diagnostic> {
    let gpu = later
        .resources
        .gpu
        .as_ref()
        .filter(|_| first.resources.gpu.is_none())?;
    let (from, env) = (first.environment.as_ref()?, later.environment.as_ref()?);
    Some(
        Diagnostic::new(
            "resources.gpu",
            gpu.span(),
            format!(
                "`{}` adds a GPU, but runs the image `{}` builds without one: the GPU's packages are not in it",
                env.name, from.name
            ),
        )
        .label("not in the building environment")
        .help(format!(
            "set `gpu` in the spec's `[resources]`, so that `{}` builds for it, or leave it out here",
            from.name
        )),
    )
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
