//! SQLite's `SupportLog` (store/src/audit.rs). The embedded file has no trigger guarding the
//! log (one writer: this process), so pseudonymizing needs no permission.

use super::SqliteStore;
use crate::StoreError;

crate::audit::support_log!(SqliteStore, sqlx::Sqlite, lock: "");

async fn allow_pseudonymizing(
    _tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
) -> Result<(), StoreError> {
    Ok(())
}
