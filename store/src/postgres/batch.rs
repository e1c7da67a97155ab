//! PostgreSQL's batch transaction: the group-commit writer's events, folded into the rows they touch.

use super::{PgStore, decode};
use crate::archive::ArchiveColumns;
use crate::fold::{
    ApplyBatch, Outcomes, Tombstones, auto_keys, batch_users, deduplicated, first_occurrences,
    fold, forget_deleted, fresh_events, touched_keys,
};
use crate::players::{COLUMNS, KEEP};
use crate::row::ProgressRow;
use crate::{EventOutcome, PendingEvent, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use engine::{GoalId, UserId};
use sqlx::{Connection as _, PgConnection, Postgres, Transaction};
use std::collections::HashSet;

pub(super) async fn lock_rows(
    tx: &mut Transaction<'_, Postgres>,
    keys: &[(UserId, GoalId)],
) -> Result<Vec<ProgressRow>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let users: Vec<&str> = keys.iter().map(|(u, _)| u.as_str()).collect();
    let goals: Vec<&str> = keys.iter().map(|(_, g)| g.as_str()).collect();
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(lock_rows_sql);
    let rows = sqlx::query(sqlx::AssertSqlSafe(SQL.as_str()))
        .bind(&users)
        .bind(&goals)
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(decode)
        .collect::<Result<_, _>>()
        .map_err(StoreError::from)
}
/// The statement `lock_rows` runs: one index probe per key, whatever the planner thinks of the
/// table (a LATERAL lookup). A plain join was planned as a hash join over a sequential scan
/// while the table was small, and a connection's cached generic plan kept doing so as it grew
/// (seen in a fresh database under load: 1,200 scans of the whole table in a minute). The keys
/// come sorted, and the nested loop locks in their order, so replicas never wait in a cycle.
fn lock_rows_sql() -> String {
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("p.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {columns} FROM UNNEST($1::varchar[], $2::varchar[]) WITH ORDINALITY AS k(user_id, goal_id, n) \
         CROSS JOIN LATERAL (SELECT * FROM user_goal_progress q \
           WHERE q.user_id = k.user_id AND q.goal_id = k.goal_id FOR UPDATE) p \
         ORDER BY k.n"
    )
}

/// Column arrays for a bulk statement over `UNNEST`.
pub(super) struct Columns<'a> {
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
    pub(super) fn of(rows: &'a [ProgressRow]) -> Self {
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

    pub(super) fn bind<'q>(
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
pub(super) const UNNEST_ROWS: &str = "SELECT * FROM UNNEST($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], \
     $5::bigint[], $6::varchar[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], \
     $11::bool[], $12::timestamptz[], $13::timestamptz[], $14::bigint[], $15::date[])";
/// Writes a batch's rows (insert or full update of the mutable columns) and appends its archived
/// events, in one statement when there are both: the batch transaction is a chain of round trips
/// with its rows locked, so a separate archive statement lengthened every batch (at 256 events in
/// flight that cost the flat-out rate a fifth, with the CPU half idle).
async fn write_batch(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[ProgressRow],
    archived: &ArchiveColumns<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if rows.is_empty() && archived.is_empty() {
        return Ok(());
    }
    let columns = Columns::of(rows);
    let sql = match (rows.is_empty(), archived.is_empty()) {
        (false, true) => &WRITE_STATEMENTS.upsert,
        (true, _) => &WRITE_STATEMENTS.archive,
        (false, false) => &WRITE_STATEMENTS.both,
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
    if !rows.is_empty() {
        query = columns.bind(query);
    }
    if !archived.is_empty() {
        query = archived.bind(query, now);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}
/// Inserts rows that do not exist yet; existing rows are left alone.
pub(super) async fn insert_missing<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    rows: &[ProgressRow],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = format!("INSERT INTO user_goal_progress ({COLUMNS}) {UNNEST_ROWS} {KEEP}");
    let columns = Columns::of(rows);
    columns
        .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
        .execute(executor)
        .await?;
    Ok(())
}
#[async_trait]
impl ApplyBatch for PgStore {
    /// The batch on one of the writer's own connections. It goes back after a commit, and
    /// after the database refused the batch once it answers again (the refused transaction's
    /// rollback goes first); after a failure to reach the database it is closed.
    async fn apply_batch(&self, batch: &[&PendingEvent], now: DateTime<Utc>) -> Outcomes {
        let mut conn = self.writer_connections.take().await?;
        let result = self.apply_on(&mut conn, batch, now).await;
        let reusable = match &result {
            Ok(_) => true,
            Err(err) => !err.is_unavailable() && conn.ping().await.is_ok(),
        };
        if reusable {
            self.writer_connections.give_back(conn);
        }
        result
    }
}

/// What one attempt at the batch transaction came to.
enum Attempt {
    Committed {
        outcomes: Vec<EventOutcome>,
        /// The auto rows its events touched, which exist now.
        auto_rows: Vec<(UserId, GoalId)>,
    },
    /// An auto row the caller expected was not there: rolled back, nothing written.
    AutoRowMissing,
}

impl PgStore {
    /// The placeholders' transaction when a batch may need new auto rows (`auto_rows.rs`), then
    /// the batch transaction.
    async fn apply_on(
        &self,
        conn: &mut PgConnection,
        batch: &[&PendingEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<EventOutcome>, StoreError> {
        let missing = self.common.rule_sets.missing(batch);
        for rules in &missing {
            sqlx::query(crate::archive::RECORD_RULE_SET_PG)
                .bind(&rules.info.content_hash)
                .bind(rules.info.loaded_at)
                .bind(now)
                .bind(crate::archive::files_json(rules))
                .execute(&mut *conn)
                .await?;
        }
        self.common.rule_sets.mark(&missing);
        let users = batch_users(batch);
        let known = self.known_auto_rows.all_known(batch.iter().copied());
        if !known {
            Self::insert_auto_placeholders(conn, batch, &first_occurrences(batch), &users, now)
                .await?;
        }
        let legacy = &self.common.legacy_dedup;
        let mut attempt = batch_transaction(conn, batch, &users, now, known, legacy).await?;
        if let Attempt::AutoRowMissing = attempt {
            Self::insert_auto_placeholders(conn, batch, &first_occurrences(batch), &users, now)
                .await?;
            attempt = batch_transaction(conn, batch, &users, now, false, legacy).await?;
        }
        match attempt {
            Attempt::Committed {
                outcomes,
                auto_rows,
            } => {
                self.known_auto_rows.remember(auto_rows);
                Ok(outcomes)
            }
            Attempt::AutoRowMissing => Err(StoreError::Inconsistent(
                "the batch transaction asked for placeholders it was told to go without".into(),
            )),
        }
    }
}

/// Locks the batch's users and rows, drops what was deleted or already counted, folds the rest
/// and writes it, in one transaction. With `expect_auto_rows`, an `assign: auto` row missing
/// among the locked ones rolls it back ([`Attempt::AutoRowMissing`]); without, such a row is
/// created by the write (the placeholders ran just before, so only a deletion since removed it).
async fn batch_transaction(
    conn: &mut PgConnection,
    batch: &[&PendingEvent],
    users: &[String],
    now: DateTime<Utc>,
    expect_auto_rows: bool,
    legacy: &crate::dedup::Legacy,
) -> Result<Attempt, StoreError> {
    let mut fresh = first_occurrences(batch);
    let mut tx = conn.begin().await?;
    let tombstones = lock_users(&mut tx, users).await?;
    let forgotten = forget_deleted(batch, &mut fresh, &tombstones);
    let candidates: Vec<&PendingEvent> = batch
        .iter()
        .zip(&fresh)
        .filter(|(p, is_fresh)| **is_fresh && deduplicated(p))
        .map(|(p, _)| *p)
        .collect();
    if !candidates.is_empty() {
        let applied = super::dedup::record_applied(&mut tx, &candidates, legacy, now).await?;
        for (pending, is_fresh) in batch.iter().zip(fresh.iter_mut()) {
            if *is_fresh && deduplicated(pending) && !applied.contains(&crate::dedup::key(pending))
            {
                *is_fresh = false;
            }
        }
    }

    let keys = touched_keys(fresh_events(batch, &fresh));
    let rows = lock_rows(&mut tx, &keys).await?;
    let auto_rows: Vec<(UserId, GoalId)> = auto_keys(fresh_events(batch, &fresh))
        .into_iter()
        .map(|(user, goal, _)| (user, goal))
        .collect();
    if expect_auto_rows && !all_present(&auto_rows, &rows) {
        tx.rollback().await?;
        return Ok(Attempt::AutoRowMissing);
    }
    let folded = fold(batch, &fresh, &forgotten, rows, now);
    let mut archived = ArchiveColumns::of(batch, &fresh).by_rule_set().into_iter();
    let first = archived.next().unwrap_or_default();
    write_batch(&mut tx, &folded.changed, &first, now).await?;
    for part in archived {
        write_batch(&mut tx, &[], &part, now).await?;
    }
    super::outbox::insert_notices(&mut tx, &folded.completions).await?;
    tx.commit().await?;
    Ok(Attempt::Committed {
        outcomes: folded.outcomes,
        auto_rows,
    })
}

/// Whether every one of `keys` has a row among `rows`.
fn all_present(keys: &[(UserId, GoalId)], rows: &[ProgressRow]) -> bool {
    if keys.is_empty() {
        return true;
    }
    let present: HashSet<(&str, &str)> = rows
        .iter()
        .map(|row| (row.user_id.as_str(), row.goal_id.as_str()))
        .collect();
    keys.iter()
        .all(|(user, goal)| present.contains(&(user.as_str(), goal.as_str())))
}

/// The three shapes of a batch's write, built once.
struct WriteStatements {
    upsert: String,
    archive: String,
    both: String,
}

static WRITE_STATEMENTS: std::sync::LazyLock<WriteStatements> = std::sync::LazyLock::new(|| {
    let upsert = format!(
        "INSERT INTO user_goal_progress ({COLUMNS}) {UNNEST_ROWS} \
         ON CONFLICT (user_id, goal_id) DO UPDATE SET \
           progress = EXCLUDED.progress, status = EXCLUDED.status, completed_at = EXCLUDED.completed_at, \
           claimed_at = EXCLUDED.claimed_at, updated_at = EXCLUDED.updated_at, is_active = EXCLUDED.is_active, \
           assigned_at = EXCLUDED.assigned_at, expires_at = EXCLUDED.expires_at, \
           baseline_value = EXCLUDED.baseline_value, last_counted_day = EXCLUDED.last_counted_day"
    );
    WriteStatements {
        archive: archive_sql(1),
        both: format!("WITH archived AS ({}) {upsert}", archive_sql(16)),
        upsert,
    }
});

/// The statement appending a batch's archived events as ONE row of `event_archive_batch` (column
/// arrays, compressed: a quarter of the write-ahead log of a row per event), its parameters
/// numbered from `first`.
fn archive_sql(first: usize) -> String {
    const TYPES: [&str; 9] = [
        "varchar",
        "varchar",
        "varchar",
        "varchar",
        "timestamptz",
        "varchar",
        "bigint",
        "bigint",
        "text",
    ];
    let arrays: Vec<String> = TYPES
        .iter()
        .enumerate()
        .map(|(i, ty)| format!("${}::{ty}[]", first + i))
        .collect();
    let users = &arrays[2]; // user_id's array
    format!(
        "INSERT INTO event_archive_batch \
           (archived_at, events, players, event_id, kind, user_id, namespace, occurred_at, stat_code, \
            value, inc, payload, rule_set) \
         VALUES (${}, cardinality({users}), ARRAY(SELECT DISTINCT unnest({users})), {}::json[], ${})",
        first + TYPES.len(),
        arrays.join(", "),
        first + TYPES.len() + 1
    )
}

impl ArchiveColumns<'_> {
    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
        now: DateTime<Utc>,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.event_id)
            .bind(&self.kind)
            .bind(&self.user_id)
            .bind(&self.namespace)
            .bind(&self.occurred_at)
            .bind(&self.stat_code)
            .bind(&self.value)
            .bind(&self.inc)
            .bind(&self.payload)
            .bind(now)
            .bind(self.rule_set.first().copied())
    }
}

/// Takes the shared lock of each of `users` (sorted, so batches never wait on each other in a
/// cycle) that a deletion takes exclusively, then reads their tombstones. Two statements: the
/// read must see a deletion that committed while this waited for its lock.
pub(super) async fn lock_users(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    users: &[String],
) -> Result<Tombstones, StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock_shared(hashtextextended(u, 0)) FROM unnest($1::varchar[]) AS t(u)")
        .bind(users)
        .execute(&mut **tx)
        .await?;
    let tombstones =
        sqlx::query_as("SELECT user_id, deleted_at FROM deleted_users WHERE user_id = ANY($1)")
            .bind(users)
            .fetch_all(&mut **tx)
            .await?;
    Ok(tombstones.into_iter().collect())
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::lock_rows_sql;
    use crate::Maintenance;
    use crate::testing::TestDatabase;

    /// The plan a connection caches for the lock statement probes an index, even when it was
    /// made on an empty, never analyzed table (a generic plan, as sqlx's prepared statements get).
    #[tokio::test]
    async fn locking_probes_an_index_whatever_the_statistics() {
        let db = TestDatabase::postgres().await.expect("PostgreSQL");
        let store = crate::PgStore::connect(&db.url, 1).await.expect("connect");
        store.migrate().await.expect("migrate");
        let mut conn = store.pool().acquire().await.expect("connection");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SET plan_cache_mode = force_generic_plan; \
             PREPARE lock_rows(varchar[], varchar[]) AS {}",
            lock_rows_sql()
        )))
        .execute(&mut *conn)
        .await
        .expect("prepare");
        let plan: Vec<String> = sqlx::query_scalar("EXPLAIN EXECUTE lock_rows('{u1}', '{g1}')")
            .fetch_all(&mut *conn)
            .await
            .expect("explain");
        let plan = plan.join("\n");
        assert!(
            !plan.contains("Seq Scan on user_goal_progress") && plan.contains("Index Scan"),
            "{plan}"
        );
    }
}
