//! The event archive: the accepted events of sampled players, appended in the batch transaction
//! that applied them (no extra commit), so designers can replay real traffic against a rule edit.

use chrono::{DateTime, Utc};
use engine::{Event, EventData, EventKind, UserId};
use sha2::{Digest, Sha256};

use crate::PendingEvent;

/// The most events one batch of the writer may hold: PostgreSQL archives a batch's events as one
/// row, numbering each `batch * 65536 + place` (place from 1).
pub const MAX_BATCH_EVENTS: usize = 65_535;

/// One archived event, as replay reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedEvent {
    /// Its place in the archive: events of one player were applied in this order.
    pub seq: i64,
    pub event_id: String,
    pub kind: String,
    pub user_id: String,
    pub namespace: String,
    pub occurred_at: DateTime<Utc>,
    pub stat_code: Option<String>,
    pub value: i64,
    pub inc: i64,
    /// The payload (`additional`) as JSON text.
    pub payload: String,
}

impl ArchivedEvent {
    /// The engine event it was archived from. An error names what in the row cannot be read.
    pub fn to_event(&self) -> Result<Event, String> {
        let kind = EventKind::parse(&self.kind)
            .ok_or_else(|| format!("archived event {}: unknown kind `{}`", self.seq, self.kind))?;
        let payload: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&self.payload).map_err(|err| {
                format!(
                    "archived event {}: payload is not a JSON object: {err}",
                    self.seq
                )
            })?;
        Ok(Event::new(EventData {
            id: self.event_id.clone(),
            kind,
            user_id: UserId::new(&self.user_id),
            namespace: self.namespace.clone(),
            timestamp: self.occurred_at,
            sent_at: None,
            stat_code: self.stat_code.clone(),
            value: self.value,
            inc: self.inc,
            additional: engine::event::payload_from_json(Some(&payload)),
        }))
    }
}

/// Which archived events to read: those that happened (their own time) in `[from, to)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveWindow {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One player's archived events without the repeated ids: an event no goal listened to gets
/// no dedup record, so a redelivery of it is archived again. Replay and explain read these.
pub fn first_deliveries(events: &[ArchivedEvent]) -> impl Iterator<Item = &ArchivedEvent> {
    let mut seen = std::collections::HashSet::new();
    events
        .iter()
        .filter(move |row| row.event_id.is_empty() || seen.insert(row.event_id.as_str()))
}

/// Whether `user`'s events are archived at `sample` (0 to 1). A hash of the user id decides, so
/// a sampled player's history is complete, and every process and version decides alike.
pub fn sampled(user: &UserId, sample: f64) -> bool {
    if sample >= 1.0 {
        return true;
    }
    if sample.is_nan() || sample <= 0.0 {
        return false;
    }
    let digest = Sha256::digest(user.as_str().as_bytes());
    let mut head = [0_u8; 8];
    head.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(head) as f64) < sample * (u64::MAX as f64)
}

/// The archive rows of a batch's fresh, sampled events, column by column (PostgreSQL binds them
/// as arrays; SQLite inserts them row by row).
#[derive(Debug, Default)]
pub(crate) struct ArchiveColumns<'a> {
    pub event_id: Vec<&'a str>,
    pub kind: Vec<&'a str>,
    pub user_id: Vec<&'a str>,
    pub namespace: Vec<&'a str>,
    pub occurred_at: Vec<DateTime<Utc>>,
    pub stat_code: Vec<Option<&'a str>>,
    pub value: Vec<i64>,
    pub inc: Vec<i64>,
    pub payload: Vec<String>,
}

impl<'a> ArchiveColumns<'a> {
    /// The events of `batch` to archive: sampled (`archive`) and applied now (`fresh`: not a
    /// redelivery, not forgotten after a deletion).
    pub fn of(batch: &[&'a PendingEvent], fresh: &[bool]) -> Self {
        let mut columns = Self::default();
        for (pending, _) in batch.iter().zip(fresh).filter(|(p, f)| **f && p.archive) {
            let event = &pending.event;
            columns.event_id.push(event.id.as_str());
            columns.kind.push(event.kind.as_str());
            columns.user_id.push(event.user_id.as_str());
            columns.namespace.push(event.namespace.as_str());
            columns.occurred_at.push(event.timestamp);
            columns.stat_code.push(event.stat_code.as_deref());
            columns.value.push(event.value);
            columns.inc.push(event.inc);
            columns.payload.push(event.additional_json().to_string());
        }
        columns
    }

    pub fn is_empty(&self) -> bool {
        self.event_id.is_empty()
    }

    pub fn len(&self) -> usize {
        self.event_id.len()
    }
}

/// What an archive read answers.
pub(crate) type Events = Result<Vec<ArchivedEvent>, crate::StoreError>;

/// Implements `EventArchive` for `$store`, whose rows are `$row`, over its hooks (PostgreSQL
/// keeps the archive as one row of arrays per batch, SQLite as one row per event):
/// - `archive_page(window, after, limit)`: a page of `read_archive`;
/// - `archive_count(window)` and `archive_prune(before, limit)`;
///
/// and `player_events`, the statement of a player's (`$1`) last `$2` events, newest first.
///
/// Also defines the module's `decode_event`: every read selects the archive's columns in the
/// order of [`ArchivedEvent`]'s fields, read by position (replay reads millions).
macro_rules! event_archive {
    ($store:ty, $row:ty, player_events: $player_events:expr) => {
        fn decode_event(row: &$row) -> Result<$crate::ArchivedEvent, sqlx::Error> {
            use sqlx::Row as _;
            Ok($crate::ArchivedEvent {
                seq: row.try_get(0)?,
                event_id: row.try_get(1)?,
                kind: row.try_get(2)?,
                user_id: row.try_get(3)?,
                namespace: row.try_get(4)?,
                occurred_at: row.try_get(5)?,
                stat_code: row.try_get(6)?,
                value: row.try_get(7)?,
                inc: row.try_get(8)?,
                payload: row.try_get(9)?,
            })
        }

        #[async_trait::async_trait]
        impl $crate::EventArchive for $store {
            async fn read_archive(
                &self,
                window: &$crate::ArchiveWindow,
                after: i64,
                limit: i64,
            ) -> $crate::archive::Events {
                let page = self.archive_page(window, after, limit.max(1));
                self.common.probe.timed("read_archive", page).await
            }

            async fn player_archive(
                &self,
                user_id: &engine::UserId,
                limit: i64,
            ) -> $crate::archive::Events {
                let work = async move {
                    let rows = sqlx::query(sqlx::AssertSqlSafe($player_events))
                        .bind(user_id.as_str())
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?;
                    let mut events: Vec<$crate::ArchivedEvent> =
                        rows.iter().map(decode_event).collect::<Result<_, _>>()?;
                    events.reverse();
                    Ok(events)
                };
                self.common.probe.timed("player_archive", work).await
            }

            async fn count_archive(
                &self,
                window: &$crate::ArchiveWindow,
            ) -> Result<u64, $crate::StoreError> {
                let work = async move { Ok(self.archive_count(window).await?.max(0) as u64) };
                self.common.probe.timed("count_archive", work).await
            }

            async fn prune_event_archive(
                &self,
                before: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<u64, $crate::StoreError> {
                let prune = self.archive_prune(before, limit);
                self.common.probe.timed("prune_event_archive", prune).await
            }
        }
    };
}

pub(crate) use event_archive;

#[cfg(test)]
mod tests {
    use engine::UserId;

    use super::sampled;

    #[test]
    fn sampling_is_by_player_and_near_the_rate() {
        let users: Vec<UserId> = (0..10_000)
            .map(|i| UserId::new(format!("player-{i}")))
            .collect();
        let picked = users.iter().filter(|u| sampled(u, 0.05)).count();
        assert!((400..=600).contains(&picked), "{picked} of 10,000 at 5 %");
        assert!(users.iter().all(|u| sampled(u, 1.0)));
        assert!(!users.iter().any(|u| sampled(u, 0.0)));
        // The same player is always in or out.
        assert!(users.iter().all(|u| sampled(u, 0.3) == sampled(u, 0.3)));
        // A player sampled at a rate stays sampled at any higher rate.
        assert!(
            users
                .iter()
                .filter(|u| sampled(u, 0.05))
                .all(|u| sampled(u, 0.5))
        );
    }
}
