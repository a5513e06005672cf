//! One function per subcommand; each returns the exit status.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::cli::{
    ApplyArgs, Cli, ColorChoice, Command, Format, InitArgs, PlanArgs, RenderArgs, SpecArg,
};
use crate::error::Error;
use crate::{diagnostics, pipeline, plan, spec, write};

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
        Command::Init(a) => init(a),
        Command::Model(a) => model(a),
    };
    match result {
        Ok(s) => s,
        Err(e) => {
            report(&e);
            ExitStatus::Error
        }
    }
}

fn report(e: &Error) {
    let mut err = anstream::stderr();
    let _ = match e {
        Error::Spec {
            path,
            text,
            diagnostics,
            ..
        } => write!(
            err,
            "{}",
            diagnostics::render(path, text, diagnostics, true)
        ),
        other => {
            let mut msg = format!("{other}");
            let mut src = std::error::Error::source(other);
            // Io errors already print their source; deeper causes add context.
            if matches!(other, Error::Io { .. }) {
                src = src.and_then(std::error::Error::source);
            }
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            let red = anstyle::Style::new()
                .fg_color(Some(anstyle::AnsiColor::Red.into()))
                .bold();
            writeln!(err, "{red}error{red:#}: {msg}")
        }
    };
}

/// stdout, ignoring a closed pipe (`mlgen render | head`).
fn out() -> anstream::AutoStream<std::io::Stdout> {
    anstream::stdout()
}

fn ignore_pipe(r: std::io::Result<()>) -> Result<(), Error> {
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::io("cannot write to standard output", e))
        }
        _ => Ok(()),
    }
}

fn render(a: RenderArgs) -> Result<ExitStatus, Error> {
    let p = pipeline::prepare(&a.spec, a.out.as_deref())?;
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

fn plan_cmd(a: PlanArgs) -> Result<ExitStatus, Error> {
    let p = pipeline::prepare(&a.spec, a.out.as_deref())?;
    let plan = plan::plan(&p.tree, &p.out_dir)?;
    let mut o = out();
    match a.format {
        Format::Text => ignore_pipe(plan::write_text(&plan, &mut o))?,
        Format::Json => {
            let v = plan::to_json(&plan, &a.spec);
            ignore_pipe(writeln!(
                o,
                "{}",
                serde_json::to_string_pretty(&v).expect("plan serialises")
            ))?;
        }
    }
    Ok(if a.check && !plan.is_current() {
        ExitStatus::ChangesPending
    } else {
        ExitStatus::Success
    })
}

fn apply(a: ApplyArgs) -> Result<ExitStatus, Error> {
    let p = pipeline::prepare(&a.spec, a.out.as_deref())?;
    let (plan, outcome) = write::apply(&p.tree, &p.out_dir, a.force)?;
    let s = plan.summary();
    let mut o = out();
    ignore_pipe(
        if outcome.written.is_empty() && outcome.removed.is_empty() {
            writeln!(o, "No changes: {} is up to date.", p.out_dir.display())
        } else {
            (|| {
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
                    p.out_dir.display()
                )
            })()
        },
    )?;
    Ok(ExitStatus::Success)
}

fn validate(a: SpecArg) -> Result<ExitStatus, Error> {
    let p = pipeline::prepare(&a.spec, None)?;
    println!(
        "{}: valid; service {} in {} ({} files would be generated).",
        a.spec.display(),
        p.deployment.service.name,
        p.deployment.service.region,
        p.tree.len()
    );
    Ok(ExitStatus::Success)
}

fn model(a: SpecArg) -> Result<ExitStatus, Error> {
    let p = pipeline::prepare(&a.spec, None)?;
    let mut o = out();
    ignore_pipe(writeln!(
        o,
        "{}",
        serde_json::to_string_pretty(&p.deployment).expect("model serialises")
    ))?;
    Ok(ExitStatus::Success)
}

/// The commented starter spec.
pub const STARTER: &str = include_str!("../../templates/init/mlgen.toml");

fn init(a: InitArgs) -> Result<ExitStatus, Error> {
    if a.path.exists() && !a.force {
        return Err(Error::Refused(format!(
            "{} already exists; pass --force to overwrite it",
            a.path.display()
        )));
    }
    // The starter must always be a valid spec.
    let file = spec::SourceFile {
        path: a.path.clone(),
        text: STARTER.to_string(),
    };
    spec::load::parse(&file)?;
    write_new(&a.path, STARTER)?;
    println!(
        "Wrote {}. Edit it, then run `mlgen plan` and `mlgen apply`.",
        a.path.display()
    );
    Ok(ExitStatus::Success)
}

fn write_new(path: &Path, content: &str) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let ctx = |e| Error::io(format!("cannot write {}", path.display()), e);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(ctx)?;
    tmp.write_all(content.as_bytes()).map_err(ctx)?;
    tmp.persist(path).map_err(|e| ctx(e.error))?;
    Ok(())
}
