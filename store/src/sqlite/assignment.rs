//! SQLite's hooks of the `PlayerProgress` role written once in `players.rs`.

use sqlx::SqliteConnection;

use super::grouped::{chunks, values};
use super::{INSERT, INSERTED, SqliteStore, decode};
use crate::players::{COLUMNS, Rows};
use crate::row::ProgressRow;

crate::players::player_progress!(SqliteStore, elements: "json_each($1)");

/// Writes `rows` in a few multi-row statements, `on` deciding what happens to a row that
/// exists; answers the rows written.
pub(super) async fn upsert(conn: &mut SqliteConnection, rows: &[ProgressRow], on: &str) -> Rows {
    let mut written = Vec::with_capacity(rows.len());
    for range in chunks(rows.len()) {
        let sql = format!(
            "{INSERT} VALUES {} {on} RETURNING {COLUMNS}",
            values(range.len(), INSERTED)
        );
        let query = rows[range]
            .iter()
            .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), super::bind_row);
        for stored in query.fetch_all(&mut *conn).await? {
            written.push(decode(&stored)?);
        }
    }
    Ok(written)
}

impl SqliteStore {
    /// [`upsert`] under the write lock, as one transaction.
    async fn upsert_all(&self, rows: &[ProgressRow], on: &str) -> Rows {
        let mut tx = self.begin_write().await?;
        let written = upsert(&mut tx, rows, on).await?;
        tx.commit().await?;
        Ok(written)
    }
}
