//! `challenge-lint`: checks challenge files (schema, ids, prerequisites, Rhai expressions,
//! rule tests) exactly as the servers load them. `cargo install --path lint` installs it alone.

use std::process::ExitCode;

use challenge_lint::{LintArgs, run_lint};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "challenge-lint",
    version,
    about = "Check challenge files as the Challenge Engine servers load them"
)]
struct Cli {
    #[command(flatten)]
    lint: LintArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    run_lint(&cli.lint, &mut std::io::stdout().lock())
}
