//! Past one database (docs/scaling.md): every table's primary key and unique indexes lead with
//! `user_id`, so it can be distributed by player, or the table is listed in docs/scaling.md
//! under "Tables not keyed by player" with its reason. Read from the migrated schema, on both
//! stores.

use crate::support::TestDb;

conformance!(every_table_is_keyed_by_player_or_listed);

/// The tables docs/scaling.md lists as not keyed by player.
fn listed() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/scaling.md");
    let text = std::fs::read_to_string(&path).expect("docs/scaling.md");
    let section = text
        .split("## Tables not keyed by player")
        .nth(1)
        .expect("docs/scaling.md has a section \"Tables not keyed by player\"");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter_map(|line| line.strip_prefix("- `"))
        .filter_map(|rest| rest.split('`').next())
        .map(String::from)
        .collect()
}

/// Each table, with the first column of its primary key (none: no primary key) and of each
/// unique index.
async fn keys(db: &TestDb) -> Vec<(String, Option<String>, Vec<String>)> {
    if db.url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .expect("tables");
        let mut keys = Vec::new();
        for table in tables {
            let leads: Vec<(bool, String)> = sqlx::query_as(
                "SELECT i.indisprimary, a.attname::text FROM pg_index i \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
                 WHERE i.indrelid = $1::regclass AND (i.indisprimary OR i.indisunique)",
            )
            .bind(&table)
            .fetch_all(&pool)
            .await
            .expect("indexes");
            keys.push(split(table, leads));
        }
        pool.close().await;
        keys
    } else {
        let pool = sqlx::SqlitePool::connect(&db.url).await.expect("open");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .expect("tables");
        let mut keys = Vec::new();
        for table in tables {
            // The primary key's first column, then each unique index's (`origin` `u`: UNIQUE,
            // `c`: CREATE UNIQUE INDEX; `pk`: a WITHOUT ROWID table's key, listed already).
            let mut leads: Vec<(bool, String)> = sqlx::query_as(
                "SELECT 1, name FROM pragma_table_info($1) WHERE pk = 1 \
                 UNION ALL \
                 SELECT 0, (SELECT name FROM pragma_index_info(l.name) WHERE seqno = 0) \
                 FROM pragma_index_list($1) l WHERE l.\"unique\" AND l.origin <> 'pk'",
            )
            .bind(&table)
            .fetch_all(&pool)
            .await
            .expect("indexes");
            leads.sort();
            keys.push(split(table, leads));
        }
        pool.close().await;
        keys
    }
}

fn split(table: String, leads: Vec<(bool, String)>) -> (String, Option<String>, Vec<String>) {
    let primary = leads
        .iter()
        .find(|(primary, _)| *primary)
        .map(|(_, c)| c.clone());
    let unique = leads
        .into_iter()
        .filter(|(p, _)| !p)
        .map(|(_, c)| c)
        .collect();
    (table, primary, unique)
}

async fn every_table_is_keyed_by_player_or_listed(db: &TestDb) {
    db.store().await.migrate().await.expect("migrate");
    let listed = listed();
    assert!(listed.contains(&"reward_ledger".to_string()), "{listed:?}");
    let keys = keys(db).await;
    assert!(
        keys.iter().any(|(t, ..)| t == "user_goal_progress"),
        "{keys:?}"
    );
    let mut unkeyed = Vec::new();
    for (table, primary, unique) in &keys {
        let by_player = primary.as_deref() == Some("user_id")
            && unique.iter().all(|column| column == "user_id");
        if !by_player && !listed.contains(table) {
            unkeyed.push(format!(
                "{table} (primary key {primary:?}, unique {unique:?})"
            ));
        }
    }
    assert!(
        unkeyed.is_empty(),
        "tables neither keyed by user_id first nor listed in docs/scaling.md: {unkeyed:?}"
    );
    // PostgreSQL is what gets distributed: a listed table it does not have is a stale line.
    for table in listed.iter().filter(|_| db.url.starts_with("postgres")) {
        if table == "event_archive" {
            continue; // SQLite's archive (PostgreSQL's is a view over the batches).
        }
        assert!(
            keys.iter().any(|(t, ..)| t == table),
            "docs/scaling.md lists `{table}`, which no migration creates"
        );
    }
}

/// Progress pages keep room for the next version of each row, so an event's update is HOT
/// (docs/benchmarks.md, "Per-event cost as a game grows").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_progress_pages_keep_room_for_hot_updates() {
    let db = TestDb::postgres().await;
    db.store().await.migrate().await.expect("migrate");
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let options: Option<Vec<String>> = sqlx::query_scalar(
        "SELECT reloptions::text[] FROM pg_class WHERE oid = 'user_goal_progress'::regclass",
    )
    .fetch_one(&pool)
    .await
    .expect("reloptions");
    assert_eq!(options, Some(vec!["fillfactor=80".to_string()]));
}
