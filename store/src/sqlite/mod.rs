//! SQLite store: the embedded default for a first run. One writer at a time (`BEGIN
//! IMMEDIATE`), WAL journal so reads go on during writes. Reward intents are in `claims.rs`.

mod archive;
mod assignment;
mod audit;
mod batch;
mod claims;
mod grouped;
mod maintenance;
mod outbox;

use std::str::FromStr;
use std::time::Duration;

use engine::{ChallengeId, GoalId, ProgressState, Status, UserId};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use crate::StoreError;
use crate::row::ProgressRow;

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// The head of a progress insert; [`bind_row`] binds a row's [`INSERTED`] values after it.
const INSERT: &str = "INSERT INTO user_goal_progress (user_id, goal_id, challenge_id, namespace, progress, status, \
     completed_at, claimed_at, created_at, updated_at, is_active, assigned_at, expires_at, baseline_value, last_counted_day)";

/// The values [`bind_row`] binds per row.
const INSERTED: usize = 15;

/// The embedded store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The one connection write transactions take, in turn: SQLite has one writer at a time
    /// anyway, and a connection that alone writes keeps its page cache across batches (a
    /// connection whose file another one changed drops its cache at its next transaction).
    writes: SqlitePool,
    common: crate::common::Common,
}

crate::common::backend!(SqliteStore);

impl SqliteStore {
    /// Opens (creating if needed) the database file a `sqlite:` URL names.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|err| StoreError::Config(format!("bad SQLite URL `{url}`: {err}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await?;
        let writes = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            writes,
            common: Default::default(),
        })
    }
}

fn decode(row: &SqliteRow) -> Result<ProgressRow, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let status = Status::parse(&status)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown status `{status}`").into()))?;
    Ok(ProgressRow {
        user_id: UserId::new(row.try_get::<String, _>("user_id")?),
        goal_id: GoalId::new(row.try_get::<String, _>("goal_id")?),
        challenge_id: ChallengeId::new(row.try_get::<String, _>("challenge_id")?),
        namespace: row.try_get("namespace")?,
        state: ProgressState {
            progress: row.try_get("progress")?,
            baseline: row.try_get("baseline_value")?,
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

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// One multi-row [`INSERT`] of `rows` (one of `grouped::chunks`), with `tail` after its values:
/// the conflict rule, and `RETURNING …` when the caller reads the rows back.
pub(super) fn insert_rows<'q>(rows: &'q [ProgressRow], tail: &str) -> Query<'q> {
    let sql = format!(
        "{INSERT} VALUES {} {tail}",
        grouped::values(rows.len(), INSERTED)
    );
    rows.iter()
        .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), bind_row)
}

/// Binds a row's values to an [`INSERT`] (one group of `VALUES`).
fn bind_row<'q>(query: Query<'q>, row: &'q ProgressRow) -> Query<'q> {
    let s = &row.state;
    query
        .bind(row.user_id.as_str())
        .bind(row.goal_id.as_str())
        .bind(row.challenge_id.as_str())
        .bind(&row.namespace)
        .bind(s.progress.max(0))
        .bind(s.status.as_str())
        .bind(s.completed_at)
        .bind(s.claimed_at)
        .bind(s.created_at)
        .bind(s.updated_at)
        .bind(s.is_active)
        .bind(s.assigned_at)
        .bind(s.expires_at)
        .bind(s.baseline)
        .bind(s.last_counted_day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An acknowledged event or a `granted` claim must survive a power loss: every commit is
    /// synced before it returns (`synchronous=FULL`; `NORMAL` in WAL mode may roll back the
    /// last commits).
    #[tokio::test]
    async fn every_commit_is_synced_before_it_returns() {
        let dir = std::env::temp_dir().join(format!("challenge-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}", dir.join("sync.db").display());
        let store = SqliteStore::connect(&url).await.expect("open");
        for _ in 0..4 {
            let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&store.pool)
                .await
                .expect("pragma");
            assert_eq!(level, 2, "synchronous is FULL (2) on every connection");
        }
        store.pool.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
