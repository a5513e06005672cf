//! How plans and errors are shown: coloured text for people, JSON for review bots and
//! editors. [`crate::plan`] computes; this module only formats.

use std::io::{self, Write};
use std::path::Path;

use anstyle::{AnsiColor, Style};
use serde_json::{Value, json};
use similar::{ChangeTag, TextDiff};

use crate::cost::{self, Billing, Report};
use crate::diagnostics::{self, Diagnostic, Warnings};
use crate::error::Error;
use crate::plan::{Conflict, FileChange, Plan};

/// The `---` / `+++` names: `a/PATH` and `b/PATH`, `/dev/null` for a side that is absent.
fn headers(c: &FileChange) -> (String, String) {
    let name = |side: &Option<String>, prefix: &str| {
        side.as_ref().map_or_else(
            || "/dev/null".to_string(),
            |_| format!("{prefix}/{}", c.path),
        )
    };
    (name(&c.old, "a"), name(&c.new, "b"))
}

fn line_diff(c: &FileChange) -> TextDiff<'_, '_, str> {
    TextDiff::from_lines(
        c.old.as_deref().unwrap_or(""),
        c.new.as_deref().unwrap_or(""),
    )
}

/// Unified diff from the file on disk to the generated one.
fn unified_diff(c: &FileChange) -> String {
    let (a, b) = headers(c);
    line_diff(c)
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string()
}

/// Writes the human-readable plan: coloured diffs, conflicts, the cost estimate, then a
/// summary line.
pub fn plan_text(plan: &Plan, cost: Option<&Report>, out: &mut impl Write) -> io::Result<()> {
    for c in plan.pending() {
        write_diff(c, out)?;
        if let Some(conflict) = c.conflict {
            let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold();
            let why = match conflict {
                Conflict::EditedByHand => "was edited by hand since the last apply",
                Conflict::NotOwned => "exists but was not written by mlgen",
            };
            writeln!(
                out,
                "{yellow}! {} {why}; `mlgen apply` refuses to overwrite it without --force{yellow:#}",
                c.path
            )?;
        }
        writeln!(out)?;
    }
    if let Some(cost) = cost {
        cost_text(cost, out)?;
    }
    writeln!(out, "{}", summary_line(plan))
}

/// The estimate in a few lines; a figure the change moves shows as `old -> new`.
fn cost_text(r: &Report, out: &mut impl Write) -> io::Result<()> {
    let i = &r.inputs;
    let e = match &r.now {
        Ok(e) => e,
        Err(why) => return writeln!(out, "Estimated cost: none, {why}."),
    };
    let billing = match i.billing {
        Billing::RequestBased => "request-based",
        Billing::InstanceBased => "instance-based",
    };
    let p = cost::pricing();
    writeln!(
        out,
        "Estimated cost ({}, {}, {billing} billing; list prices of {}, before the free tier):",
        i.region,
        e.tier.label(),
        p.as_of
    )?;
    let before = r.before.as_ref();
    writeln!(
        out,
        "  with no traffic  {} a month (min_instances = {}, {} h a month)",
        usd(before.map(|b| b.idle_monthly_usd), e.idle_monthly_usd),
        i.min_instances,
        p.hours_per_month
    )?;
    writeln!(
        out,
        "  per 1M requests  {} ({} ms each, {} at a time per instance; {})",
        usd(
            before.map(|b| b.per_million_requests_usd),
            e.per_million_requests_usd
        ),
        i.mean_request_ms,
        i.concurrency,
        i.mean_request_ms_from
    )?;
    writeln!(out)
}

fn usd(before: Option<f64>, now: f64) -> String {
    match before {
        Some(b) if b != now => format!("${b:.2} -> ${now:.2}"),
        _ => format!("${now:.2}"),
    }
}

fn write_diff(c: &FileChange, out: &mut impl Write) -> io::Result<()> {
    let cyan = Style::new().fg_color(Some(AnsiColor::Cyan.into()));
    let red = Style::new().fg_color(Some(AnsiColor::Red.into()));
    let green = Style::new().fg_color(Some(AnsiColor::Green.into()));
    let bold = Style::new().bold();
    let (a, b) = headers(c);
    writeln!(out, "{bold}--- {a}{bold:#}")?;
    writeln!(out, "{bold}+++ {b}{bold:#}")?;
    let diff = line_diff(c);
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        writeln!(out, "{cyan}{}{cyan:#}", hunk.header())?;
        for change in hunk.iter_changes() {
            let (sign, style) = match change.tag() {
                ChangeTag::Delete => ('-', red),
                ChangeTag::Insert => ('+', green),
                ChangeTag::Equal => (' ', Style::new()),
            };
            write!(out, "{style}{sign}{}{style:#}", change.value())?;
            if change.missing_newline() {
                writeln!(out, "\n\\ No newline at end of file")?;
            }
        }
    }
    Ok(())
}

fn summary_line(plan: &Plan) -> String {
    let s = plan.summary();
    let dir = plan.out_dir.display();
    if plan.is_current() {
        return format!("No changes: {dir} is up to date.");
    }
    let conflicts = match s.conflicts {
        0 => String::new(),
        1 => " 1 file edited by hand or not owned by mlgen.".to_string(),
        n => format!(" {n} files edited by hand or not owned by mlgen."),
    };
    format!(
        "Plan: {} to add, {} to change, {} to remove in {dir}.{conflicts}",
        s.add, s.change, s.remove
    )
}

/// One spec's entry in the machine-readable plan (`plan --format json`); `warnings`, when
/// there are any, are located like an invalid spec's diagnostics.
/// `cost` is none for a folder that holds nothing the spec deploys.
pub fn plan_json(plan: &Plan, cost: Option<&Report>, warnings: &Warnings, spec: &Path) -> Value {
    let files: Vec<Value> = plan
        .pending()
        .map(|c| {
            let mut v = serde_json::to_value(c).expect("file change serialises");
            v["diff"] = Value::String(unified_diff(c));
            v
        })
        .collect();
    let mut v = json!({
        "spec": spec.display().to_string(),
        "out_dir": plan.out_dir.display().to_string(),
        "current": plan.is_current(),
        "summary": plan.summary(),
        "files": files,
    });
    if let Some(cost) = cost {
        v["cost"] = cost_json(cost);
    }
    if !warnings.diagnostics.is_empty() {
        v["warnings"] = warnings
            .diagnostics
            .iter()
            .map(|d| diagnostic_json(&warnings.path, &warnings.text, d))
            .collect();
    }
    v
}

/// The estimate with everything it assumes; figures are `null` where a price is missing
/// (`unavailable` says which), and `previous` holds the last applied figures where they differ.
fn cost_json(r: &Report) -> Value {
    let p = cost::pricing();
    let mut assumptions = serde_json::to_value(&r.inputs).expect("cost inputs serialise");
    assumptions["price_tier"] = json!(r.now.as_ref().ok().map(|e| e.tier));
    assumptions["hours_per_month"] = json!(p.hours_per_month);
    assumptions["free_tier_applied"] = json!(false);
    assumptions["instances_busy"] =
        json!("requests share an instance `concurrency` at a time, back to back");
    let now = r.now.as_ref().ok();
    let mut v = json!({
        "idle_monthly_usd": now.map(|e| e.idle_monthly_usd),
        "per_million_requests_usd": now.map(|e| e.per_million_requests_usd),
        "assumptions": assumptions,
        "prices_as_of": p.as_of,
        "prices_source": p.source,
    });
    if let Err(why) = &r.now {
        v["unavailable"] = why.to_string().into();
    }
    if let Some(b) = &r.before {
        v["previous"] = json!({
            "idle_monthly_usd": b.idle_monthly_usd,
            "per_million_requests_usd": b.per_million_requests_usd,
        });
    }
    v
}

/// A spec that failed, for `plan --format json`: a plain-text `error`, its `help`, and for
/// an invalid spec one located entry per problem.
pub fn error_json(e: &Error, spec: &Path) -> Value {
    let mut v = json!({ "spec": spec.display().to_string(), "error": plain_message(e) });
    if let Some(help) = e.help() {
        v["help"] = help.into();
    }
    if let Error::Spec {
        path,
        text,
        diagnostics,
        ..
    } = e
    {
        v["diagnostics"] = diagnostics
            .iter()
            .map(|d| diagnostic_json(path, text, d))
            .collect();
    }
    v
}

fn diagnostic_json(path: &str, text: &str, d: &Diagnostic) -> Value {
    let (line, column) = diagnostics::line_col(text, d.span.start);
    let (end_line, end_column) = diagnostics::line_col(text, d.span.end);
    json!({
        "file": path,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "key": d.key,
        "message": d.message,
        "label": d.label,
        "help": d.help,
    })
}

/// The error without its help and without source excerpts: one `file:line:col: title` line
/// per problem of an invalid spec.
fn plain_message(e: &Error) -> String {
    match e {
        Error::Spec {
            path,
            text,
            diagnostics,
            ..
        } => diagnostics
            .iter()
            .map(|d| {
                let (line, col) = diagnostics::line_col(text, d.span.start);
                format!("{path}:{line}:{col}: {}", d.title())
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => with_causes(other),
    }
}

/// The message followed by each deeper cause.
fn with_causes(e: &Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    // Io errors already print their source; deeper causes add context.
    if matches!(e, Error::Io { .. }) {
        src = src.and_then(std::error::Error::source);
    }
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}

/// Prints a spec's warnings to stderr, located like errors.
pub fn warn(w: &Warnings) {
    let _ = write!(anstream::stderr(), "{}", w.render(true));
}

/// Prints an error to stderr: a located report for an invalid spec, else `error: …` and
/// its `help: …`.
pub fn report(e: &Error) {
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
            let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
            let cyan = Style::new().fg_color(Some(AnsiColor::Cyan.into())).bold();
            writeln!(err, "{red}error{red:#}: {}", with_causes(other)).and_then(|()| {
                match other.help() {
                    Some(help) => writeln!(err, "{cyan}help{cyan:#}: {help}"),
                    None => Ok(()),
                }
            })
        }
    };
}
