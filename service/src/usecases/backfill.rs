//! Backfill: replay that fixes the data. The event archive is replayed under the deployed rules
//! (or, for a dry run only, under an edit), and every (player, goal) whose stored progress is
//! below what the replay gives is raised to it through the engine (`backfill_change`), each
//! change written with its audit entry (action `backfill`) in one transaction.
//!
//! Safe to run again and to resume: each change is decided again on the row held in its write
//! transaction, so one already applied (by a run that crashed after it, or by another replica's
//! run) is found not below and left alone; a second run finds nothing. Writes are paced at a
//! rate, and the replay uses one core, so live traffic keeps its latency.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use engine::progress::{shown_progress, view};
use engine::replay::{Replayer, Tally};
use engine::support::backfill_change;
use engine::{Clock, CompiledGoal, GoalId, ProgressState, RuleSet, Status, UserId};
use serde_json::json;
use store::{
    ArchiveWindow, ArchivedEvent, AuditEntry, EventArchive, PlayerProgress, ProgressRow, SupportLog,
};

use super::replay::{ReplayObserver, read_players};
use super::{Error, ErrorCode};

/// Changes written per second unless told otherwise.
pub const DEFAULT_RATE: u32 = 200;
/// The most a caller may ask for.
pub const MAX_RATE: u32 = 10_000;

/// The stores a backfill reads and writes: a running service's, or those `service backfill`
/// opens.
pub struct BackfillStores<'a> {
    pub archive: &'a dyn EventArchive,
    pub players: &'a dyn PlayerProgress,
    pub support: &'a dyn SupportLog,
    /// The namespace of a row the backfill creates (an automatic goal the player had no row of).
    pub namespace: &'a str,
}

/// What to backfill, who asks and why.
pub struct BackfillRequest<'a> {
    pub actor: &'a str,
    pub reason: &'a str,
    /// Only find the changes; write nothing.
    pub dry_run: bool,
    pub window: ArchiveWindow,
    /// Changes written per second.
    pub rate: u32,
}

/// One (player, goal) the replay puts above its stored progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillChange {
    pub user_id: UserId,
    pub challenge_id: String,
    pub goal_id: GoalId,
    pub progress_from: i64,
    pub progress_to: i64,
    pub status_from: Status,
    pub status_to: Status,
}

/// What a backfill found and did.
#[derive(Debug, Clone)]
pub struct Backfilled {
    pub dry_run: bool,
    /// Archived players replayed.
    pub players: u64,
    /// Archived events read.
    pub events: u64,
    pub changes: Vec<BackfillChange>,
    /// Changes written (0 on a dry run). Fewer than `changes` when live traffic or support
    /// raised a goal as far (or claimed it) between the comparison and the write.
    pub applied: u64,
    /// The run's id, in each of its audit entries.
    pub run: String,
    /// The content hash of the rules replayed.
    pub rules: String,
}

/// Told how far a backfill is.
pub trait BackfillObserver: ReplayObserver {
    /// `done` of `total` replayed players compared with their stored rows.
    fn comparing(&self, done: u64, total: u64);
    /// `done` of `total` changes written.
    fn applying(&self, done: u64, total: u64);
}

impl BackfillObserver for super::replay::Quiet {
    fn comparing(&self, _: u64, _: u64) {}
    fn applying(&self, _: u64, _: u64) {}
}

/// Why a backfill stopped: refused as asked, or the database failed (the CLI shows the whole
/// cause; REST answers it as any use-case's store error).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{}", .0.message)]
    Refused(#[from] Error),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Refused(err) => err,
            Failure::Store(err) => err.into(),
        }
    }
}

/// The rate asked for, checked (`None`: the default).
pub fn checked_rate(rate: Option<u32>) -> Result<u32, Error> {
    match rate {
        None => Ok(DEFAULT_RATE),
        Some(rate) if (1..=MAX_RATE).contains(&rate) => Ok(rate),
        Some(rate) => Err(Error::new(
            ErrorCode::ValidationFailed,
            format!("`rate` is {rate}: give 1 to {MAX_RATE} changes per second"),
        )),
    }
}

/// Replays the archive of `request.window` under `rules` and raises every stored goal below it.
pub async fn backfill(
    stores: &BackfillStores<'_>,
    rules: Arc<RuleSet>,
    request: &BackfillRequest<'_>,
    clock: &Clock,
    observer: Arc<dyn BackfillObserver>,
) -> Result<Backfilled, Failure> {
    let reason = super::support::checked_reason(request.reason)?;
    if let (Some(from), Some(to)) = (request.window.from, request.window.to)
        && from >= to
    {
        return Err(Error::new(ErrorCode::ValidationFailed, "`from` must be before `to`").into());
    }
    let run = store::audit::new_audit_id()?;
    let (players, events) = read_players(stores.archive, request.window, observer.as_ref()).await?;
    let player_count = players.len() as u64;
    let replay_rules = rules.clone();
    let replay_observer = observer.clone();
    // A thread of its own, at the lowest CPU priority: the replay takes what live traffic
    // leaves of the cores (a pooled blocking thread would keep the priority afterwards).
    let (sent, replayed) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("backfill-replay".into())
        .spawn(move || {
            background_priority();
            let _ = sent.send(replay_each(
                &players,
                &replay_rules,
                events,
                replay_observer.as_ref(),
            ));
        })
        .map_err(|err| {
            Error::new(
                ErrorCode::Internal,
                format!("no thread for the replay: {err}"),
            )
        })?;
    let replayed = replayed
        .await
        .map_err(|_| Error::new(ErrorCode::Internal, "the replay stopped before its end"))?;

    let now = clock.now();
    let mut changes = Vec::new();
    let total = replayed.len() as u64;
    for (done, (user, reached)) in replayed.iter().enumerate() {
        let rows = stores.players.progress_for_user(user, false).await?;
        for (goal_id, state) in reached {
            let Some(goal) = rules.goal(goal_id.as_str()) else {
                continue;
            };
            let stored = rows
                .iter()
                .find(|r| &r.goal_id == goal_id)
                .map(|r| &r.state);
            if let Some(next) = backfill_change(goal, stored, state, now) {
                changes.push(change(goal, user, stored, &next, now));
            }
        }
        observer.comparing(done as u64 + 1, total);
    }
    let mut found = Backfilled {
        dry_run: request.dry_run,
        players: player_count,
        events,
        changes,
        applied: 0,
        run,
        rules: rules.info.content_hash.clone(),
    };
    if request.dry_run {
        return Ok(found);
    }
    let replayed: std::collections::HashMap<&UserId, &Vec<(GoalId, ProgressState)>> = replayed
        .iter()
        .map(|(user, reached)| (user, reached))
        .collect();
    let mut pace = tokio::time::interval(Duration::from_secs(1) / request.rate.max(1));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let total = found.changes.len() as u64;
    for (done, change) in found.changes.iter().enumerate() {
        pace.tick().await;
        let Some(state) = replayed
            .get(&change.user_id)
            .and_then(|reached| reached.iter().find(|(g, _)| g == &change.goal_id))
            .map(|(_, state)| state)
        else {
            continue;
        };
        let Some(goal) = rules.goal(change.goal_id.as_str()) else {
            continue;
        };
        let write = Write {
            stores,
            goal,
            user: &change.user_id,
            replayed: state,
            actor: request.actor,
            reason,
            run: &found.run,
            rules: &found.rules,
        };
        if write.apply(clock.now()).await? {
            found.applied += 1;
        }
        observer.applying(done as u64 + 1, total);
    }
    Ok(found)
}

/// One change written: decided again on the row held in the write's transaction.
struct Write<'a> {
    stores: &'a BackfillStores<'a>,
    goal: &'a CompiledGoal,
    user: &'a UserId,
    replayed: &'a ProgressState,
    actor: &'a str,
    reason: &'a str,
    run: &'a str,
    rules: &'a str,
}

impl Write<'_> {
    /// Whether it wrote (false: the row is no longer below the replay).
    async fn apply(&self, now: DateTime<Utc>) -> Result<bool, Failure> {
        // Set when the held row is no longer below the replay: nothing to write.
        let found_as_far = std::sync::atomic::AtomicBool::new(false);
        let decide = |before: Option<&ProgressRow>| {
            let stored = before.map(|r| &r.state);
            let Some(next) = backfill_change(self.goal, stored, self.replayed, now) else {
                found_as_far.store(true, std::sync::atomic::Ordering::Relaxed);
                return None;
            };
            let entry = AuditEntry {
                id: store::audit::new_audit_id().ok()?,
                at: now,
                actor: self.actor.to_string(),
                action: "backfill".to_string(),
                user_id: self.user.to_string(),
                challenge_id: Some(self.goal.challenge_id.to_string()),
                goal_id: Some(self.goal.id.to_string()),
                reason: self.reason.to_string(),
                detail: json!({
                    "before": stored.map(|s| shown(self.goal, s, now)),
                    "after": shown(self.goal, &next, now),
                    "run": self.run,
                    "rules": self.rules,
                })
                .to_string(),
            };
            let row = ProgressRow {
                user_id: self.user.clone(),
                goal_id: self.goal.id.clone(),
                challenge_id: self.goal.challenge_id.clone(),
                namespace: before.map_or_else(
                    || self.stores.namespace.to_string(),
                    |r| r.namespace.clone(),
                ),
                state: next,
            };
            let notice = store::Notice::completed(
                self.goal,
                &row.namespace,
                row.user_id.as_str(),
                stored,
                &row.state,
            );
            Some((row, entry, notice))
        };
        // Tried again only when another writer created the row between the read and the insert.
        for _ in 0..5 {
            let written = (self.stores.support)
                .support_write(self.user, &self.goal.id, &decide)
                .await?;
            if written.is_some() {
                return Ok(true);
            }
            if found_as_far.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(false);
            }
        }
        Err(Error::new(
            ErrorCode::Internal,
            format!(
                "player {}'s goal `{}` could not be written; run the backfill again",
                self.user, self.goal.id
            ),
        )
        .into())
    }
}

/// Lowers the calling thread to the lowest CPU priority (nice 19), on Linux; elsewhere, or when
/// refused, it keeps its priority.
fn background_priority() {
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19) {
        tracing::debug!(%err, "the backfill replay keeps its CPU priority");
    }
}

/// Replays each player under `rules` on this thread (the other core stays with live traffic),
/// answering the goals events reached and the state replay left them in.
fn replay_each(
    players: &[Vec<ArchivedEvent>],
    rules: &RuleSet,
    total: u64,
    observer: &dyn ReplayObserver,
) -> Vec<(UserId, Vec<(GoalId, ProgressState)>)> {
    let mut replayer = Replayer::new(rules);
    let mut tally = Tally::new(rules);
    let mut out = Vec::new();
    let mut done = 0_u64;
    for events in players {
        let Some(first) = events.first() else {
            continue;
        };
        for row in store::first_deliveries(events) {
            if let Ok(event) = row.to_event() {
                replayer.apply(&event, &mut tally);
            }
        }
        let reached: Vec<(GoalId, ProgressState)> = replayer
            .reached()
            .map(|(goal, state)| (goal.id.clone(), state.clone()))
            .collect();
        replayer.finish_player(&mut tally);
        if !reached.is_empty() {
            out.push((UserId::new(&first.user_id), reached));
        }
        done += events.len() as u64;
        observer.replaying(done, total);
    }
    out
}

fn change(
    goal: &CompiledGoal,
    user: &UserId,
    stored: Option<&ProgressState>,
    next: &ProgressState,
    now: DateTime<Utc>,
) -> BackfillChange {
    let before = view(goal, stored, now);
    BackfillChange {
        user_id: user.clone(),
        challenge_id: goal.challenge_id.to_string(),
        goal_id: goal.id.clone(),
        progress_from: before.progress,
        progress_to: shown_progress(goal, next),
        status_from: before.status,
        status_to: next.status,
    }
}

/// A goal's state as the audit records it (the support actions' shape).
fn shown(goal: &CompiledGoal, state: &ProgressState, now: DateTime<Utc>) -> serde_json::Value {
    let seen = view(goal, Some(state), now);
    json!({ "progress": seen.progress, "status": seen.status.as_str() })
}

/// A backfill asked of a running service: under the deployed rules, or under an edit of one
/// deployed file (`draft`) for a dry run only. One replay or backfill at a time per service.
pub async fn run(
    ctx: &super::Context,
    request: &BackfillRequest<'_>,
    draft: Option<super::designers::Draft>,
) -> Result<Backfilled, Error> {
    let rules = match draft {
        None => ctx.rules.current(),
        Some(_) if !request.dry_run => {
            return Err(Error::new(
                ErrorCode::ValidationFailed,
                "an edit (`rules`) can only be dry-run: deploy it, then backfill under the deployed rules",
            ));
        }
        Some(draft) => match super::designers::trial(ctx, draft).await? {
            (Some(rules), _) => rules,
            (None, diagnostics) => {
                let first = diagnostics
                    .iter()
                    .find(|d| d.severity == engine::Severity::Error)
                    .map(|d| format!(": {} {}", d.code.id(), d.message))
                    .unwrap_or_default();
                return Err(Error::new(
                    ErrorCode::ValidationFailed,
                    format!(
                        "the edit does not compile ({} diagnostics){first}",
                        diagnostics.len()
                    ),
                ));
            }
        },
    };
    let Ok(_running) = ctx.exclusive.replays.try_acquire() else {
        return Err(Error::new(
            ErrorCode::RateLimited,
            "another replay or backfill is running on this service; try again when it ends",
        ));
    };
    let stores = BackfillStores {
        archive: ctx.archive.as_ref(),
        players: ctx.players.as_ref(),
        support: ctx.support.as_ref(),
        namespace: &ctx.namespace,
    };
    let quiet = Arc::new(super::replay::Quiet);
    Ok(backfill(&stores, rules, request, &ctx.clock, quiet).await?)
}
