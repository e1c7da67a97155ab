//! `assign: auto` goals have no row until their first event. Their rows are created (empty) in
//! a transaction of their own before the batch transaction, so the batch can lock every row it
//! touches in one pass in key order; two replicas creating the same row cannot lose an update
//! (each batch computes from a committed row it holds locked).
//!
//! That transaction is five round trips, and a player's rows exist after their first event, so
//! it runs only for keys this process has not seen exist yet ([`KnownAutoRows`]). The hint is
//! never trusted: the batch transaction checks that every auto row it needs is there, and when
//! one is gone (a GDPR deletion, the cleanup job, another replica's reset) it rolls back and the
//! batch runs again with the placeholders first.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use engine::{GoalId, UserId};
use sqlx::{Connection as _, PgConnection};

use super::PgStore;
use super::batch::{insert_missing, lock_users};
use crate::fold::{auto_keys, auto_rows, forget_deleted, fresh_events};
use crate::{PendingEvent, StoreError};

/// Auto rows this process saw committed, keyed by (user, goal). Bounded: past
/// [`KNOWN_AUTO_ROWS_MAX`] it starts over, and batches of players it forgot take the
/// placeholder transaction once more.
#[derive(Debug, Default)]
pub(super) struct KnownAutoRows(std::sync::Mutex<HashSet<(UserId, GoalId)>>);

/// About 30 MB of keys at most.
const KNOWN_AUTO_ROWS_MAX: usize = 200_000;

impl KnownAutoRows {
    /// Whether every auto row `events` touch is known to exist.
    pub(super) fn all_known<'a>(&self, events: impl IntoIterator<Item = &'a PendingEvent>) -> bool {
        let keys = auto_keys(events);
        if keys.is_empty() {
            return true;
        }
        let known = self.lock();
        keys.iter()
            .all(|(user, goal, _)| known.contains(&(user.clone(), goal.clone())))
    }

    /// Remembers rows a committed batch held.
    pub(super) fn remember(&self, keys: Vec<(UserId, GoalId)>) {
        if keys.is_empty() {
            return;
        }
        let mut known = self.lock();
        if known.len() + keys.len() > KNOWN_AUTO_ROWS_MAX {
            known.clear();
        }
        known.extend(keys);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<(UserId, GoalId)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl PgStore {
    /// Creates the missing auto rows of `batch`'s first occurrences (`fresh`), except for
    /// players deleted meanwhile: the users' locks and tombstones are checked as in the batch
    /// transaction.
    pub(super) async fn insert_auto_placeholders(
        conn: &mut PgConnection,
        batch: &[&PendingEvent],
        fresh: &[bool],
        users: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let wanted: Vec<&PendingEvent> = fresh_events(batch, fresh).collect();
        if auto_keys(wanted.iter().copied()).is_empty() {
            return Ok(());
        }
        let mut tx = conn.begin().await?;
        let tombstones = lock_users(&mut tx, users).await?;
        let mut fresh = vec![true; wanted.len()];
        forget_deleted(&wanted, &mut fresh, &tombstones);
        let rows = auto_rows(fresh_events(&wanted, &fresh), now);
        insert_missing(&mut *tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }
}
