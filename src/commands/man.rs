//! `mlgen man`: one page that documents every subcommand with its flags.
//!
//! clap_mangen renders one command per page and refers to `mlgen-plan(1)`-style pages for
//! subcommands; mlgen installs one page, so each subcommand gets a section in it instead.

use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::Cli;

type Section = fn(&Man, &mut dyn std::io::Write) -> std::io::Result<()>;

/// The whole man page, in roff.
pub(super) fn page() -> String {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let man = Man::new(cmd.clone());
    let mut page = render(&man, Man::render_title);
    for section in [
        Man::render_name_section,
        Man::render_synopsis_section,
        Man::render_description_section,
        Man::render_options_section,
    ] {
        page.push_str(&without_preamble(&render(&man, section)));
    }
    page.push_str(".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page.push_str(&command_section(sub));
    }
    page.push_str(".SH EXTRA\n");
    page.push_str(&preformatted(&body(&render(
        &man,
        Man::render_extra_section,
    ))));
    page.push_str(&without_preamble(&render(
        &man,
        Man::render_version_section,
    )));
    page
}

/// A subsection for one subcommand: what it does, its synopsis, flags and examples.
fn command_section(sub: &clap::Command) -> String {
    // Global flags are documented once, under OPTIONS.
    let own = sub.clone().mut_args(|a| {
        let global = a.is_global_set();
        a.hide(global)
    });
    let man = Man::new(own);
    let name = sub.get_bin_name().unwrap_or_else(|| sub.get_name());
    let mut s = format!(".SS \"{name}\"\n");
    s.push_str(&body(&render(&man, Man::render_description_section)));
    s.push_str(".PP\n");
    s.push_str(&body(&render(&man, Man::render_synopsis_section)));
    if sub.get_arguments().any(|a| !a.is_hide_set()) {
        s.push_str(&body(&render(&man, Man::render_options_section)));
    }
    if sub.get_after_help().is_some() {
        s.push_str(".PP\n");
        s.push_str(&preformatted(&body(&render(
            &man,
            Man::render_extra_section,
        ))));
    }
    s
}

fn render(man: &Man, section: Section) -> String {
    let mut buf = Vec::new();
    section(man, &mut buf).expect("writing to memory succeeds");
    String::from_utf8(buf).expect("roff is UTF-8")
}

/// Each rendered piece starts with the same string definitions; the page needs them once.
fn without_preamble(roff: &str) -> String {
    roff.lines()
        .filter(|l| !l.starts_with(".ie \\n(.g") && !l.starts_with(".el .ds Aq"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A section's content without its `.SH` heading, to nest it under a subcommand.
fn body(roff: &str) -> String {
    let text = without_preamble(roff);
    match text.split_once('\n') {
        Some((first, rest)) if first.starts_with(".SH") => rest.to_string(),
        _ => text,
    }
}

/// Example and exit-code tables keep their columns: no filling.
fn preformatted(roff: &str) -> String {
    format!(".nf\n{roff}.fi\n")
}
