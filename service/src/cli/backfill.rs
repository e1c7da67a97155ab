//! `service backfill --reason TEXT [--dry-run] [--from T] [--to T] [--rules DIR] [--rate N]
//! [--format human|json]`: replay that fixes the data, from a terminal, with a progress bar.
//! The same use-case as `POST /v1/admin/rules/backfill`; safe to stop (Ctrl-C, `kill -9`) and
//! run again: what was applied is found applied, and the rest is applied once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use pipeline::database::DatabaseArgs;
use store::{ArchiveWindow, redacted};

use super::replay::{Bar, Format, compile, parse_time};
use crate::json::backfill::BackfillAnswer;
use crate::usecases::backfill::{
    BackfillObserver, BackfillRequest, BackfillStores, Backfilled, DEFAULT_RATE, backfill,
    checked_rate,
};
use crate::usecases::replay::ReplayObserver;

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Why: kept in the audit entry of every change.
    #[arg(long)]
    pub reason: String,
    /// Only find the changes; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Replay events that happened at or after this time (RFC 3339).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// Replay events that happened before this time (RFC 3339).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub to: Option<DateTime<Utc>>,
    /// Dry run only: replay these challenge files (a folder or one file) instead of the
    /// deployed ones (CHALLENGE_CONFIG_PATH).
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Changes written per second, so live traffic keeps its latency.
    #[arg(long, default_value_t = DEFAULT_RATE)]
    pub rate: u32,
    /// Who runs it, for the audit log (default: `cli:` and the login name).
    #[arg(long)]
    pub actor: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

/// Runs the backfill; `deployed` is CHALLENGE_CONFIG_PATH, `namespace` the deployment's.
pub async fn run(
    args: &BackfillArgs,
    database: &DatabaseArgs,
    deployed: &Path,
    namespace: &str,
) -> Result<()> {
    if args.rules.is_some() && !args.dry_run {
        bail!(
            "--rules can only be dry-run (--dry-run): deploy the edit, then backfill under the deployed rules"
        );
    }
    let rate = checked_rate(Some(args.rate)).map_err(|err| anyhow::anyhow!("--rate: {err}"))?;
    let rules = match &args.rules {
        Some(edit) => compile("--rules", edit)?,
        None => compile("CHALLENGE_CONFIG_PATH", deployed)?,
    };
    let url = database.url()?;
    let store = store::open(&url, 2)
        .await
        .with_context(|| format!("cannot open the database {}", redacted(&url)))?;
    let actor = args.actor.clone().unwrap_or_else(|| {
        let login = std::env::var("USER").unwrap_or_else(|_| "operator".to_string());
        format!("cli:{login}")
    });
    let request = BackfillRequest {
        actor: &actor,
        reason: &args.reason,
        dry_run: args.dry_run,
        window: ArchiveWindow {
            from: args.from,
            to: args.to,
        },
        rate,
    };
    let stores = BackfillStores {
        archive: store.as_ref(),
        players: store.as_ref(),
        support: store.as_ref(),
        namespace,
    };
    let bar = Arc::new(Steps(Bar::counting("")));
    let clock = engine::Clock::system();
    let done = backfill(&stores, rules, &request, &clock, bar.clone())
        .await
        .map_err(anyhow::Error::new)
        .context("the backfill stopped (what it applied stays; run it again to resume)")?;
    bar.0.0.finish_and_clear();
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &BackfillAnswer::from(done))?;
            writeln!(out)?;
        }
        Format::Human => human(&done, &mut out)?,
    }
    Ok(())
}

/// The bar, labelled by step.
struct Steps(Bar);

impl Steps {
    fn show(&self, step: &str, done: u64, total: u64) {
        let bar = &self.0.0;
        if bar.message() != step {
            bar.set_message(step.to_string());
        }
        bar.set_length(total.max(done));
        bar.set_position(done);
    }
}

impl ReplayObserver for Steps {
    fn reading(&self, read: u64, total: u64) {
        self.show("reading events", read, total);
    }
    fn replaying(&self, done: u64, total: u64) {
        self.show("replaying events", done, total);
    }
}

impl BackfillObserver for Steps {
    fn comparing(&self, done: u64, total: u64) {
        self.show("comparing players", done, total);
    }
    fn applying(&self, done: u64, total: u64) {
        self.show("applying changes", done, total);
    }
}

fn human(done: &Backfilled, out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "{} archived events of {} players replayed under rules {}.",
        done.events,
        done.players,
        &done.rules[..done.rules.len().min(12)]
    )?;
    if done.changes.is_empty() {
        writeln!(
            out,
            "No player's stored progress is below the replay: nothing to do."
        )?;
        return Ok(());
    }
    writeln!(out, "{} goal(s) below the replay:", done.changes.len())?;
    for change in &done.changes {
        writeln!(
            out,
            "  {}  {} / {}  {} ({}) -> {} ({})",
            change.user_id,
            change.challenge_id,
            change.goal_id,
            change.progress_from,
            change.status_from.as_str(),
            change.progress_to,
            change.status_to.as_str()
        )?;
    }
    if done.dry_run {
        writeln!(
            out,
            "Dry run: nothing written. Run again without --dry-run to apply."
        )?;
    } else {
        writeln!(
            out,
            "Applied {} (run {}; each change is in the audit log with action `backfill`).",
            done.applied, done.run
        )?;
        if done.applied < done.changes.len() as u64 {
            writeln!(
                out,
                "{} were already as far (live traffic or support got there first) and were left alone.",
                done.changes.len() as u64 - done.applied
            )?;
        }
    }
    Ok(())
}
