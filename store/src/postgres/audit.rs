//! PostgreSQL's `SupportLog` (store/src/audit.rs). Its hook: the transaction that pseudonymizes
//! a deleted player's entries tells the log's trigger so.

use super::PgStore;
use crate::StoreError;

crate::audit::support_log!(PgStore, sqlx::Postgres, lock: " FOR UPDATE");

/// Opens `audit_log` to the pseudonymizing update for the rest of this transaction (its
/// trigger refuses every other update and every delete).
async fn allow_pseudonymizing(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
) -> Result<(), StoreError> {
    sqlx::query("SELECT set_config('challenge.audit_pseudonymize', 'on', true)")
        .execute(&mut **tx)
        .await?;
    Ok(())
}
