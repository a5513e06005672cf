use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // clap exits 2 on usage errors; 2 is reserved for `plan --check`, so remap to 1.
    let cli = match mlgen::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    mlgen::commands::run(cli).into()
}
