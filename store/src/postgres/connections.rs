//! The store's connections: the shared pool, and the few the batch writer keeps to itself.
//!
//! sqlx's pool answers a round trip to the server (a `Sync`) every time a connection goes back
//! to it, and by default another before handing one out. The writer's batch transaction is a
//! chain of round trips already; two more per batch, and a task for the one on release, were a
//! tenth of the handler's CPU per event. So the pool tests a connection only when it has been
//! idle long enough for the server to have gone away meanwhile, and the writer keeps its own.

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};

use crate::StoreError;

/// The `application_name` of the writer's own connections (in `pg_stat_activity`).
pub const WRITER_APPLICATION: &str = "challenge-batch-writer";

/// A pooled connection idle this long is tested (a round trip) before it is handed out; under
/// load none is, and one that broke sooner fails its statement, which says "unavailable", and
/// is closed.
const TEST_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// How long opening a connection may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The pool's options: at most `max_connections`, tested only after [`TEST_WHEN_IDLE_FOR`].
pub(super) fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(CONNECT_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= TEST_WHEN_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Connections only the batch writer uses, one per transaction in flight (the writer runs two,
/// `WriterConfig::flushers`). A connection goes back after its transaction committed, or was
/// refused and rolled back; after a failure to reach the database it is closed, and the next
/// batch opens a fresh one. One idle for [`TEST_WHEN_IDLE_FOR`] is tested first, as the pool
/// does.
#[derive(Debug)]
pub(super) struct WriterConnections {
    options: PgConnectOptions,
    idle: std::sync::Mutex<Vec<(PgConnection, Instant)>>,
}

/// More idle writer connections than this are closed (a writer never has more transactions in
/// flight than flushers; a burst of one-by-one retries does not grow the set).
const KEEP_IDLE: usize = 4;

impl WriterConnections {
    pub(super) fn new(options: &PgConnectOptions) -> Self {
        Self {
            options: options.clone().application_name(WRITER_APPLICATION),
            idle: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// An idle connection that still answers, or a new one.
    pub(super) async fn take(&self) -> Result<PgConnection, StoreError> {
        loop {
            let Some((mut conn, since)) = self.lock().pop() else {
                break;
            };
            if since.elapsed() < TEST_WHEN_IDLE_FOR {
                return Ok(conn);
            }
            match conn.ping().await {
                Ok(()) => return Ok(conn),
                Err(error) => {
                    tracing::info!(%error, "an idle writer connection stopped answering; opening another");
                }
            }
        }
        match tokio::time::timeout(CONNECT_TIMEOUT, self.options.connect()).await {
            Ok(conn) => Ok(conn?),
            Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "opening a connection for the batch writer took longer than {} s",
                    CONNECT_TIMEOUT.as_secs()
                ),
            ))
            .into()),
        }
    }

    /// Gives back a connection whose transaction ended cleanly.
    pub(super) fn give_back(&self, conn: PgConnection) {
        let mut idle = self.lock();
        if idle.len() < KEEP_IDLE {
            idle.push((conn, Instant::now()));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(PgConnection, Instant)>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
