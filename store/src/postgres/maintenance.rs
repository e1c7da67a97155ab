//! PostgreSQL's hooks of the `Maintenance` role written once in `maintenance.rs`.
use super::MIGRATOR;
use super::PgStore;
use super::archive::BATCH_EVENTS;
use crate::maintenance::ExpiryScan;
use crate::row::expired_batch;
use crate::{ExpiredBatch, StoreError};
use chrono::{DateTime, Utc};
use engine::UserId;
use sqlx::Row;

type Tx<'c> = sqlx::Transaction<'c, sqlx::Postgres>;

crate::maintenance::maintenance!(
    PgStore,
    sqlx::Postgres,
    migrated: "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
    newest: "GREATEST",
    applied_key: ("ctid", "ctid"),
    elements: "json_array_elements_text($1::json)",
    skip_locked: " FOR UPDATE SKIP LOCKED"
);

/// Takes a player's events out of the archive batches that hold them: a batch of theirs alone
/// goes, the others are rewritten without their events.
async fn delete_archived_events(tx: &mut Tx<'_>, user_id: &UserId) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM event_archive_batch \
         WHERE players @> ARRAY[$1]::varchar[] AND cardinality(players) = 1",
    )
    .bind(user_id.as_str())
    .execute(&mut **tx)
    .await?;
    let sql = format!(
        "UPDATE event_archive_batch t SET events = k.events, \
           players = array_remove(t.players, $1::varchar), event_id = k.event_id, kind = k.kind, \
           user_id = k.user_id, namespace = k.namespace, occurred_at = k.occurred_at, \
           stat_code = k.stat_code, value = k.value, inc = k.inc, payload = k.payload \
         FROM ( \
           SELECT b.id, count(*)::int AS events, array_agg(e.event_id ORDER BY e.place) AS event_id, \
             array_agg(e.kind ORDER BY e.place) AS kind, array_agg(e.user_id ORDER BY e.place) AS user_id, \
             array_agg(e.namespace ORDER BY e.place) AS namespace, \
             array_agg(e.occurred_at ORDER BY e.place) AS occurred_at, \
             array_agg(e.stat_code ORDER BY e.place) AS stat_code, \
             array_agg(e.value ORDER BY e.place) AS value, array_agg(e.inc ORDER BY e.place) AS inc, \
             array_agg(e.payload ORDER BY e.place) AS payload \
           FROM event_archive_batch b {BATCH_EVENTS} \
           WHERE b.players @> ARRAY[$1]::varchar[] AND e.user_id <> $1 \
           GROUP BY b.id) k \
         WHERE t.id = k.id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl PgStore {
    /// The read caches' change log: each reader prunes what it has read, but a deployment with
    /// no reader (no service, or its cache off) would keep every row. What is older than the
    /// dedup window and an hour is past any cache's life (`PROGRESS_CACHE_SECONDS`).
    async fn forget_change_log(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM progress_changes WHERE ctid IN ( \
               SELECT ctid FROM progress_changes \
               WHERE recorded_at < LEAST($1, now() - interval '1 hour') \
               LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Exclusive against the batches touching this player (they hold it shared).
    async fn lock_user(&self, tx: &mut Tx<'_>, user_id: &UserId) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(user_id.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// One step of the expiry walk, in one statement.
    async fn expire(&self, scan: &ExpiryScan<'_>) -> Result<ExpiredBatch, StoreError> {
        let goals: Vec<&str> = scan.policies.iter().map(|p| p.goal_id.as_str()).collect();
        let active: Vec<bool> = scan.policies.iter().map(|p| p.active).collect();
        let claimed: Vec<bool> = scan.policies.iter().map(|p| p.claimed_too).collect();
        // `scanned` walks the expiry index from the cursor, every row counting against the
        // scan.limit (also rows of goals without a policy), so one statement's work is bounded.
        // `doomed` locks the deletable ones, skipping rows an event holds, and checks the
        // conditions again on the locked version.
        // Two statement texts rather than `$6 IS NULL OR …`: a generic plan would keep the OR
        // and could not use the cursor as an index condition.
        let from_cursor = if scan.after.is_some() {
            "AND (e.expires_at, e.user_id, e.goal_id) > ($6, $7, $8)"
        } else {
            "AND $6::timestamptz IS NULL AND $7::varchar IS NULL AND $8::varchar IS NULL"
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "WITH scanned AS ( \
                   SELECT e.user_id, e.goal_id, e.expires_at, g.goal_id IS NOT NULL AS known, \
                          g.active, g.claimed_too \
                   FROM user_goal_progress e \
                   LEFT JOIN UNNEST($1::varchar[], $2::bool[], $3::bool[]) AS g(goal_id, active, claimed_too) \
                     ON g.goal_id = e.goal_id \
                   WHERE e.expires_at < $4 {from_cursor} \
                   ORDER BY e.expires_at, e.user_id, e.goal_id \
                   LIMIT $5), \
                 doomed AS ( \
                   SELECT p.user_id, p.goal_id FROM user_goal_progress p \
                   JOIN scanned s ON s.user_id = p.user_id AND s.goal_id = p.goal_id \
                   WHERE s.known AND p.expires_at < $4 AND p.is_active = s.active \
                     AND (p.status <> $9 OR s.claimed_too) \
                     AND NOT EXISTS (SELECT 1 FROM reward_grants r \
                       WHERE r.user_id = p.user_id AND r.goal_id = p.goal_id \
                         AND r.state IN ('pending', 'sending', 'unknown')) \
                   FOR UPDATE OF p SKIP LOCKED), \
                 deleted AS ( \
                   DELETE FROM user_goal_progress p USING doomed d \
                   WHERE p.user_id = d.user_id AND p.goal_id = d.goal_id RETURNING 1) \
                 SELECT (SELECT count(*) FROM deleted) AS deleted, \
                        (SELECT count(*) FROM scanned) AS scanned, \
                        l.expires_at, l.user_id, l.goal_id \
                 FROM (SELECT 1) AS one LEFT JOIN LATERAL ( \
                   SELECT expires_at, user_id, goal_id FROM scanned \
                   ORDER BY expires_at DESC, user_id DESC, goal_id DESC LIMIT 1) AS l ON true"
            )))
            .bind(&goals)
            .bind(&active)
            .bind(&claimed)
            .bind(scan.before)
            .bind(scan.limit)
            .bind(scan.after.map(|c| c.expires_at))
            .bind(scan.after.map(|c| c.user_id.as_str()))
            .bind(scan.after.map(|c| c.goal_id.as_str()))
            .bind(engine::Status::Claimed.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(expired_batch(
            row.try_get("deleted")?,
            row.try_get("scanned")?,
            scan.limit,
            row.try_get("expires_at")?,
            row.try_get("user_id")?,
            row.try_get("goal_id")?,
        ))
    }
}
