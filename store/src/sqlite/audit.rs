//! SQLite's `SupportLog` (store/src/audit.rs). The embedded file has no trigger guarding the
//! log (one writer: this process), so pseudonymizing needs no permission.

use super::SqliteStore;
use crate::StoreError;

crate::audit::support_log!(SqliteStore, sqlx::Sqlite, lock: "");

/// One table, no partitions: nothing to prepare.
async fn month_of(
    _tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    _at: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    Ok(())
}

async fn allow_pseudonymizing(
    _tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
) -> Result<(), StoreError> {
    Ok(())
}

impl SqliteStore {
    /// The audit log's retention (`Maintenance::prune_audit_log`): the entries of every month
    /// that ended before `before`, deleted in one write transaction and recorded.
    pub(super) async fn forget_audit_months(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        let cutoff = crate::audit::month_start(before);
        let mut tx = self.begin_write().await?;
        // Times are stored in one format (RFC 3339, UTC), so text order is time order.
        let months: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT substr(at, 1, 7) FROM audit_log WHERE at < $1 ORDER BY 1",
        )
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?;
        let entries = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if entries > 0 {
            let entry = crate::audit::retention_entry(now, before, &months, entries)?;
            insert_entry(&mut tx, &entry).await?;
        }
        tx.commit().await?;
        Ok(entries)
    }
}
