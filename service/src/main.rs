//! `service`: the player REST service binary, and the designers' `lint` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use service::lint::{LintArgs, run_lint};

#[derive(Parser)]
#[command(
    name = "service",
    version,
    about = "Challenge Engine: player REST service and challenge tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check challenge files: schema, ids, prerequisites, Rhai expressions, rule tests.
    Lint(LintArgs),
    /// Print the JSON Schema of challenge files (for editor autocompletion).
    Schema,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Lint(args) => run_lint(&args, &mut std::io::stdout().lock()),
        Command::Schema => match serde_json::to_string_pretty(&engine::model::json_schema()) {
            Ok(schema) => {
                println!("{schema}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: cannot print the schema: {err}");
                ExitCode::from(2)
            }
        },
    }
}
