//! Test support shared by the crates' test suites: a fresh PostgreSQL database per test (or a
//! SQLite file), and a TCP proxy that plays a database outage. Not used by production code.

use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Where the local PostgreSQL is (CI and dev machines: trust auth on 127.0.0.1).
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn url_for(database: &str) -> String {
    database_on(&admin_url(), database)
}

/// The URL of `database` on the server `admin_url` points at (`admin_url` itself if it names
/// no database).
pub fn database_on(admin_url: &str, database: &str) -> String {
    match admin_url.rfind('/') {
        Some(cut) => format!("{}/{database}", &admin_url[..cut]),
        None => admin_url.to_string(),
    }
}

/// Drops the database `name` (closing its connections) and creates it again, empty.
pub async fn recreate_database(
    admin: &mut sqlx::PgConnection,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut *admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut *admin)
        .await?;
    Ok(())
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A database of one test. PostgreSQL databases are named after the process; databases left by
/// processes that no longer run are dropped, so crashed runs do not pile up.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A new, empty PostgreSQL database (not migrated).
    pub async fn postgres() -> Result<Self, sqlx::Error> {
        let mut admin = sqlx::PgConnection::connect(&admin_url()).await?;
        sweep_stale(&mut admin).await;
        let name = format!(
            "ce_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        recreate_database(&mut admin, &name).await?;
        Ok(Self {
            url: url_for(&name),
            _dir: None,
        })
    }

    /// A new SQLite file in a temporary folder (removed with this value).
    pub fn sqlite() -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("progress.db").display());
        Ok(Self {
            url,
            _dir: Some(dir),
        })
    }
}

async fn sweep_stale(admin: &mut sqlx::PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'ce\\_test\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let pid: Option<u32> = name.split('_').nth(2).and_then(|p| p.parse().ok());
        let alive = pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut *admin)
            .await;
        }
    }
}

/// A TCP forwarder that can be cut (connections closed, new ones refused) and restored: from
/// a client's side, a database that went away and came back.
#[derive(Debug)]
pub struct OutageProxy {
    pub port: u16,
    up: watch::Sender<bool>,
}

impl OutageProxy {
    pub async fn start(upstream: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (up, watch_up) = watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut state = watch_up.clone();
                if !*state.borrow() {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = state.wait_for(|up| !*up) => {} // both ends close on drop
                    }
                });
            }
        });
        Ok(Self { port, up })
    }

    /// `url` rewritten to go through this proxy (it must point at 127.0.0.1:5432).
    pub fn url_through(&self, url: &str) -> String {
        url.replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", self.port), 1)
    }

    pub fn cut(&self) {
        let _ = self.up.send(false);
    }

    pub fn restore(&self) {
        let _ = self.up.send(true);
    }
}
