//! The notification outbox on SQLite: one writer at a time, so a lease needs no row locks.

use super::SqliteStore;
use crate::StoreError;
use crate::outbox::{INSERT, Notice, columns, due};

/// SQLite's `rowid` orders the records: a new row's is above every row there.
fn lease() -> String {
    format!(
        "UPDATE notification_outbox SET lease_until = $2, attempts = attempts + 1 \
         WHERE rowid IN (SELECT n.rowid FROM notification_outbox n WHERE {due} \
                         ORDER BY n.next_attempt_at LIMIT $3) \
         RETURNING {returned}",
        due = due("rowid"),
        returned = columns("rowid")
    )
}

crate::outbox::notification_outbox!(SqliteStore, sqlx::Sqlite, lease: lease(), seq: "rowid");

/// Writes `notice` in the caller's transaction.
pub(super) async fn insert_notice(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    notice: &Notice,
) -> Result<(), StoreError> {
    sqlx::query(INSERT)
        .bind(&notice.id)
        .bind(&notice.user_id)
        .bind(notice.kind)
        .bind(&notice.body)
        .bind(notice.created_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
