//! One function per subcommand; each returns the exit status.

mod ci_root;
mod init;
mod lock;
mod man;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{ApplyArgs, Cli, ColorChoice, Command, Format, PlanArgs, RenderArgs, SpecArg};
use crate::error::{Error, Refusal};
use crate::output::{self, report};
use clap::CommandFactory;

use crate::diagnostics::Warnings;
use crate::tree::Tree;
use crate::{cost, discover, parallel, pipeline, plan, schema, write};

/// Exit codes, documented in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    Error = 1,
    /// `plan --check` only: files would change.
    ChangesPending = 2,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(s as u8)
    }
}

pub fn run(cli: Cli) -> ExitStatus {
    let choice = match cli.color {
        ColorChoice::Auto => anstream::ColorChoice::Auto,
        ColorChoice::Always => anstream::ColorChoice::Always,
        ColorChoice::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
    let result = match cli.command {
        Command::Render(a) => render(a),
        Command::Plan(a) => plan_cmd(a),
        Command::Apply(a) => apply(a),
        Command::Validate(a) => validate(a),
        Command::Init(a) => init::run(a),
        Command::Model(a) => model(a),
        Command::Schema => print(&schema::json()),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "mlgen", &mut buf);
            print(&String::from_utf8_lossy(&buf))
        }
        Command::Man => print(&man::page()),
        Command::Lock(a) => lock::run(a),
    };
    match result {
        Ok(s) => s,
        Err(e) => {
            report(&e);
            ExitStatus::Error
        }
    }
}

/// stdout, with colour stripped unless it is wanted (`--color`, terminal, `NO_COLOR`).
fn out() -> anstream::AutoStream<std::io::Stdout> {
    anstream::stdout()
}

/// A closed pipe (`mlgen render | head`) is not an error.
fn ignore_pipe(r: std::io::Result<()>) -> Result<(), Error> {
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::io("cannot write to standard output", e))
        }
        _ => Ok(()),
    }
}

fn print(text: &str) -> Result<ExitStatus, Error> {
    ignore_pipe(write!(out(), "{text}"))?;
    Ok(ExitStatus::Success)
}

fn render(a: RenderArgs) -> Result<ExitStatus, Error> {
    let all = pipeline::prepare(&discover::one(&a.spec)?, a.out.as_deref(), a.env.as_deref())?;
    for p in &all {
        output::warn(&p.warnings);
        match &a.out {
            Some(_) => {
                write::export(&p.tree, &p.out_dir)?;
                eprintln!("Wrote {} files to {}.", p.tree.len(), p.out_dir.display());
            }
            None => {
                // An environment's files are named from the output folder, as on disk.
                let folder = p.environment.as_ref().map(|e| format!("{e}/"));
                let mut o = out();
                ignore_pipe((|| {
                    for (path, content) in p.tree.iter() {
                        writeln!(o, "==> {}{path} <==", folder.as_deref().unwrap_or(""))?;
                        write!(o, "{content}")?;
                        writeln!(o)?;
                    }
                    Ok(())
                })())?;
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// What a plan or apply is reported under: the spec, and the environment when it has some.
struct Unit {
    spec: PathBuf,
    environment: Option<String>,
    /// A folder whose owned files the spec no longer produces, to remove: the output
    /// folder's from before the spec had environments, or an environment's it no longer names.
    retired: bool,
}

impl Unit {
    fn title(&self) -> String {
        match (&self.environment, self.retired) {
            (Some(env), true) => format!("{} [{env}, no longer in the spec]", self.spec.display()),
            (Some(env), false) => format!("{} [{env}]", self.spec.display()),
            (None, true) => format!("{} [from before its environments]", self.spec.display()),
            (None, false) => self.spec.display().to_string(),
        }
    }
}

/// Runs `each` on every environment of every spec, the specs in parallel, and `retire` on
/// each folder that still owns files the spec no longer produces (unless `--env` picks one
/// environment); a spec that fails to prepare is one failed unit.
fn for_each_environment<T: Send>(
    specs: &[PathBuf],
    out: Option<&Path>,
    env: Option<&str>,
    each: impl Fn(&Path, pipeline::Prepared) -> Result<T, Error> + Sync,
    retire: impl Fn(&pipeline::Retired) -> Result<T, Error> + Sync,
) -> Vec<(Unit, Result<T, Error>)> {
    let results = parallel::map(specs, |spec| {
        let all = pipeline::prepare(spec, out, env)?;
        let retired = match env {
            None => pipeline::retired_outputs(&all)?,
            Some(_) => Vec::new(),
        };
        let mut units: Vec<_> = all
            .into_iter()
            .map(|p| (p.environment.clone(), false, each(spec, p)))
            .collect();
        units.extend(
            retired
                .into_iter()
                .map(|r| (r.environment.clone(), true, retire(&r))),
        );
        Ok::<_, Error>(units)
    });
    specs
        .iter()
        .zip(results)
        .flat_map(|(spec, r)| {
            let unit = |environment, retired| Unit {
                spec: spec.clone(),
                environment,
                retired,
            };
            match r {
                Ok(all) => all
                    .into_iter()
                    .map(|(e, retired, r)| (unit(e, retired), r))
                    .collect(),
                Err(e) => vec![(unit(None, false), Err(e))],
            }
        })
        .collect()
}

/// What the summary line counts: specs, or output folders once environments are involved.
fn unit_word(units: &[(Unit, impl Sized)]) -> &'static str {
    if units.iter().any(|(u, _)| u.environment.is_some()) {
        "output folders"
    } else {
        "specs"
    }
}

/// The ci root goes with the deployment that carries the pipeline: the spec's, or its first
/// environment's; `--env` with a later one leaves it alone.
fn ci_root_of<'a>(p: &pipeline::Prepared, ci_root: Option<&'a Path>) -> Option<&'a Path> {
    ci_root.filter(|_| p.pipeline_here)
}

/// The specs named on the command line; `--out` only makes sense for one.
fn spec_list(specs: &[PathBuf], out: Option<&Path>) -> Result<Vec<PathBuf>, Error> {
    let list = discover::specs(specs)?;
    if out.is_some() && list.len() != 1 {
        let count = list.len();
        return Err(Refusal::OutWithSeveralSpecs { count }.into());
    }
    Ok(list)
}

fn plan_cmd(a: PlanArgs) -> Result<ExitStatus, Error> {
    let specs = spec_list(&a.specs, a.out.as_deref().or(a.ci_root.as_deref()))?;
    let each = |spec: &Path, p: pipeline::Prepared| {
        let ci_root = ci_root_of(&p, a.ci_root.as_deref());
        ci_root::check(ci_root, spec, &p.deployment)?;
        let plan = ci_root::plan(&p.tree, &p.out_dir, ci_root)?;
        let recorded = plan
            .changes
            .iter()
            .find(|c| c.path == cost::FILE)
            .and_then(|c| c.old.as_deref());
        let report = cost::Report::new(p.deployment.cost.clone(), recorded);
        Ok((plan, Some(report), p.warnings))
    };
    let retire = |r: &pipeline::Retired| {
        Ok((
            plan::plan(&Tree::default(), &r.dir)?,
            None,
            Warnings::default(),
        ))
    };
    let results = for_each_environment(&specs, a.out.as_deref(), a.env.as_deref(), each, retire);
    let mut o = out();
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    let current = results
        .iter()
        .all(|(_, r)| r.as_ref().is_ok_and(|(p, ..)| p.is_current()));
    match a.format {
        Format::Json => {
            let plans: Vec<serde_json::Value> = results
                .iter()
                .map(|(unit, r)| {
                    let mut v = match r {
                        Ok((plan, cost, warnings)) => {
                            output::plan_json(plan, cost.as_ref(), warnings, &unit.spec)
                        }
                        Err(e) => output::error_json(e, &unit.spec),
                    };
                    if let Some(env) = &unit.environment {
                        v["environment"] = env.clone().into();
                    }
                    if unit.retired {
                        v["retired"] = true.into();
                    }
                    v
                })
                .collect();
            let v = serde_json::json!({ "version": 1, "current": current && failed == 0, "plans": plans });
            ignore_pipe(writeln!(
                o,
                "{}",
                serde_json::to_string_pretty(&v).expect("plan serialises")
            ))?;
        }
        Format::Text => {
            let many = results.len() > 1;
            for (unit, r) in &results {
                if many {
                    ignore_pipe(writeln!(o, "==> {} <==", unit.title()))?;
                }
                match r {
                    Ok((plan, cost, warnings)) => {
                        let _ = o.flush();
                        output::warn(warnings);
                        ignore_pipe(output::plan_text(plan, cost.as_ref(), &mut o))?
                    }
                    Err(e) => {
                        let _ = o.flush();
                        report(e);
                    }
                }
                if many {
                    ignore_pipe(writeln!(o))?;
                }
            }
            if many {
                let changed = results
                    .iter()
                    .filter(|(_, r)| r.as_ref().is_ok_and(|(p, ..)| !p.is_current()))
                    .count();
                ignore_pipe(writeln!(
                    o,
                    "{} {}: {changed} with changes, {} up to date, {failed} failed.",
                    results.len(),
                    unit_word(&results),
                    results.len() - changed - failed
                ))?;
            }
        }
    }
    Ok(if failed > 0 {
        ExitStatus::Error
    } else if a.check && !current {
        ExitStatus::ChangesPending
    } else {
        ExitStatus::Success
    })
}

fn apply(a: ApplyArgs) -> Result<ExitStatus, Error> {
    let specs = spec_list(&a.specs, a.out.as_deref().or(a.ci_root.as_deref()))?;
    let each = |spec: &Path, p: pipeline::Prepared| {
        let ci_root = ci_root_of(&p, a.ci_root.as_deref());
        ci_root::check(ci_root, spec, &p.deployment)?;
        let owner = p.owner();
        let (plan, outcome) =
            ci_root::apply(&p.tree, &p.out_dir, owner.as_ref(), ci_root, a.force)?;
        Ok((p.out_dir, plan.summary(), outcome, p.warnings))
    };
    let retire = |r: &pipeline::Retired| {
        let (plan, outcome) = write::apply(&Tree::default(), &r.dir, None, a.force)?;
        // An environment's folder goes with its last file; the output folder stays.
        if r.environment.is_some() {
            write::remove_if_empty(&r.dir)?;
        }
        Ok((r.dir.clone(), plan.summary(), outcome, Warnings::default()))
    };
    let results = for_each_environment(&specs, a.out.as_deref(), a.env.as_deref(), each, retire);
    let many = results.len() > 1;
    let mut o = out();
    let mut failed = 0;
    for (unit, r) in &results {
        if many {
            ignore_pipe(writeln!(o, "==> {} <==", unit.title()))?;
        }
        match r {
            Ok((dir, s, outcome, warnings)) => ignore_pipe((|| {
                o.flush()?;
                output::warn(warnings);
                if outcome.written.is_empty() && outcome.removed.is_empty() {
                    return writeln!(o, "No changes: {} is up to date.", dir.display());
                }
                for path in &outcome.written {
                    writeln!(o, "  wrote    {path}")?;
                }
                for path in &outcome.removed {
                    writeln!(o, "  removed  {path}")?;
                }
                writeln!(
                    o,
                    "Applied: {} added, {} changed, {} removed in {}.",
                    s.add,
                    s.change,
                    s.remove,
                    dir.display()
                )
            })())?,
            Err(e) => {
                failed += 1;
                let _ = o.flush();
                report(e);
            }
        }
    }
    if many {
        ignore_pipe(writeln!(
            o,
            "{} {}: {} applied, {failed} failed.",
            results.len(),
            unit_word(&results),
            results.len() - failed
        ))?;
    }
    Ok(if failed > 0 {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}

fn validate(a: SpecArg) -> Result<ExitStatus, Error> {
    let spec = discover::one(&a.spec)?;
    for p in pipeline::prepare(&spec, None, a.env.as_deref())? {
        output::warn(&p.warnings);
        let env = p.environment.map(|e| format!(" [{e}]")).unwrap_or_default();
        println!(
            "{}{env}: valid; service {} in {} ({} files would be generated).",
            spec.display(),
            p.deployment.service.name,
            p.deployment.service.region,
            p.tree.len()
        );
    }
    Ok(ExitStatus::Success)
}

/// The deployment; with environments, a list of them, each naming its environment.
fn model(a: SpecArg) -> Result<ExitStatus, Error> {
    let all = pipeline::prepare(&discover::one(&a.spec)?, None, a.env.as_deref())?;
    let value = match &all[..] {
        [one] if one.environment.is_none() => serde_json::to_value(&one.deployment),
        many => serde_json::to_value(many.iter().map(|p| &p.deployment).collect::<Vec<_>>()),
    }
    .expect("model serialises");
    let mut o = out();
    ignore_pipe(writeln!(
        o,
        "{}",
        serde_json::to_string_pretty(&value).expect("model serialises")
    ))?;
    Ok(ExitStatus::Success)
}
