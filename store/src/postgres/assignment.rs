//! PostgreSQL's hooks of the `PlayerProgress` role written once in `players.rs`.

use sqlx::PgConnection;

use super::batch::{Columns, UNNEST_ROWS};
use super::{PgStore, decode};
use crate::players::{COLUMNS, Rows};
use crate::row::ProgressRow;

crate::players::player_progress!(PgStore, elements: "json_array_elements_text($1::json)");

/// Writes `rows` in one statement over `UNNEST`d columns, `on` deciding what happens to
/// a row that exists; answers the rows written.
pub(super) async fn upsert(conn: &mut PgConnection, rows: &[ProgressRow], on: &str) -> Rows {
    let sql = format!(
        "INSERT INTO user_goal_progress ({COLUMNS}) {UNNEST_ROWS} {on} RETURNING {COLUMNS}"
    );
    let written = Columns::of(rows)
        .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
        .fetch_all(conn)
        .await?;
    Ok(written.iter().map(decode).collect::<Result<_, _>>()?)
}

impl PgStore {
    /// [`upsert`] on a connection of the pool: one statement needs no transaction.
    async fn upsert_all(&self, rows: &[ProgressRow], on: &str) -> Rows {
        upsert(&mut *self.pool.acquire().await?, rows, on).await
    }
}
