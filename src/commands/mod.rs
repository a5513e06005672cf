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

use crate::{cost, discover, parallel, pipeline, schema, write};

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
    let p = pipeline::prepare(&discover::one(&a.spec)?, a.out.as_deref())?;
    output::warn(&p.warnings);
    match a.out {
        Some(dir) => {
            write::export(&p.tree, &dir)?;
            eprintln!("Wrote {} files to {}.", p.tree.len(), dir.display());
        }
        None => {
            let mut o = out();
            ignore_pipe((|| {
                for (path, content) in p.tree.iter() {
                    writeln!(o, "==> {path} <==")?;
                    write!(o, "{content}")?;
                    writeln!(o)?;
                }
                Ok(())
            })())?;
        }
    }
    Ok(ExitStatus::Success)
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
    let results = parallel::map(&specs, |spec| {
        let p = pipeline::prepare(spec, a.out.as_deref())?;
        ci_root::check(a.ci_root.as_deref(), spec, &p.deployment)?;
        let plan = ci_root::plan(&p.tree, &p.out_dir, a.ci_root.as_deref())?;
        let recorded = plan
            .changes
            .iter()
            .find(|c| c.path == cost::FILE)
            .and_then(|c| c.old.as_deref());
        let report = cost::Report::new(p.deployment.cost.clone(), recorded);
        Ok::<_, Error>((plan, report, p.warnings))
    });
    let mut o = out();
    let failed = results.iter().filter(|r| r.is_err()).count();
    let current = results
        .iter()
        .all(|r| r.as_ref().is_ok_and(|(p, ..)| p.is_current()));
    match a.format {
        Format::Json => {
            let plans: Vec<serde_json::Value> = specs
                .iter()
                .zip(&results)
                .map(|(spec, r)| match r {
                    Ok((plan, cost, warnings)) => output::plan_json(plan, cost, warnings, spec),
                    Err(e) => output::error_json(e, spec),
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
            let many = specs.len() > 1;
            for (spec, r) in specs.iter().zip(&results) {
                if many {
                    ignore_pipe(writeln!(o, "==> {} <==", spec.display()))?;
                }
                match r {
                    Ok((plan, cost, warnings)) => {
                        let _ = o.flush();
                        output::warn(warnings);
                        ignore_pipe(output::plan_text(plan, cost, &mut o))?
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
                    .filter(|r| r.as_ref().is_ok_and(|(p, ..)| !p.is_current()))
                    .count();
                ignore_pipe(writeln!(
                    o,
                    "{} specs: {changed} with changes, {} up to date, {failed} failed.",
                    specs.len(),
                    specs.len() - changed - failed
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
    let results = parallel::map(&specs, |spec| {
        let p = pipeline::prepare(spec, a.out.as_deref())?;
        ci_root::check(a.ci_root.as_deref(), spec, &p.deployment)?;
        let (plan, outcome) = ci_root::apply(&p.tree, &p.out_dir, a.ci_root.as_deref(), a.force)?;
        Ok::<_, Error>((p.out_dir, plan.summary(), outcome, p.warnings))
    });
    let many = specs.len() > 1;
    let mut o = out();
    let mut failed = 0;
    for (spec, r) in specs.iter().zip(&results) {
        if many {
            ignore_pipe(writeln!(o, "==> {} <==", spec.display()))?;
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
            "{} specs: {} applied, {failed} failed.",
            specs.len(),
            specs.len() - failed
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
    let p = pipeline::prepare(&spec, None)?;
    output::warn(&p.warnings);
    println!(
        "{}: valid; service {} in {} ({} files would be generated).",
        spec.display(),
        p.deployment.service.name,
        p.deployment.service.region,
        p.tree.len()
    );
    Ok(ExitStatus::Success)
}

fn model(a: SpecArg) -> Result<ExitStatus, Error> {
    let p = pipeline::prepare(&discover::one(&a.spec)?, None)?;
    let mut o = out();
    ignore_pipe(writeln!(
        o,
        "{}",
        serde_json::to_string_pretty(&p.deployment).expect("model serialises")
    ))?;
    Ok(ExitStatus::Success)
}
