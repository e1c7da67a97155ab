//! SQLite's hooks of the `PlayerProgress` role written once in `players.rs`.

use sqlx::SqliteConnection;

use super::grouped::chunks;
use super::{SqliteStore, decode};
use crate::players::{COLUMNS, Rows};
use crate::row::ProgressRow;

crate::players::player_progress!(SqliteStore, elements: "json_each($1)");

/// Writes `rows` in a few multi-row statements, `on` deciding what happens to a row that
/// exists; answers the rows written.
pub(super) async fn upsert(conn: &mut SqliteConnection, rows: &[ProgressRow], on: &str) -> Rows {
    let mut written = Vec::with_capacity(rows.len());
    let tail = format!("{on} RETURNING {COLUMNS}");
    for range in chunks(rows.len()) {
        let query = super::insert_rows(&rows[range], &tail);
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
