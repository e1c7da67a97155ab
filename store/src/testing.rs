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

/// A database of one test, dropped when the value is. PostgreSQL databases are named after the
/// host and the process (`ce_test_<host>_<pid>_<n>`), so that hosts sharing one server never
/// touch each other's; databases a crashed run of this host left behind are dropped.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    /// The PostgreSQL database to drop at the end.
    postgres: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A new, empty PostgreSQL database (not migrated).
    pub async fn postgres() -> Result<Self, sqlx::Error> {
        let mut admin = sqlx::PgConnection::connect(&admin_url()).await?;
        let prefix = format!("ce_test_{}_", host_tag());
        sweep_stale(&mut admin, &prefix).await;
        let name = format!(
            "{prefix}{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        recreate_database(&mut admin, &name).await?;
        Ok(Self {
            url: url_for(&name),
            postgres: Some(name),
            _dir: None,
        })
    }

    /// A new SQLite file in a temporary folder (removed with this value).
    pub fn sqlite() -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("progress.db").display());
        Ok(Self {
            url,
            postgres: None,
            _dir: Some(dir),
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own
        // with a small runtime does the dropping, and the test waits for it.
        let dropping = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            });
        });
        let _ = dropping.join();
    }
}

/// This host's name as it may appear in a database name: lowercase letters, digits and `_`.
fn host_tag() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default();
    let tag: String = host
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(24)
        .collect();
    if tag.is_empty() { "host".into() } else { tag }
}

/// Drops this host's databases whose process is gone (a crashed or killed run).
async fn sweep_stale(admin: &mut sqlx::PgConnection, prefix: &str) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(prefix)
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let pid: Option<u32> = name[prefix.len()..]
            .split('_')
            .next()
            .and_then(|p| p.parse().ok());
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

/// A TCP forwarder that can be cut (connections closed, new ones refused), stalled (connections
/// held open, nothing forwarded: a database that hangs) and restored: from a client's side, a
/// database that went away or froze and came back.
#[derive(Debug)]
pub struct OutageProxy {
    pub port: u16,
    state: watch::Sender<Link>,
}

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Up,
    Stalled,
    Cut,
}

impl OutageProxy {
    pub async fn start(upstream: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (state, watch_state) = watch::channel(Link::Up);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut state = watch_state.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    // While stalled, a new connection is held, unanswered.
                    let now = *state.wait_for(|link| *link != Link::Stalled).await.ok()?;
                    if now == Link::Cut {
                        return None; // dropping the client refuses it
                    }
                    let mut server = TcpStream::connect(&upstream).await.ok()?;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = state.wait_for(|link| *link != Link::Up) => {}
                    }
                    // Stalled: hold both ends open, forward nothing, until cut.
                    let _ = state.wait_for(|link| *link == Link::Cut).await;
                    Some(()) // both ends close on drop
                });
            }
        });
        Ok(Self { port, state })
    }

    /// `url` rewritten to go through this proxy (it must point at 127.0.0.1:5432).
    pub fn url_through(&self, url: &str) -> String {
        url.replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", self.port), 1)
    }

    /// Closes every connection and refuses new ones.
    pub fn cut(&self) {
        let _ = self.state.send(Link::Cut);
    }

    /// Stops forwarding but keeps connections open: every query hangs.
    pub fn stall(&self) {
        let _ = self.state.send(Link::Stalled);
    }

    pub fn restore(&self) {
        let _ = self.state.send(Link::Up);
    }
}
