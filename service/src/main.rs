//! `service`: the player REST service binary, and the designers' `lint` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use service::lint::{LintArgs, run_lint};
use service::migrate::MigrateArgs;

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
    /// Apply the database migrations (or revert the last N with --down N).
    Migrate(MigrateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Lint(args) => run_lint(&args, &mut std::io::stdout().lock()),
        Command::Migrate(args) => {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("error: cannot start the async runtime: {err}");
                    return ExitCode::from(2);
                }
            };
            match runtime.block_on(service::migrate::run(&args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("error: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
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
