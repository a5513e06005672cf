//! Command-line interface: clap types only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit codes:
  0  success (for `plan --check`: the output folder is current)
  1  error: invalid spec, unreadable file, refused or failed write
  2  `plan --check` only: files would change

Examples:
  mlgen init                       write a commented starter mlgen.toml
  mlgen validate                   check ./mlgen.toml against Cloud Run's rules
  mlgen plan                       show what `apply` would change in ./deploy
  mlgen apply                      write ./deploy
  mlgen plan --check               in CI: fail (exit 2) when ./deploy is stale";

/// Generate a Cloud Run model service (container, serving app, Pulumi, Terraform and
/// gcloud) from one TOML spec.
#[derive(Debug, Parser)]
#[command(name = "mlgen", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// When to colour output; NO_COLOR is honoured with `auto`.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every generated file, or write them to a folder.
    #[command(
        after_help = "Examples:\n  mlgen render                     print every file of ./mlgen.toml\n  mlgen render svc/mlgen.toml --out svc/deploy"
    )]
    Render(RenderArgs),
    /// Show, as a unified diff, what `apply` would change on disk.
    #[command(
        after_help = "Examples:\n  mlgen plan                       diff ./deploy against ./mlgen.toml\n  mlgen plan --check               exit 2 when anything would change (CI, pre-commit)\n  mlgen plan --format json         machine-readable plan for review bots"
    )]
    Plan(PlanArgs),
    /// Write the generated files, atomically; a following `plan --check` exits 0.
    #[command(
        after_help = "Examples:\n  mlgen apply                      write ./deploy from ./mlgen.toml\n  mlgen apply --force              also overwrite files edited by hand"
    )]
    Apply(ApplyArgs),
    /// Check a spec against Cloud Run's rules without generating anything.
    #[command(
        after_help = "Examples:\n  mlgen validate\n  mlgen validate services/fraud/mlgen.toml"
    )]
    Validate(SpecArg),
    /// Write a commented starter spec.
    #[command(
        after_help = "Examples:\n  mlgen init                       write ./mlgen.toml\n  mlgen init svc/mlgen.toml"
    )]
    Init(InitArgs),
    /// Print the resolved deployment (every derived name, role and setting) as JSON.
    #[command(after_help = "Examples:\n  mlgen model | jq .iam")]
    Model(SpecArg),
    /// Print the JSON Schema of the spec, for editors (Taplo / Even Better TOML).
    #[command(after_help = "Examples:\n  mlgen schema > mlgen.schema.json")]
    Schema,
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  mlgen completions bash > /etc/bash_completion.d/mlgen\n  mlgen completions zsh > \"${fpath[1]}/_mlgen\"\n  mlgen completions fish > ~/.config/fish/completions/mlgen.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Resolve a custom handler's requirements into mlgen.lock beside the spec (uv, PyPI).
    #[command(
        after_help = "Needs uv (https://docs.astral.sh/uv/) on PATH, or its path in MLGEN_UV.\nExamples:\n  mlgen lock\n  mlgen lock services/sentiment/mlgen.toml"
    )]
    Lock(SpecArg),
    /// Print the man page (roff).
    #[command(after_help = "Examples:\n  mlgen man > /usr/local/share/man/man1/mlgen.1")]
    Man,
}

#[derive(Debug, Args)]
pub struct SpecArg {
    /// The spec file, or a folder holding it.
    #[arg(default_value = crate::discover::SPEC_FILE)]
    pub spec: PathBuf,
    /// With `[environments]`: only this environment (default: every one, each in its own
    /// folder of the output folder).
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The spec file, or a folder holding it.
    #[arg(default_value = crate::discover::SPEC_FILE)]
    pub spec: PathBuf,
    /// Write the files here instead of printing them (no ownership checks; use `apply`
    /// for a folder you keep).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// With `[environments]`: only this environment (default: every one, each in its own
    /// folder of the output folder).
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Spec files, or folders searched for `mlgen.toml` files; several are planned in
    /// parallel and reported per service.
    #[arg(default_value = crate::discover::SPEC_FILE)]
    pub specs: Vec<PathBuf>,
    /// The output folder; default `deploy/` beside each spec. Only with one spec.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the GitHub workflow to DIR/.github/workflows/mlgen.yml (DIR: the repository
    /// root), where GitHub runs it, instead of the output folder. Only with one spec.
    #[arg(long, value_name = "DIR")]
    pub ci_root: Option<PathBuf>,
    /// Exit 2 when anything would change.
    #[arg(long)]
    pub check: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// With `[environments]`: only this environment (default: every one, each in its own
    /// folder of the output folder).
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Spec files, or folders searched for `mlgen.toml` files; several are applied in
    /// parallel, each atomically, and reported per service.
    #[arg(default_value = crate::discover::SPEC_FILE)]
    pub specs: Vec<PathBuf>,
    /// The output folder; default `deploy/` beside each spec. Only with one spec.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the GitHub workflow to DIR/.github/workflows/mlgen.yml (DIR: the repository
    /// root), where GitHub runs it, instead of the output folder. Only with one spec.
    #[arg(long, value_name = "DIR")]
    pub ci_root: Option<PathBuf>,
    /// Overwrite or remove generated files that were edited by hand, and take over files
    /// mlgen did not write.
    #[arg(long)]
    pub force: bool,
    /// With `[environments]`: only this environment (default: every one, each in its own
    /// folder of the output folder).
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the starter spec (and its schema beside it); missing folders are
    /// created.
    #[arg(default_value = crate::discover::SPEC_FILE)]
    pub path: PathBuf,
    /// Overwrite an existing spec and schema.
    #[arg(long)]
    pub force: bool,
}
