//! The `SupportLog` role written once for both backends ([`support_log!`]): support's changes to
//! a player's goal, each written with its entry of the append-only audit log in one
//! transaction, and the log's reads. Statements use `$N` placeholders, which both drivers bind
//! by number. Each backend's own part is `begin_write` (SQLite takes its single write lock up
//! front).
//!
//! On PostgreSQL the database itself refuses updates and deletes of `audit_log` (a trigger,
//! migration `20261207000002_audit_log`); the one exception is a player's deletion, which
//! replaces the player's id in their entries with [`pseudonym`] and records that it did.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use engine::UserId;

use crate::{ProgressRow, StoreError};

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    /// Who acted: a user token's `sub`, or a server token's `client_id`.
    pub actor: String,
    /// `set`, `complete`, `reset`, `pseudonymize`, …
    pub action: String,
    pub user_id: String,
    pub challenge_id: Option<String>,
    pub goal_id: Option<String>,
    pub reason: String,
    /// JSON text: what the action changed (`{"before": …, "after": …}`).
    pub detail: String,
}

/// A new entry id: 128 random bits, written as a UUID (version 4).
pub fn new_audit_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|err| StoreError::Config(format!("no randomness for an audit id: {err}")))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = crate::claims::hex(&bytes);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// What a deleted player's audit entries name instead of the player: a keyed hash under the
/// database's ledger secret (the claim ledger's), so the entries still group by player and
/// name no one.
pub fn pseudonym(secret: &str, user_id: &UserId) -> String {
    let digest = crate::claims::keyed_hash(
        secret,
        &[b"audit-user\0".as_slice(), user_id.as_str().as_bytes()].concat(),
    );
    format!("deleted-{}", &digest[..32])
}

/// The first instant of `at`'s UTC month.
pub fn month_start(at: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{Datelike, TimeZone};
    Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(at)
}

/// The audit entry that records a retention run: the month(s) that went, how many entries.
pub(crate) fn retention_entry(
    now: DateTime<Utc>,
    before: DateTime<Utc>,
    months: &[String],
    entries: u64,
) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: new_audit_id()?,
        at: now,
        actor: "audit-retention".into(),
        action: "retention".into(),
        user_id: String::new(),
        challenge_id: None,
        goal_id: None,
        reason: format!(
            "AUDIT_RETENTION: months that ended before {}",
            before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        detail: serde_json::json!({"months": months, "entries": entries}).to_string(),
    })
}

/// What support decided from the row as it stands: the row to write and its audit entry, or
/// nothing (refused: the caller kept why).
pub type Decide<'a> = &'a (
        dyn Fn(Option<&ProgressRow>) -> Option<(ProgressRow, AuditEntry, Option<crate::Notice>)>
            + Send
            + Sync
    );

/// Support's writes and the audit log.
#[async_trait]
pub trait SupportLog: Send + Sync + 'static {
    /// Reads `user_id`'s row of `goal_id` and holds it (PostgreSQL: `FOR UPDATE`; SQLite: the
    /// write lock) while `decide` decides from it, then writes the row it answers with its
    /// audit entry, in the same transaction: an event or claim landing meanwhile waits, and is
    /// applied on top. Answers the entry written, or `None` when `decide` refused (nothing is
    /// written) or, rarely, when another writer created the player's row first (decide again).
    async fn support_write(
        &self,
        user_id: &UserId,
        goal_id: &engine::GoalId,
        decide: Decide<'_>,
    ) -> Result<Option<AuditEntry>, StoreError>;

    /// The newest `limit` entries, of one player when `user_id` is given: the first page, or
    /// the page after `after` (the previous page's last entry), newest first.
    async fn audit_entries(
        &self,
        user_id: Option<&UserId>,
        after: Option<&AuditCursor>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}

pub(crate) const INSERT_ENTRY: &str = "INSERT INTO audit_log \
     (id, at, actor, action, user_id, challenge_id, goal_id, reason, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub(crate) const ENTRIES: &str = "SELECT id, at, actor, action, user_id, challenge_id, goal_id, \
     reason, detail FROM audit_log WHERE (CAST($1 AS VARCHAR) IS NULL OR user_id = $1) \
     ORDER BY at DESC, seq DESC LIMIT $2";

/// [`ENTRIES`] after a page's last entry (`$3`, `$4`: its time and id), in the same order.
pub(crate) const ENTRIES_AFTER: &str = "SELECT id, at, actor, action, user_id, challenge_id, \
     goal_id, reason, detail FROM audit_log WHERE (CAST($1 AS VARCHAR) IS NULL OR user_id = $1) \
     AND (at < $3 OR (at = $3 AND seq < (SELECT seq FROM audit_log WHERE at = $3 AND id = $4))) \
     ORDER BY at DESC, seq DESC LIMIT $2";

/// Where a page of the audit log ends: its last entry's time and id. The next page starts
/// after it (`SupportLog::audit_entries`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCursor {
    pub at: DateTime<Utc>,
    pub id: String,
}

impl AuditCursor {
    /// After `entry`.
    pub fn after(entry: &AuditEntry) -> Self {
        Self {
            at: entry.at,
            id: entry.id.clone(),
        }
    }

    /// As text for an API: the time in microseconds, a dot, the id.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.at.timestamp_micros(), self.id)
    }

    /// Read back from [`AuditCursor::encode`]'s text (`None`: not such a text).
    pub fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('.')?;
        let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        let valid = !id.is_empty()
            && id.len() <= 36
            && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        valid.then(|| Self {
            at,
            id: id.to_string(),
        })
    }
}

/// The row as support decided it, held since it was read. Bound as [`INSERT_NEW`] is (the
/// row's columns in `players::COLUMNS` order); the key, challenge, namespace and creation time
/// (`$1`…`$4`, `$9`) do not change.
pub(crate) const UPDATE: &str = "UPDATE user_goal_progress SET progress = $5, \
     status = $6, completed_at = $7, claimed_at = $8, updated_at = $10, is_active = $11, \
     assigned_at = $12, expires_at = $13, baseline_value = $14, last_counted_day = $15 \
     WHERE user_id = $1 AND goal_id = $2";

/// The player's row of one goal (the backend appends its row lock).
pub(crate) static ROW: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {} FROM user_goal_progress WHERE user_id = $1 AND goal_id = $2",
        crate::players::COLUMNS
    )
});

/// A new row, only if the player still has none.
pub(crate) const INSERT_NEW: &str = "INSERT INTO user_goal_progress (user_id, goal_id, \
     challenge_id, namespace, progress, status, completed_at, claimed_at, created_at, updated_at, \
     is_active, assigned_at, expires_at, baseline_value, last_counted_day) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
     ON CONFLICT (user_id, goal_id) DO NOTHING";

/// A deleted player's entries name the pseudonym (`$2`) instead of the player (`$1`).
pub(crate) const PSEUDONYMIZE: &str = "UPDATE audit_log SET user_id = $2 WHERE user_id = $1";

/// Implements `SupportLog` for `$store`, whose transactions are `$db`'s; `lock` follows the
/// row's select (PostgreSQL: `FOR UPDATE`; SQLite's write lock is taken at `BEGIN`).
macro_rules! support_log {
    ($store:ty, $db:ty, lock: $lock:literal) => {
        #[async_trait::async_trait]
        impl $crate::audit::SupportLog for $store {
            async fn support_write(
                &self,
                user_id: &engine::UserId,
                goal_id: &engine::GoalId,
                decide: $crate::audit::Decide<'_>,
            ) -> Result<Option<$crate::audit::AuditEntry>, $crate::StoreError> {
                let work = async move {
                    let mut tx = self.begin_write().await?;
                    let sql = format!("{}{}", $crate::audit::ROW.as_str(), $lock);
                    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(user_id.as_str())
                        .bind(goal_id.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let before = found.as_ref().map(super::decode).transpose()?;
                    let Some((after, entry, notice)) = decide(before.as_ref()) else {
                        tx.rollback().await?;
                        return Ok(None);
                    };
                    let state = &after.state;
                    let sql = match before {
                        Some(_) => $crate::audit::UPDATE,
                        None => $crate::audit::INSERT_NEW,
                    };
                    let written = sqlx::query(sql)
                        .bind(after.user_id.as_str())
                        .bind(after.goal_id.as_str())
                        .bind(after.challenge_id.as_str())
                        .bind(after.namespace.as_str())
                        .bind(state.progress)
                        .bind(state.status.as_str())
                        .bind(state.completed_at)
                        .bind(state.claimed_at)
                        .bind(state.created_at)
                        .bind(state.updated_at)
                        .bind(state.is_active)
                        .bind(state.assigned_at)
                        .bind(state.expires_at)
                        .bind(state.baseline)
                        .bind(state.last_counted_day)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if written != 1 {
                        // Another writer created the row since the read: decide again.
                        tx.rollback().await?;
                        return Ok(None);
                    }
                    insert_entry(&mut tx, &entry).await?;
                    // The goal it completes is notified, as an event's completion is.
                    if let Some(notice) = &notice {
                        super::outbox::insert_notice(&mut tx, notice).await?;
                    }
                    tx.commit().await?;
                    Ok(Some(entry))
                };
                self.common.probe.timed("support_write", work).await
            }

            async fn audit_entries(
                &self,
                user_id: Option<&engine::UserId>,
                after: Option<&$crate::audit::AuditCursor>,
                limit: i64,
            ) -> Result<Vec<$crate::audit::AuditEntry>, $crate::StoreError> {
                let work = async move {
                    let rows: Vec<(
                        String,
                        chrono::DateTime<chrono::Utc>,
                        String,
                        String,
                        String,
                        Option<String>,
                        Option<String>,
                        String,
                        String,
                    )> = match after {
                        None => {
                            sqlx::query_as($crate::audit::ENTRIES)
                                .bind(user_id.map(engine::UserId::as_str))
                                .bind(limit)
                                .fetch_all(&self.pool)
                                .await?
                        }
                        Some(after) => {
                            sqlx::query_as($crate::audit::ENTRIES_AFTER)
                                .bind(user_id.map(engine::UserId::as_str))
                                .bind(limit)
                                .bind(after.at)
                                .bind(after.id.as_str())
                                .fetch_all(&self.pool)
                                .await?
                        }
                    };
                    Ok(rows
                        .into_iter()
                        .map(|row| $crate::audit::AuditEntry {
                            id: row.0,
                            at: row.1,
                            actor: row.2,
                            action: row.3,
                            user_id: row.4,
                            challenge_id: row.5,
                            goal_id: row.6,
                            reason: row.7,
                            detail: row.8,
                        })
                        .collect())
                };
                self.common.probe.timed("audit_entries", work).await
            }
        }

        /// Appends `entry` to the audit log in `tx`.
        pub(super) async fn insert_entry(
            tx: &mut sqlx::Transaction<'static, $db>,
            entry: &$crate::audit::AuditEntry,
        ) -> Result<(), $crate::StoreError> {
            month_of(tx, entry.at).await?;
            sqlx::query($crate::audit::INSERT_ENTRY)
                .bind(entry.id.as_str())
                .bind(entry.at)
                .bind(entry.actor.as_str())
                .bind(entry.action.as_str())
                .bind(entry.user_id.as_str())
                .bind(entry.challenge_id.as_deref())
                .bind(entry.goal_id.as_deref())
                .bind(entry.reason.as_str())
                .bind(entry.detail.as_str())
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// A deleted player's audit entries: the player's id replaced by `pseudonym`, and that
        /// recorded as an entry of its own (`allow` opens the log to the one update first).
        pub(super) async fn pseudonymize_audit(
            tx: &mut sqlx::Transaction<'static, $db>,
            user_id: &engine::UserId,
            pseudonym: &str,
            now: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), $crate::StoreError> {
            allow_pseudonymizing(tx).await?;
            let entries = sqlx::query($crate::audit::PSEUDONYMIZE)
                .bind(user_id.as_str())
                .bind(pseudonym)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            if entries == 0 {
                return Ok(());
            }
            let entry = $crate::audit::AuditEntry {
                id: $crate::audit::new_audit_id()?,
                at: now,
                actor: "gdpr-deletion".into(),
                action: "pseudonymize".into(),
                user_id: pseudonym.to_string(),
                challenge_id: None,
                goal_id: None,
                reason: "the player's data was deleted".into(),
                detail: format!("{{\"entries\":{entries}}}"),
            };
            insert_entry(tx, &entry).await
        }
    };
}

pub(crate) use support_log;
