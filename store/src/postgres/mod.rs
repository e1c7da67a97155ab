//! PostgreSQL store: bulk statements over `UNNEST` arrays, rows locked with
//! `SELECT … ORDER BY key FOR UPDATE` so concurrent replicas never deadlock. Reward intents
//! are in `claims.rs`.

mod archive;
mod assignment;
mod audit;
mod auto_rows;
mod batch;
mod claims;
mod connections;
mod dedup;
mod maintenance;
mod outbox;

pub use connections::WRITER_APPLICATION;

use engine::{ChallengeId, GoalId, ProgressState, Status, UserId};
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgRow};

use crate::StoreError;
use crate::row::ProgressRow;

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The production store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The batch writer's own connections (`connections.rs` says why).
    writer_connections: std::sync::Arc<connections::WriterConnections>,
    /// Auto rows seen to exist, so most batches skip the placeholders (`auto_rows.rs`).
    known_auto_rows: std::sync::Arc<auto_rows::KnownAutoRows>,
    common: crate::common::Common,
}

crate::common::backend!(PgStore);

impl PgStore {
    /// Connects a pool of at most `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|err| StoreError::Config(format!("bad DATABASE_URL: {err}")))?;
        let pool = connections::pool_options(max_connections)
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        let writer_connections =
            std::sync::Arc::new(connections::WriterConnections::new(&pool.connect_options()));
        Self {
            pool,
            writer_connections,
            known_auto_rows: Default::default(),
            common: Default::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A row of `SELECT {COLUMNS}` (every caller selects exactly `players::COLUMNS`, in its order).
/// By position: a by-name lookup compares the name with each column's, per column per row,
/// which was a tenth of the list route's CPU.
fn decode(row: &PgRow) -> Result<ProgressRow, sqlx::Error> {
    let status: &str = row.try_get(5)?;
    let status = Status::parse(status)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown status `{status}`").into()))?;
    Ok(ProgressRow {
        user_id: UserId::new(row.try_get::<String, _>(0)?),
        goal_id: GoalId::new(row.try_get::<String, _>(1)?),
        challenge_id: ChallengeId::new(row.try_get::<String, _>(2)?),
        namespace: row.try_get(3)?,
        state: ProgressState {
            progress: row.try_get::<i64, _>(4)?,
            status,
            completed_at: row.try_get(6)?,
            claimed_at: row.try_get(7)?,
            created_at: row.try_get(8)?,
            updated_at: row.try_get(9)?,
            is_active: row.try_get(10)?,
            assigned_at: row.try_get(11)?,
            expires_at: row.try_get(12)?,
            baseline: row.try_get::<Option<i64>, _>(13)?,
            last_counted_day: row.try_get(14)?,
        },
    })
}
