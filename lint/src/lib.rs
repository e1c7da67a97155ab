//! `challenge-lint [PATH…]` (also `service lint`): the same load-and-compile pipeline the
//! servers run, with the diagnostics printed for people (quoting the offending line), for tools
//! (`--format json`) or as GitHub workflow annotations (`--format github`). A crate of its own
//! (engine + clap + serde_json) so designers' CI installs it without the servers' dependencies.

mod output;

pub use output::JsonDiagnostic;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

/// Exit codes: 0 clean, 1 problems found, 2 could not run.
const EXIT_PROBLEMS: u8 = 1;
const EXIT_CANNOT_RUN: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Challenge folders or files (default: $CHALLENGE_CONFIG_PATH, else `challenges/`).
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Treat warnings as errors (exit 1).
    #[arg(long)]
    pub deny_warnings: bool,
    /// Print the YAML equivalent of a legacy `challenges.json` instead of linting.
    #[arg(long, value_name = "FILE", conflicts_with = "paths")]
    pub convert: Option<PathBuf>,
    /// The service's `REWARD_CURRENCY_ITEMS` (`GOLD=<item id>,…`): given, bundles are checked
    /// as the service granting by fulfillment checks them (E025: each currency a bundle may
    /// credit needs its coins item).
    #[arg(long, env = "REWARD_CURRENCY_ITEMS", value_name = "CURRENCY=ITEM,…")]
    pub currency_items: Option<String>,
    /// The service's `REWARD_DELIVERY`: with `direct`, bundles are granted part by part and
    /// need no coins items.
    #[arg(
        long,
        env = "REWARD_DELIVERY",
        value_enum,
        default_value = "fulfillment"
    )]
    pub reward_delivery: Delivery,
}

/// How the service grants rewards (its `REWARD_DELIVERY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Delivery {
    Fulfillment,
    Direct,
}

impl LintArgs {
    /// The deployment's checks these arguments ask for.
    fn options(&self) -> engine::CompileOptions {
        let fulfillment_currencies = match (&self.currency_items, self.reward_delivery) {
            (Some(items), Delivery::Fulfillment) => Some(
                items
                    .split(',')
                    .filter_map(|entry| entry.split_once('=').map(|(c, _)| c.trim()))
                    .filter(|currency| !currency.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
            _ => None,
        };
        engine::CompileOptions {
            fulfillment_currencies,
        }
    }
}

/// Runs the lint and writes its report to `out`; returns the process exit code.
pub fn run_lint(args: &LintArgs, out: &mut impl Write) -> ExitCode {
    if let Some(file) = &args.convert {
        return convert(file, out);
    }
    let paths = if args.paths.is_empty() {
        vec![
            std::env::var_os("CHALLENGE_CONFIG_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("challenges")),
        ]
    } else {
        args.paths.clone()
    };
    let compiled = match engine::read_sources(&paths) {
        Ok(sources) => engine::compile_with(&sources, &args.options()),
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(EXIT_CANNOT_RUN);
        }
    };
    let summary = output::Summary::of(&compiled);
    let written = match args.format {
        Format::Human => output::human(&compiled.diagnostics, &summary, out),
        Format::Json => output::json(&compiled.diagnostics, &summary, out),
        Format::Github => output::github(&compiled.diagnostics, &summary, out),
    };
    if let Err(err) = written {
        eprintln!("error: cannot write the report: {err}");
        return ExitCode::from(EXIT_CANNOT_RUN);
    }
    if summary.errors > 0 || (args.deny_warnings && summary.warnings > 0) {
        ExitCode::from(EXIT_PROBLEMS)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes `compiled`'s diagnostics for people, as `challenge-lint` prints them.
pub fn write_human(compiled: &engine::Compiled, out: &mut impl Write) -> std::io::Result<()> {
    output::human(&compiled.diagnostics, &output::Summary::of(compiled), out)
}

fn convert(file: &std::path::Path, out: &mut impl Write) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", file.display());
            return ExitCode::from(EXIT_CANNOT_RUN);
        }
    };
    match engine::source::legacy::convert_to_yaml(engine::SourceFile::new(file, text)) {
        Ok(yaml) => match out.write_all(yaml.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: cannot write: {err}");
                ExitCode::from(EXIT_CANNOT_RUN)
            }
        },
        Err(diagnostics) => {
            let summary = output::Summary {
                errors: diagnostics.iter().filter(|d| d.is_error()).count(),
                warnings: diagnostics.iter().filter(|d| !d.is_error()).count(),
                files: 1,
                goals: 0,
                tests: 0,
            };
            let mut stderr = std::io::stderr().lock();
            let _ = output::human(&diagnostics, &summary, &mut stderr);
            ExitCode::from(EXIT_PROBLEMS)
        }
    }
}
