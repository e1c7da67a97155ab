//! What makes two events the same event: the user, the producer's event id, and the timestamp
//! the producer sent (every redelivery carries the same three). Applied events are remembered
//! under that key in `applied_events`; the table before it, `processed_events` (keyed by the
//! event id alone, so one player's `match-42` hid another's), is still read, matched by user
//! and id, until the cleanup job has pruned it empty.

use std::sync::atomic::{AtomicU8, Ordering};

use chrono::{DateTime, SubsecRound, Utc};

use crate::PendingEvent;

/// The dedup key of an event: user, id and the sent timestamp (to the microsecond, as the
/// databases keep it; the Unix epoch when none was sent).
pub(crate) fn key(pending: &PendingEvent) -> (&str, &str, DateTime<Utc>) {
    let event = &pending.event;
    (
        event.user_id.as_str(),
        event.id.as_str(),
        event
            .sent_at
            .map_or(DateTime::<Utc>::UNIX_EPOCH, |at| at.trunc_subsecs(6)),
    )
}

/// Whether the legacy `processed_events` table may still hold rows, so batches read it too
/// (0: not looked at yet).
#[derive(Debug, Default)]
pub(crate) struct Legacy(AtomicU8);

const LIVE: u8 = 1;
const EMPTY: u8 = 2;

/// Whether the legacy table holds rows (each backend runs it on its own connection).
pub(crate) const HAS_ROWS: &str = "SELECT EXISTS (SELECT 1 FROM processed_events)";

impl Legacy {
    /// Whether batches must read the legacy table: `has_rows` (a query of [`HAS_ROWS`]) is asked
    /// the first time, the answer remembered.
    pub(crate) async fn live<F>(&self, has_rows: impl FnOnce() -> F) -> Result<bool, sqlx::Error>
    where
        F: std::future::Future<Output = Result<bool, sqlx::Error>>,
    {
        if let Some(live) = self.known() {
            return Ok(live);
        }
        let rows = has_rows().await?;
        self.seen(rows);
        Ok(rows)
    }

    /// After a prune: asks `has_rows` again, unless the table is known to be empty.
    pub(crate) async fn recheck<F>(&self, has_rows: impl FnOnce() -> F) -> Result<(), sqlx::Error>
    where
        F: std::future::Future<Output = Result<bool, sqlx::Error>>,
    {
        if self.known() != Some(false) {
            self.seen(has_rows().await?);
        }
        Ok(())
    }

    /// `None` when nobody has looked yet.
    fn known(&self) -> Option<bool> {
        match self.0.load(Ordering::Relaxed) {
            LIVE => Some(true),
            EMPTY => Some(false),
            _ => None,
        }
    }

    /// Records what the table was seen to hold. Once empty it stays empty: no release writes
    /// it any more.
    fn seen(&self, has_rows: bool) {
        let state = if has_rows { LIVE } else { EMPTY };
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                (now != EMPTY).then_some(state)
            });
    }
}
