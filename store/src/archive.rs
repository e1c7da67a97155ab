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
    /// The content hash of the rules it was applied under (`None`: archived before rule-set
    /// versions were recorded).
    pub rule_set: Option<String>,
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

/// A rule set events were applied under, as `rule_sets` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRuleSet {
    pub content_hash: String,
    /// When the process that first applied events under it loaded it.
    pub loaded_at: DateTime<Utc>,
    /// When it was recorded: the first batch applied under it.
    pub recorded_at: DateTime<Utc>,
    /// Its files: JSON text `[{"name", "text"}]`.
    pub files: String,
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
    /// The content hash of the rules each event was applied under.
    pub rule_set: Vec<&'a str>,
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
            columns
                .rule_set
                .push(pending.rules.info.content_hash.as_str());
        }
        columns
    }

    /// The same events cut into runs of one rule set each, in order (PostgreSQL archives a run
    /// as one row; a batch spans two rule sets only across a reload).
    pub fn by_rule_set(self) -> Vec<Self> {
        if self.rule_set.windows(2).all(|pair| pair[0] == pair[1]) {
            return vec![self];
        }
        let mut parts: Vec<Self> = Vec::new();
        for i in 0..self.len() {
            if parts
                .last()
                .is_none_or(|p| p.rule_set[0] != self.rule_set[i])
            {
                parts.push(Self::default());
            }
            let at = parts.len() - 1;
            let part = &mut parts[at];
            part.event_id.push(self.event_id[i]);
            part.kind.push(self.kind[i]);
            part.user_id.push(self.user_id[i]);
            part.namespace.push(self.namespace[i]);
            part.occurred_at.push(self.occurred_at[i]);
            part.stat_code.push(self.stat_code[i]);
            part.value.push(self.value[i]);
            part.inc.push(self.inc[i]);
            part.payload.push(self.payload[i].clone());
            part.rule_set.push(self.rule_set[i]);
        }
        parts
    }

    pub fn is_empty(&self) -> bool {
        self.event_id.is_empty()
    }

    pub fn len(&self) -> usize {
        self.event_id.len()
    }
}

/// The rule sets this process has recorded in `rule_sets`: each is written once, in the first
/// batch transaction that applies events under it, so every archived event's `rule_set` names a
/// recorded one.
#[derive(Debug, Default)]
pub(crate) struct RecordedRuleSets(std::sync::Mutex<std::collections::HashSet<String>>);

impl RecordedRuleSets {
    /// The batch's rule sets not recorded yet, each once.
    pub fn missing<'a>(&self, batch: &[&'a PendingEvent]) -> Vec<&'a engine::RuleSet> {
        let recorded = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut missing: Vec<&engine::RuleSet> = Vec::new();
        for pending in batch {
            let hash = &pending.rules.info.content_hash;
            if !recorded.contains(hash) && !missing.iter().any(|r| &r.info.content_hash == hash) {
                missing.push(&pending.rules);
            }
        }
        missing
    }

    /// Recorded (after the transaction that wrote them committed).
    pub fn mark(&self, rules: &[&engine::RuleSet]) {
        let mut recorded = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for rules in rules {
            recorded.insert(rules.info.content_hash.clone());
        }
    }
}

/// A rule set's files as `rule_sets.files` keeps them: `[{"name", "text"}]`.
pub(crate) fn files_json(rules: &engine::RuleSet) -> String {
    let files: Vec<serde_json::Value> = (rules.info.files.iter().zip(&rules.info.texts))
        .map(|(path, text)| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            serde_json::json!({ "name": name.unwrap_or_default(), "text": text })
        })
        .collect();
    serde_json::Value::Array(files).to_string()
}

/// Records a rule set unless it is (the backend's statement, `$4` the files' JSON text).
pub(crate) const RECORD_RULE_SET_PG: &str = "INSERT INTO rule_sets \
     (content_hash, loaded_at, recorded_at, files) VALUES ($1, $2, $3, $4::json) \
     ON CONFLICT (content_hash) DO NOTHING";
pub(crate) const RECORD_RULE_SET_SQLITE: &str = "INSERT INTO rule_sets \
     (content_hash, loaded_at, recorded_at, files) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (content_hash) DO NOTHING";

/// The recorded rule sets, newest first (`$1`: how many).
pub(crate) const RULE_SETS: &str = "SELECT content_hash, loaded_at, recorded_at, \
     CAST(files AS TEXT) FROM rule_sets ORDER BY recorded_at DESC, content_hash LIMIT $1";

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
                rule_set: row.try_get(10)?,
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

            async fn rule_sets(
                &self,
                limit: i64,
            ) -> Result<Vec<$crate::RecordedRuleSet>, $crate::StoreError> {
                let work = async move {
                    let rows: Vec<(
                        String,
                        chrono::DateTime<chrono::Utc>,
                        chrono::DateTime<chrono::Utc>,
                        String,
                    )> = sqlx::query_as($crate::archive::RULE_SETS)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(content_hash, loaded_at, recorded_at, files)| {
                            $crate::RecordedRuleSet {
                                content_hash,
                                loaded_at,
                                recorded_at,
                                files,
                            }
                        })
                        .collect())
                };
                self.common.probe.timed("rule_sets", work).await
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
