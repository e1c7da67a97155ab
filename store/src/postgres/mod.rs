//! PostgreSQL store: bulk statements over `UNNEST` arrays, rows locked with
//! `SELECT … ORDER BY key FOR UPDATE` so concurrent replicas never deadlock. Reward intents
//! are in `claims.rs`.

mod claims;

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use engine::{ChallengeId, CompiledGoal, GoalId, ProgressState, Status, UserId};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::fold::{ApplyBatch, auto_keys, first_occurrences, fold, isolate_failures, touched_keys};
use crate::row::{ProgressRow, expired_batch};
use crate::{
    ClaimStart, EventOutcome, ExpiredBatch, ExpiryCursor, ExpiryPolicy, IntentKey, IntentOutcome,
    IntentState, NewIntent, PendingEvent, PoolStats, ProgressStore, RewardIntent, StoreError,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

const COLUMNS: &str = "user_id, goal_id, challenge_id, namespace, progress, status, completed_at, claimed_at, \
     created_at, updated_at, is_active, assigned_at, expires_at, baseline_value, last_counted_day";

/// The production store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The reward ledger's HMAC secret, read (or created) on first use.
    ledger_secret: std::sync::Arc<tokio::sync::OnceCell<String>>,
}

impl PgStore {
    /// Connects a pool of at most `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|err| StoreError::Config(format!("bad DATABASE_URL: {err}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            ledger_secret: Default::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn apply_in_one_transaction(
        &self,
        batch: &[&PendingEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<EventOutcome>, StoreError> {
        let mut fresh = first_occurrences(batch);
        self.insert_auto_placeholders(batch, &fresh, now).await?;

        let mut tx = self.pool.begin().await?;
        let candidates: Vec<&PendingEvent> = batch
            .iter()
            .zip(&fresh)
            .filter(|(p, is_fresh)| **is_fresh && !p.event.id.is_empty())
            .map(|(p, _)| *p)
            .collect();
        if !candidates.is_empty() {
            let ids: Vec<&str> = candidates.iter().map(|p| p.event.id.as_str()).collect();
            let users: Vec<&str> = candidates
                .iter()
                .map(|p| p.event.user_id.as_str())
                .collect();
            let recorded: HashSet<String> = sqlx::query_scalar(
                "INSERT INTO processed_events (event_id, user_id, processed_at) \
                 SELECT id, uid, $3 FROM UNNEST($1::varchar[], $2::varchar[]) AS t(id, uid) \
                 ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            )
            .bind(&ids)
            .bind(&users)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
            for (pending, is_fresh) in batch.iter().zip(fresh.iter_mut()) {
                if *is_fresh
                    && !pending.event.id.is_empty()
                    && !recorded.contains(&pending.event.id)
                {
                    *is_fresh = false;
                }
            }
        }

        let keys = touched_keys(
            batch
                .iter()
                .zip(&fresh)
                .filter(|(_, f)| **f)
                .map(|(p, _)| *p),
        );
        let rows = lock_rows(&mut tx, &keys).await?;
        let folded = fold(batch, &fresh, rows, now);
        upsert(&mut tx, &folded.changed).await?;
        tx.commit().await?;
        Ok(folded.outcomes)
    }

    /// `assign: auto` goals have no row until their first event. Their rows are created (empty)
    /// in a statement of their own before the batch transaction, so the batch can lock every
    /// row it touches in key order; two replicas creating the same row cannot lose an update.
    async fn insert_auto_placeholders(
        &self,
        batch: &[&PendingEvent],
        fresh: &[bool],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let wanted: Vec<&PendingEvent> = batch
            .iter()
            .zip(fresh)
            .filter(|(_, f)| **f)
            .map(|(p, _)| *p)
            .collect();
        let keys = auto_keys(wanted);
        if keys.is_empty() {
            return Ok(());
        }
        let rows: Vec<ProgressRow> = keys
            .into_iter()
            .filter_map(|(user_id, goal_id, pending)| {
                let goal = pending.rules.goal(goal_id.as_str())?;
                Some(ProgressRow::assigned(
                    &user_id,
                    &pending.event.namespace,
                    goal,
                    now,
                ))
            })
            .collect();
        insert_missing(&self.pool, &rows).await
    }
}

fn decode(row: &PgRow) -> Result<ProgressRow, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let status = Status::parse(&status)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown status `{status}`").into()))?;
    Ok(ProgressRow {
        user_id: UserId::new(row.try_get::<String, _>("user_id")?),
        goal_id: GoalId::new(row.try_get::<String, _>("goal_id")?),
        challenge_id: ChallengeId::new(row.try_get::<String, _>("challenge_id")?),
        namespace: row.try_get("namespace")?,
        state: ProgressState {
            progress: row.try_get::<i64, _>("progress")?,
            baseline: row.try_get::<Option<i64>, _>("baseline_value")?,
            status,
            is_active: row.try_get("is_active")?,
            assigned_at: row.try_get("assigned_at")?,
            completed_at: row.try_get("completed_at")?,
            claimed_at: row.try_get("claimed_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            expires_at: row.try_get("expires_at")?,
            last_counted_day: row.try_get("last_counted_day")?,
        },
    })
}

async fn lock_rows(
    tx: &mut Transaction<'_, Postgres>,
    keys: &[(UserId, GoalId)],
) -> Result<Vec<ProgressRow>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let users: Vec<&str> = keys.iter().map(|(u, _)| u.as_str()).collect();
    let goals: Vec<&str> = keys.iter().map(|(_, g)| g.as_str()).collect();
    // A join on the key list (not `IN (…)`), so the planner probes the primary key per key
    // instead of scanning the table; ORDER BY below FOR UPDATE locks in key order.
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("p.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns} FROM UNNEST($1::varchar[], $2::varchar[]) AS k(user_id, goal_id) \
         JOIN user_goal_progress p ON p.user_id = k.user_id AND p.goal_id = k.goal_id \
         ORDER BY p.user_id, p.goal_id FOR UPDATE OF p"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&users)
        .bind(&goals)
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(decode)
        .collect::<Result<_, _>>()
        .map_err(StoreError::from)
}

/// Column arrays for a bulk statement over `UNNEST`.
struct Columns<'a> {
    user_id: Vec<&'a str>,
    goal_id: Vec<&'a str>,
    challenge_id: Vec<&'a str>,
    namespace: Vec<&'a str>,
    progress: Vec<i64>,
    status: Vec<&'static str>,
    completed_at: Vec<Option<DateTime<Utc>>>,
    claimed_at: Vec<Option<DateTime<Utc>>>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    is_active: Vec<bool>,
    assigned_at: Vec<Option<DateTime<Utc>>>,
    expires_at: Vec<Option<DateTime<Utc>>>,
    baseline: Vec<Option<i64>>,
    last_counted_day: Vec<Option<NaiveDate>>,
}

impl<'a> Columns<'a> {
    fn of(rows: &'a [ProgressRow]) -> Self {
        Self {
            user_id: rows.iter().map(|r| r.user_id.as_str()).collect(),
            goal_id: rows.iter().map(|r| r.goal_id.as_str()).collect(),
            challenge_id: rows.iter().map(|r| r.challenge_id.as_str()).collect(),
            namespace: rows.iter().map(|r| r.namespace.as_str()).collect(),
            progress: rows.iter().map(|r| r.state.progress.max(0)).collect(),
            status: rows.iter().map(|r| r.state.status.as_str()).collect(),
            completed_at: rows.iter().map(|r| r.state.completed_at).collect(),
            claimed_at: rows.iter().map(|r| r.state.claimed_at).collect(),
            created_at: rows.iter().map(|r| r.state.created_at).collect(),
            updated_at: rows.iter().map(|r| r.state.updated_at).collect(),
            is_active: rows.iter().map(|r| r.state.is_active).collect(),
            assigned_at: rows.iter().map(|r| r.state.assigned_at).collect(),
            expires_at: rows.iter().map(|r| r.state.expires_at).collect(),
            baseline: rows.iter().map(|r| r.state.baseline).collect(),
            last_counted_day: rows.iter().map(|r| r.state.last_counted_day).collect(),
        }
    }

    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.user_id)
            .bind(&self.goal_id)
            .bind(&self.challenge_id)
            .bind(&self.namespace)
            .bind(&self.progress)
            .bind(&self.status)
            .bind(&self.completed_at)
            .bind(&self.claimed_at)
            .bind(&self.created_at)
            .bind(&self.updated_at)
            .bind(&self.is_active)
            .bind(&self.assigned_at)
            .bind(&self.expires_at)
            .bind(&self.baseline)
            .bind(&self.last_counted_day)
    }
}

const UNNEST_ROWS: &str = "SELECT * FROM UNNEST($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], \
     $5::bigint[], $6::varchar[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], \
     $11::bool[], $12::timestamptz[], $13::timestamptz[], $14::bigint[], $15::date[])";

/// Writes rows (insert or full update of the mutable columns).
async fn upsert(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[ProgressRow],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO user_goal_progress ({COLUMNS}) {UNNEST_ROWS} \
         ON CONFLICT (user_id, goal_id) DO UPDATE SET \
           progress = EXCLUDED.progress, status = EXCLUDED.status, completed_at = EXCLUDED.completed_at, \
           claimed_at = EXCLUDED.claimed_at, updated_at = EXCLUDED.updated_at, is_active = EXCLUDED.is_active, \
           assigned_at = EXCLUDED.assigned_at, expires_at = EXCLUDED.expires_at, \
           baseline_value = EXCLUDED.baseline_value, last_counted_day = EXCLUDED.last_counted_day"
    );
    let columns = Columns::of(rows);
    columns
        .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts rows that do not exist yet; existing rows are left alone.
async fn insert_missing<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    rows: &[ProgressRow],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO user_goal_progress ({COLUMNS}) {UNNEST_ROWS} ON CONFLICT (user_id, goal_id) DO NOTHING"
    );
    let columns = Columns::of(rows);
    columns
        .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
        .execute(executor)
        .await?;
    Ok(())
}

#[async_trait]
impl ProgressStore for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn migrate_down(&self, steps: usize) -> Result<usize, StoreError> {
        let migrated: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        if !migrated {
            return Ok(0);
        }
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        // `undo` reverts every migration newer than the target version.
        let target = applied.get(steps).copied().unwrap_or(0);
        MIGRATOR.undo(&self.pool, target).await?;
        Ok(steps.min(applied.len()))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn pool_connections(&self) -> PoolStats {
        PoolStats {
            open: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
        }
    }

    async fn progress_for_user(
        &self,
        user_id: &UserId,
        active_only: bool,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM user_goal_progress WHERE user_id = $1 AND ($2 = false OR is_active) ORDER BY goal_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id.as_str())
            .bind(active_only)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(decode).collect::<Result<_, _>>()?)
    }

    async fn progress_for_user_goal(
        &self,
        user_id: &UserId,
        goal_id: &GoalId,
    ) -> Result<Option<ProgressRow>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM user_goal_progress WHERE user_id = $1 AND goal_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id.as_str())
            .bind(goal_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(decode).transpose()?)
    }

    async fn progress_for_user_goals(
        &self,
        user_id: &UserId,
        goal_ids: &[GoalId],
    ) -> Result<Vec<ProgressRow>, StoreError> {
        let ids: Vec<&str> = goal_ids.iter().map(GoalId::as_str).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM user_goal_progress WHERE user_id = $1 AND goal_id = ANY($2) ORDER BY goal_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id.as_str())
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(decode).collect::<Result<_, _>>()?)
    }

    async fn count_active_for_user(
        &self,
        user_id: &UserId,
        challenge_id: Option<&ChallengeId>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM user_goal_progress WHERE user_id = $1 AND is_active AND ($2::varchar IS NULL OR challenge_id = $2)",
        )
        .bind(user_id.as_str())
        .bind(challenge_id.map(ChallengeId::as_str))
        .fetch_one(&self.pool)
        .await?)
    }

    async fn initialize_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        goals: &[&CompiledGoal],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        let rows: Vec<ProgressRow> = goals
            .iter()
            .map(|g| ProgressRow::assigned(user_id, namespace, g, now))
            .collect();
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "INSERT INTO user_goal_progress ({COLUMNS}) {UNNEST_ROWS} ON CONFLICT (user_id, goal_id) DO NOTHING RETURNING {COLUMNS}"
        );
        let columns = Columns::of(&rows);
        let inserted = columns
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&self.pool)
            .await?;
        Ok(inserted.iter().map(decode).collect::<Result<_, _>>()?)
    }

    async fn set_active_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        goal: &CompiledGoal,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<ProgressRow, StoreError> {
        let mut row = ProgressRow::assigned(user_id, namespace, goal, now);
        row.state.is_active = active;
        let sql = format!(
            "INSERT INTO user_goal_progress ({COLUMNS}) {UNNEST_ROWS} \
             ON CONFLICT (user_id, goal_id) DO UPDATE SET is_active = EXCLUDED.is_active, \
               assigned_at = CASE WHEN EXCLUDED.is_active AND NOT user_goal_progress.is_active \
                                  THEN EXCLUDED.assigned_at ELSE user_goal_progress.assigned_at END \
             RETURNING {COLUMNS}"
        );
        let rows = [row];
        let columns = Columns::of(&rows);
        let stored = columns
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_one(&self.pool)
            .await?;
        Ok(decode(&stored)?)
    }

    async fn activate_batch_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        activate: &[&CompiledGoal],
        deactivate: &[GoalId],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !deactivate.is_empty() {
            let ids: Vec<&str> = deactivate.iter().map(GoalId::as_str).collect();
            sqlx::query("UPDATE user_goal_progress SET is_active = false WHERE user_id = $1 AND goal_id = ANY($2)")
                .bind(user_id.as_str())
                .bind(&ids)
                .execute(&mut *tx)
                .await?;
        }
        let mut result = Vec::new();
        if !activate.is_empty() {
            let rows: Vec<ProgressRow> = activate
                .iter()
                .map(|g| ProgressRow::assigned(user_id, namespace, g, now))
                .collect();
            let sql = format!(
                "INSERT INTO user_goal_progress ({COLUMNS}) {UNNEST_ROWS} \
                 ON CONFLICT (user_id, goal_id) DO UPDATE SET is_active = true, \
                   assigned_at = CASE WHEN user_goal_progress.is_active THEN user_goal_progress.assigned_at \
                                      ELSE EXCLUDED.assigned_at END \
                 RETURNING {COLUMNS}"
            );
            let columns = Columns::of(&rows);
            let stored = columns
                .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                .fetch_all(&mut *tx)
                .await?;
            result = stored.iter().map(decode).collect::<Result<_, _>>()?;
        }
        tx.commit().await?;
        Ok(result)
    }

    async fn delete_user(&self, user_id: &UserId) -> Result<u64, StoreError> {
        let secret = self.ledger_secret().await?;
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query("DELETE FROM user_goal_progress WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        self.move_intents_to_ledger(&mut tx, user_id, &secret, Utc::now())
            .await?;
        sqlx::query("DELETE FROM processed_events WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn delete_expired(
        &self,
        policies: &[ExpiryPolicy],
        before: DateTime<Utc>,
        after: Option<&ExpiryCursor>,
        limit: i64,
    ) -> Result<ExpiredBatch, StoreError> {
        let goals: Vec<&str> = policies.iter().map(|p| p.goal_id.as_str()).collect();
        let active: Vec<bool> = policies.iter().map(|p| p.active).collect();
        let claimed: Vec<bool> = policies.iter().map(|p| p.claimed_too).collect();
        // `scanned` walks the expiry index from the cursor, every row counting against the
        // limit (also rows of goals without a policy), so one statement's work is bounded.
        // `doomed` locks the deletable ones, skipping rows an event holds, and checks the
        // conditions again on the locked version.
        // Two statement texts rather than `$6 IS NULL OR …`: a generic plan would keep the OR
        // and could not use the cursor as an index condition.
        let from_cursor = if after.is_some() {
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
                 AND (p.status <> 'claimed' OR s.claimed_too) \
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
        .bind(before)
        .bind(limit)
        .bind(after.map(|c| c.expires_at))
        .bind(after.map(|c| c.user_id.as_str()))
        .bind(after.map(|c| c.goal_id.as_str()))
        .fetch_one(&self.pool)
        .await?;
        Ok(expired_batch(
            row.try_get("deleted")?,
            row.try_get("scanned")?,
            limit,
            row.try_get("expires_at")?,
            row.try_get("user_id")?,
            row.try_get("goal_id")?,
        ))
    }

    async fn prune_processed_events(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM processed_events WHERE event_id IN ( \
               SELECT event_id FROM processed_events WHERE processed_at < $1 ORDER BY processed_at LIMIT $2)",
        )
        .bind(before)
        .bind(limit)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn begin_claim(
        &self,
        intent: &NewIntent,
        now: DateTime<Utc>,
    ) -> Result<ClaimStart, StoreError> {
        self.begin_claim_impl(intent, now).await
    }

    async fn mark_sending(
        &self,
        key: &IntentKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError> {
        self.mark_sending_impl(key, lease_until, now).await
    }

    async fn finish_intent(
        &self,
        key: &IntentKey,
        outcome: &IntentOutcome,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError> {
        let from: &[&str] = match outcome {
            IntentOutcome::Retry { .. } | IntentOutcome::Unknown { .. } => &["pending", "sending"],
            _ => &["pending", "sending", "unknown"],
        };
        self.finish_intent_impl(key, outcome, from, now).await
    }

    async fn resolve_intent(
        &self,
        key: &IntentKey,
        granted: bool,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError> {
        let outcome = if granted {
            IntentOutcome::Granted { claimed_at: now }
        } else {
            IntentOutcome::Refused {
                error: note.to_string(),
            }
        };
        self.finish_intent_impl(key, &outcome, &["unknown"], now)
            .await
    }

    async fn lease_intents(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<RewardIntent>, StoreError> {
        self.lease_intents_impl(now, lease_until, limit).await
    }

    async fn intent(&self, key: &IntentKey) -> Result<Option<RewardIntent>, StoreError> {
        self.intent_impl(key).await
    }

    async fn list_intents(
        &self,
        state: Option<IntentState>,
        limit: i64,
    ) -> Result<Vec<RewardIntent>, StoreError> {
        self.list_intents_impl(state, limit).await
    }

    async fn intent_counts(&self) -> Result<Vec<(IntentState, i64)>, StoreError> {
        self.intent_counts_impl().await
    }

    async fn apply_events(
        &self,
        batch: &[PendingEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<EventOutcome, StoreError>>, StoreError> {
        isolate_failures(self, batch, now).await
    }
}

#[async_trait]
impl ApplyBatch for PgStore {
    async fn apply_batch(
        &self,
        batch: &[&PendingEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<EventOutcome>, StoreError> {
        self.apply_in_one_transaction(batch, now).await
    }
}
