//! Store errors, split by what a caller should do about them. Each keeps the database error
//! that caused it as its `source()` (shared, since one batch's failure answers many callers).

use std::sync::Arc;

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is shutting down: retry later (gRPC UNAVAILABLE).
    #[error("the database is unavailable")]
    Unavailable(#[source] Arc<sqlx::Error>),
    /// The database refused this data (a constraint, a value out of range): retrying the same
    /// event will not help (gRPC INTERNAL).
    #[error("the database refused the statement")]
    Rejected(#[source] Arc<sqlx::Error>),
    /// The database answered something the store's invariants rule out.
    #[error("inconsistent store answer: {0}")]
    Inconsistent(String),
    /// The store was configured wrongly (bad URL).
    #[error("store configuration: {0}")]
    Config(String),
    /// Migrations failed.
    #[error("database migrations failed")]
    Migration(#[source] Arc<sqlx::migrate::MigrateError>),
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                // 08: connection exception; 57: operator intervention (shutdown);
                // 53: insufficient resources; 40001/40P01: serialization failure/deadlock,
                // worth a retry. SQLite 5/6: SQLITE_BUSY/LOCKED.
                if code.starts_with("08")
                    || code.starts_with("57")
                    || code.starts_with("53")
                    || code == "40001"
                    || code == "40P01"
                    || code == "5"
                    || code == "6"
                {
                    StoreError::Unavailable(Arc::new(err))
                } else {
                    StoreError::Rejected(Arc::new(err))
                }
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Arc::new(err)),
            _ => StoreError::Rejected(Arc::new(err)),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migration(Arc::new(err))
    }
}
