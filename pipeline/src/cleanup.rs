//! The cleanup job: deletes rows of rotating goals long after their period ended, and forgets
//! applied event ids older than the dedup window, archived events older than theirs, and the
//! audit log's months older than AUDIT_RETENTION (whole months, recorded in the log).
//! Bounded: each statement deletes at most `batch_size` rows and is followed by a pause at least
//! as long as it took; each run deletes at most `max_rows_per_run` per table. Runs come every
//! `interval` (at most an eighth of the shortest retention window, see [`cadence`]), or right
//! away when one stopped at its bound, so pruning keeps pace with growth. Safe to run in every
//! replica at once (rows are picked with `SKIP LOCKED`; PostgreSQL's archive pruning is taken by
//! one replica at a time).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use engine::RuleSetHandle;
use store::{EventArchive, ExpiryCursor, ExpiryPolicy, Maintenance, StoreError};
use tokio::sync::watch;

use crate::metrics::Metrics;

/// The cleanup job's knobs (see `Config::cleanup`).
#[derive(Debug, Clone)]
pub struct CleanupConfig {
    /// Time between two runs. The first run comes [`FIRST_RUN_AFTER`] after start (or one
    /// interval, if shorter), so processes restarted more often than the interval still clean.
    pub interval: Duration,
    /// A row goes this long after its `expires_at` (and only if its goal's policy allows).
    pub row_retention: TimeDelta,
    /// Applied event ids are kept this long.
    pub dedup_retention: TimeDelta,
    pub batch_size: u32,
    pub max_rows_per_run: u64,
    /// Archived events are kept this long.
    pub archive_retention: TimeDelta,
    /// Support's audit log is kept this long, then goes a whole UTC month at a time.
    pub audit_retention: TimeDelta,
}

/// What one run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub expired_rows: u64,
    pub event_ids: u64,
    pub archived_events: u64,
    /// Audit log entries of the months that went.
    pub audit_entries: u64,
}

/// The time between two runs: `configured`, or an eighth of the shortest retention window when
/// that is shorter (a table then holds at most 1.125 windows of rows between two runs), but at
/// least a second.
pub fn cadence(configured: Duration, shortest_window: Duration) -> Duration {
    configured
        .min(shortest_window / 8)
        .max(Duration::from_secs(1))
}

/// When the first run comes after start, at the latest.
pub const FIRST_RUN_AFTER: Duration = Duration::from_secs(300);

/// Shortest pause between two statements of a run. The pause is as long as the statement
/// took, when that is longer, so a run keeps the database busy half the time at most.
const PAUSE: Duration = Duration::from_millis(20);

/// The pause after a statement that started at `started`.
fn pause_after(started: Instant) -> Duration {
    started.elapsed().max(PAUSE)
}

/// The pause before the next run when a run stopped at its bound with rows left.
const CATCH_UP: Duration = Duration::from_secs(1);

impl Cleaned {
    /// Whether a table reached the run's bound, so rows may be left that are already due.
    pub fn reached(&self, bound: u64) -> bool {
        self.expired_rows >= bound || self.event_ids >= bound || self.archived_events >= bound
    }
}

/// One run as of `now`, with the rules loaded now. The walk over expired rows starts at
/// `cursor` — where the previous run stopped, `None` for the start — and leaves it where this
/// run stopped (`None` once the walk reached the end), so consecutive runs do not re-read the
/// rows that stay.
pub async fn clean_once(
    store: &dyn Maintenance,
    archive: &dyn EventArchive,
    rules: &RuleSetHandle,
    config: &CleanupConfig,
    now: DateTime<Utc>,
    cursor: &mut Option<ExpiryCursor>,
) -> Result<Cleaned, StoreError> {
    let policies = ExpiryPolicy::for_rules(&rules.current());
    let before = now - config.row_retention;
    let mut expired_rows = 0;
    while expired_rows < config.max_rows_per_run {
        let limit = u64::from(config.batch_size).min(config.max_rows_per_run - expired_rows);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let started = Instant::now();
        let batch = store
            .delete_expired(&policies, before, cursor.as_ref(), limit)
            .await?;
        expired_rows += batch.deleted;
        *cursor = batch.next;
        if cursor.is_none() {
            break;
        }
        tokio::time::sleep(pause_after(started)).await;
    }
    let event_ids = drain(config, |limit| {
        store.prune_processed_events(now - config.dedup_retention, limit)
    })
    .await?;
    // The read caches' change log (PostgreSQL), where no cache prunes it: once per run, not
    // with every statement of the event ids' drain.
    drain(config, |limit| {
        store.prune_change_log(now - config.dedup_retention, limit)
    })
    .await?;
    let archived_events = drain(config, |limit| {
        archive.prune_event_archive(now - config.archive_retention, limit)
    })
    .await?;
    let audit_entries = store
        .prune_audit_log(now, now - config.audit_retention)
        .await?;
    Ok(Cleaned {
        expired_rows,
        event_ids,
        archived_events,
        audit_entries,
    })
}

/// Calls `delete(limit)` until a call deletes less than its limit or the run's bound is reached.
/// (Expired rows are walked with a cursor instead: some of them stay, so "fewer deleted than
/// asked" does not mean "done" there.)
async fn drain<F, Fut>(config: &CleanupConfig, mut delete: F) -> Result<u64, StoreError>
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    while total < config.max_rows_per_run {
        let limit = u64::from(config.batch_size).min(config.max_rows_per_run - total);
        let started = Instant::now();
        let deleted = delete(i64::try_from(limit).unwrap_or(i64::MAX)).await?;
        total += deleted;
        if deleted < limit {
            break;
        }
        tokio::time::sleep(pause_after(started)).await;
    }
    Ok(total)
}

/// Runs the job every `config.interval` until `stopped` turns true.
pub async fn run(
    store: Arc<dyn Maintenance>,
    archive: Arc<dyn EventArchive>,
    rules: Arc<RuleSetHandle>,
    metrics: Arc<Metrics>,
    config: CleanupConfig,
    mut stopped: watch::Receiver<bool>,
) {
    let mut wait = config.interval.min(FIRST_RUN_AFTER);
    let mut cursor = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        let started = Instant::now();
        // Shutting down mid-run drops the run: each statement commits alone, nothing half-done.
        let result = tokio::select! {
            result = clean_once(store.as_ref(), archive.as_ref(), &rules, &config, Utc::now(), &mut cursor) => result,
            _ = stopped.wait_for(|stop| *stop) => return,
        };
        metrics.cleanup_ran(&result, started.elapsed());
        match &result {
            Ok(cleaned) if *cleaned != Cleaned::default() => tracing::info!(
                expired_rows = cleaned.expired_rows,
                event_ids = cleaned.event_ids,
                archived_events = cleaned.archived_events,
                audit_entries = cleaned.audit_entries,
                duration_ms = started.elapsed().as_millis() as u64,
                "cleanup deleted expired progress rows, old event ids and archived events"
            ),
            Ok(_) => tracing::debug!("cleanup found nothing to delete"),
            Err(err) => tracing::warn!(
                error = err as &(dyn std::error::Error + 'static),
                "cleanup failed; retrying next interval"
            ),
        }
        // A run that stopped at its bound left due rows: the next one comes soon, so pruning
        // keeps up with any rate of growth (each run still bounded, half the time paused).
        wait = match result {
            Ok(cleaned) if cleaned.reached(config.max_rows_per_run) => CATCH_UP,
            _ => config.interval,
        };
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Cleaned, cadence};

    #[test]
    fn the_cadence_follows_the_shortest_window_down_to_a_second() {
        let hour = Duration::from_secs(3600);
        assert_eq!(cadence(hour, Duration::from_secs(168 * 3600)), hour);
        assert_eq!(
            cadence(hour, Duration::from_secs(120)),
            Duration::from_secs(15)
        );
        assert_eq!(
            cadence(hour, Duration::from_secs(4)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn a_run_at_its_bound_is_behind() {
        let run = |expired_rows, event_ids, archived_events| Cleaned {
            expired_rows,
            event_ids,
            archived_events,
            audit_entries: 0,
        };
        assert!(!run(10, 99, 0).reached(100));
        assert!(run(0, 100, 0).reached(100));
        assert!(run(0, 0, 100).reached(100));
    }
}
