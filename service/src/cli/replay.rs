//! `service replay --rules DIR [--against DIR] [--from T] [--to T] [--format human|json]`: the
//! archived events of the configured database replayed under the deployed rules and an edit,
//! compared goal by goal, so a designer sees what a change does before it ships.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, ValueEnum};
use engine::RuleSet;
use engine::replay::{GoalComparison, Median};
use indicatif::{ProgressBar, ProgressStyle};
use pipeline::database::DatabaseArgs;
use store::{ArchiveWindow, redacted};

use crate::usecases::replay::{ReplayObserver, Replayed, replay};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The edited challenge files (a folder or one file).
    #[arg(long, value_name = "DIR")]
    pub rules: PathBuf,
    /// The rules to compare with (default: CHALLENGE_CONFIG_PATH, the deployed rules).
    #[arg(long, value_name = "DIR")]
    pub against: Option<PathBuf>,
    /// Replay events that happened at or after this time (RFC 3339).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// Replay events that happened before this time (RFC 3339).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub to: Option<DateTime<Utc>>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|err| format!("`{text}` is not an RFC 3339 time (2026-12-01T00:00:00Z): {err}"))
}

/// Runs the replay; `deployed` is CHALLENGE_CONFIG_PATH.
pub async fn run(args: &ReplayArgs, database: &DatabaseArgs, deployed: &Path) -> Result<()> {
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from >= to
    {
        bail!("--from {} is not before --to {}", stamp(from), stamp(to));
    }
    let against = args.against.as_deref().unwrap_or(deployed);
    let before = compile("--against", against)?;
    let after = compile("--rules", &args.rules)?;
    let url = database.url()?;
    let store = store::open(&url, 2)
        .await
        .with_context(|| format!("cannot open the database {}", redacted(&url)))?;
    let window = ArchiveWindow {
        from: args.from,
        to: args.to,
    };
    let bar = Arc::new(Bar::new());
    let replayed = replay(store.as_ref(), window, before, after, bar.clone())
        .await
        .context("reading the event archive")?;
    bar.0.finish_and_clear();
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &replayed.report)?;
            writeln!(out)?;
        }
        Format::Human => human(&replayed, against, &args.rules, &window, &mut out)?,
    }
    if replayed.unreadable > 0 {
        eprintln!(
            "warning: {} archived event(s) could not be read and were skipped; the first: {}",
            replayed.unreadable,
            replayed.first_unreadable.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

/// Compiles a rule set; on errors, prints them as `lint` does and fails. Failing rule tests
/// alone do not stop a replay (an edit that changes what a goal does often breaks its tests,
/// and replay is how the designer sees what it does instead); they are listed as a warning.
pub(crate) fn compile(flag: &str, path: &Path) -> Result<Arc<RuleSet>> {
    let compiled = engine::load(&[path.to_path_buf()])
        .with_context(|| format!("{flag} {}: cannot read the challenge files", path.display()))?;
    let failed_tests = compiled
        .diagnostics
        .iter()
        .filter(|d| d.code == engine::Code::TestFailed)
        .count();
    if compiled.rules.is_none() && compiled.failing_tests_only.is_none() {
        let _ = challenge_lint::write_human(&compiled, &mut std::io::stderr().lock());
        bail!(
            "{flag} {}: the challenge files have errors (above)",
            path.display()
        );
    }
    if failed_tests > 0 {
        eprintln!(
            "warning: {flag} {}: {failed_tests} rule test(s) fail (`service lint {}` shows them); replaying anyway",
            path.display(),
            path.display()
        );
    }
    compiled
        .trial_rules()
        .map(Arc::new)
        .context("no rule set compiled")
}

/// A progress bar on a terminal (hidden otherwise).
pub(crate) struct Bar(pub(crate) ProgressBar);

impl Bar {
    fn new() -> Self {
        Self::counting("events")
    }

    /// A bar that counts `unit`s.
    pub(crate) fn counting(unit: &str) -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{msg:9}} [{{bar:40}}] {{human_pos}}/{{human_len}} {unit} ({{eta}} left)"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self(bar)
    }
}

impl ReplayObserver for Bar {
    fn reading(&self, read: u64, total: u64) {
        self.0.set_message("reading");
        self.0.set_length(total);
        self.0.set_position(read);
    }

    fn replaying(&self, done: u64, total: u64) {
        if self.0.position() > done || self.0.message() != "replaying" {
            self.0.set_message("replaying");
            self.0.set_length(total);
        }
        self.0.set_position(done);
    }
}

pub(crate) fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn count(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn median(value: Option<Median>) -> String {
    value.map_or_else(|| "-".to_string(), |m| m.to_string())
}

fn change(goal: &GoalComparison) -> String {
    match (goal.completed_before, goal.completed_after) {
        (None, _) => "added".to_string(),
        (_, None) => "removed".to_string(),
        (Some(before), Some(after)) => {
            let diff = after as i64 - before as i64;
            if diff == 0 {
                "same".to_string()
            } else if before == 0 {
                format!("{diff:+}")
            } else {
                format!("{diff:+} ({:+.0} %)", diff as f64 * 100.0 / before as f64)
            }
        }
    }
}

/// `1240`, `1,240.5`: an amount as a designer reads it.
pub(crate) fn amount(value: f64) -> String {
    let value = (value * 100.0).round() / 100.0;
    let whole = value.abs().trunc() as u64;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let fraction = (value.abs().fract() * 100.0).round() as u64;
    let sign = if value < 0.0 { "-" } else { "" };
    if fraction == 0 {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{fraction:02}")
            .trim_end_matches('0')
            .to_string()
    }
}

/// What the completions grant once claimed, per reward id, and the change per day.
fn rewards(report: &engine::replay::ReplayReport, out: &mut impl Write) -> std::io::Result<()> {
    if report.rewards.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "Rewards the completions grant once claimed (tables at their expected value), over {} day(s) of traffic:",
        amount(report.days)
    )?;
    let header = ["REWARD", "DEPLOYED", "EDIT", "CHANGE", "PER DAY"].map(str::to_string);
    let rows: Vec<[String; 5]> = report
        .rewards
        .iter()
        .map(|r| {
            [
                format!("{} {}", r.kind, r.reward_id),
                amount(r.before),
                amount(r.after),
                format!(
                    "{}{}",
                    if r.change > 0.0 { "+" } else { "" },
                    amount(r.change)
                ),
                format!(
                    "{}{}",
                    if r.per_day > 0.0 { "+" } else { "" },
                    amount(r.per_day)
                ),
            ]
        })
        .collect();
    let mut widths = [0_usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    for r in report.rewards.iter().filter(|r| r.change != 0.0) {
        writeln!(
            out,
            "The edit grants ~{} {}/day {}.",
            amount(r.per_day.abs()),
            r.reward_id,
            if r.change > 0.0 { "more" } else { "less" }
        )?;
    }
    Ok(())
}

/// People: a table of every goal, then what needs a second look.
fn human(
    replayed: &Replayed,
    against: &Path,
    rules: &Path,
    window: &ArchiveWindow,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let report = &replayed.report;
    let span = match (window.from, window.to) {
        (None, None) => "the whole archive".to_string(),
        (Some(from), None) => format!("events from {}", stamp(from)),
        (None, Some(to)) => format!("events before {}", stamp(to)),
        (Some(from), Some(to)) => format!("events from {} to {}", stamp(from), stamp(to)),
    };
    writeln!(
        out,
        "Replayed {} player(s), {} event(s) ({span}): {} (deployed) against {} (edit).",
        report.players,
        report.events,
        against.display(),
        rules.display()
    )?;
    if report.events == 0 {
        writeln!(
            out,
            "The archive holds no events here. Events are archived for EVENT_ARCHIVE_SAMPLE of the \
             players (see docs/operations.md)."
        )?;
    }
    writeln!(out)?;
    let rows: Vec<[String; 4]> = report
        .goals
        .iter()
        .map(|goal| {
            [
                format!("{} / {}", goal.challenge_id, goal.goal_id),
                format!(
                    "{} -> {}",
                    count(goal.completed_before),
                    count(goal.completed_after)
                ),
                change(goal),
                format!(
                    "{} -> {}",
                    median(goal.median_events_before),
                    median(goal.median_events_after)
                ),
            ]
        })
        .collect();
    let header = [
        "CHALLENGE / GOAL".to_string(),
        "COMPLETED (DEPLOYED -> EDIT)".to_string(),
        "CHANGE".to_string(),
        "MEDIAN EVENTS".to_string(),
    ];
    let mut widths = [0_usize; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        writeln!(
            out,
            "{:w0$}  {:w1$}  {:w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )?;
    }
    rewards(report, out)?;
    let names = |keep: &dyn Fn(&GoalComparison) -> bool| -> Vec<String> {
        report
            .goals
            .iter()
            .filter(|g| keep(g))
            .map(|g| format!("{} / {}", g.challenge_id, g.goal_id))
            .collect()
    };
    writeln!(out)?;
    if report.players > 0 {
        // First the goals the edit takes away from players, then the rest no one reaches.
        let lost: Vec<&GoalComparison> = report
            .goals
            .iter()
            .filter(|g| g.completed_after == Some(0) && g.completed_before.unwrap_or(0) > 0)
            .collect();
        let never =
            names(&|g| g.completed_after == Some(0) && g.completed_before.unwrap_or(0) == 0);
        if !lost.is_empty() || !never.is_empty() {
            writeln!(out, "No player completes under the edit:")?;
        }
        for goal in lost {
            writeln!(
                out,
                "  {} / {} ({} did under the deployed rules)",
                goal.challenge_id,
                goal.goal_id,
                count(goal.completed_before)
            )?;
        }
        if !never.is_empty() {
            writeln!(
                out,
                "  {} goal(s) no player completed under the deployed rules either: {}",
                never.len(),
                never.join(", ")
            )?;
        }
    }
    for (label, list) in [
        ("Added by the edit", names(&|g| g.is_added())),
        ("Removed by the edit", names(&|g| g.is_removed())),
    ] {
        if !list.is_empty() {
            writeln!(out, "{label}: {}", list.join(", "))?;
        }
    }
    let (before, after) = replayed.failed_expressions;
    if before + after > 0 {
        writeln!(
            out,
            "Expressions that failed to evaluate: {before} under the deployed rules, {after} under the edit \
             (the event did not count for that goal)."
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_read_as_designers_write_them() {
        assert_eq!(super::amount(1240.0), "1,240");
        assert_eq!(super::amount(1_234_567.5), "1,234,567.5");
        assert_eq!(super::amount(-50.0), "-50");
        assert_eq!(super::amount(0.25), "0.25");
        assert_eq!(super::amount(999.0), "999");
        assert_eq!(super::amount(2.996), "3");
    }
}
