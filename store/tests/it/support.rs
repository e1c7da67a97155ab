//! Test databases (a fresh PostgreSQL database or SQLite file per test), rules and events.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use engine::{Event, EventData, EventKind, RuleSet, SourceFile, Sources, UserId, compile};
use sqlx::Connection;
use store::{PgStore, ProgressStore, SqliteStore};

/// Where the local PostgreSQL is (CI and dev machines: trust auth on 127.0.0.1).
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn url_for(database: &str) -> String {
    let admin = admin_url();
    match admin.rfind('/') {
        Some(cut) => format!("{}/{database}", &admin[..cut]),
        None => admin,
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A database of one test. PostgreSQL databases are named after the process, and databases left
/// by processes that no longer run are dropped, so crashed runs do not pile up.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn postgres() -> Self {
        let mut admin = sqlx::PgConnection::connect(&admin_url())
            .await
            .expect("PostgreSQL at TEST_DATABASE_URL (default 127.0.0.1:5432)");
        sweep_stale(&mut admin).await;
        let name = format!(
            "ce_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .execute(&mut admin)
        .await
        .expect("drop");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        Self {
            url: url_for(&name),
            _dir: None,
        }
    }

    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("progress.db").display());
        Self {
            url,
            _dir: Some(dir),
        }
    }

    pub async fn store(&self) -> Arc<dyn ProgressStore> {
        let store: Arc<dyn ProgressStore> = if self.url.starts_with("postgres") {
            Arc::new(PgStore::connect(&self.url, 8).await.expect("connect"))
        } else {
            Arc::new(SqliteStore::connect(&self.url).await.expect("open"))
        };
        store.migrate().await.expect("migrate");
        store
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

pub const RULES: &str = r#"
version: 1
challenges:
  - id: c
    name: C
    goals:
      - { id: counter, name: Counter, on: stat, stat: kills, count: events, target: 1000000 }
      - { id: auto-counter, name: Auto, on: stat, stat: kills, count: events, target: 1000000, assign: auto }
      - { id: manual, name: Manual, on: stat, stat: kills, count: events, target: 5, assign: manual }
      - { id: level, name: Level, on: stat, stat: level, target: 10 }
  - id: d
    name: D
    rotation: { every: daily }
    goals:
      - { id: daily, name: Daily, on: stat, stat: wins, count: events, target: 3 }
"#;

pub fn rules() -> Arc<RuleSet> {
    let compiled = compile(&Sources {
        files: vec![SourceFile::new("rules.yaml", RULES)],
        unreadable: Vec::new(),
    });
    Arc::new(compiled.rules.expect("test rules compile"))
}

pub fn stat_event(id: &str, user: &str, code: &str, value: i64, at: DateTime<Utc>) -> Event {
    Event::new(EventData {
        id: id.into(),
        kind: EventKind::Stat,
        user_id: UserId::new(user),
        namespace: "test".into(),
        timestamp: at,
        stat_code: Some(code.into()),
        value,
        inc: 1,
        additional: rhai::Map::new(),
    })
}

/// Initializes a user's default goals.
pub async fn init_user(store: &dyn ProgressStore, rules: &RuleSet, user: &str) {
    let defaults: Vec<_> = rules
        .goals()
        .iter()
        .filter(|g| g.assign == engine::Assign::Default)
        .collect();
    store
        .initialize_for_user(&UserId::new(user), "test", &defaults, Utc::now())
        .await
        .expect("initialize");
}
