//! Per-player dedup: the same event id for two players counts for both (on both stores), and
//! the migration to it on a live PostgreSQL database: a populated
//! `processed_events`, and the release before still writing it (a transaction of its holds its
//! lock on the table) while the migration runs. The migration neither waits for that lock nor
//! rewrites the table, and afterwards the old rows still deduplicate their own player's events.

use engine::{GoalId, UserId};
use sqlx::Row;
use store::{EventOutcome, Store, Writer, WriterConfig};

use crate::support::{TestDb, TestReads, init_user, rules, stat_event, test_now};

conformance!(
    one_event_id_for_two_players_counts_for_both,
    a_batch_of_hundreds_counts_each_event_once
);

async fn progress_of(store: &dyn Store, user: &str, goal: &str) -> Option<(i64, engine::Status)> {
    store
        .progress_for_user_goal(&UserId::new(user), &GoalId::new(goal))
        .await
        .expect("read")
        .map(|row| (row.state.progress, row.state.status))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dedup_migration_is_safe_on_a_live_table() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    // Back to before the dedup migration (the progress table's fillfactor, its index by goal
    // and the audit log came after it).
    assert_eq!(store.migrate_down(4).await.expect("down"), 4);
    // A dedup window's worth of the old release's rows (scaled down), for 1,000 players.
    db.execute(
        "INSERT INTO processed_events (event_id, user_id, processed_at) \
         SELECT 'old-' || g, 'u' || (g % 1000), now() FROM generate_series(1, 200000) g",
    )
    .await;
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let filenode = || async {
        sqlx::query("SELECT pg_relation_filenode('processed_events')::bigint AS node")
            .fetch_one(&pool)
            .await
            .expect("filenode")
            .get::<i64, _>("node")
    };
    let before = filenode().await;

    // The release before, mid-batch: its transaction has written the table and holds its lock.
    let mut old_release = pool.begin().await.expect("begin");
    sqlx::query(
        "INSERT INTO processed_events (event_id, user_id, processed_at) VALUES ('in-flight', 'u7', now())",
    )
    .execute(&mut *old_release)
    .await
    .expect("old release writes");
    // The migration runs meanwhile (its lock_timeout is 5 s: waiting for the table would fail it).
    store
        .migrate()
        .await
        .expect("the migration does not wait for the live table");
    old_release
        .commit()
        .await
        .expect("the old release commits after it");
    assert_eq!(
        filenode().await,
        before,
        "processed_events was not rewritten"
    );

    // The new release: the old rows still deduplicate, per player.
    let rules = rules();
    for user in ["u5", "u6", "u7"] {
        init_user(store.as_ref(), &rules, user).await;
    }
    let writer = Writer::start(store.clone(), WriterConfig::default());
    let now = test_now();
    let submit = |id: &'static str, user: &'static str| {
        let (writer, rules) = (&writer, rules.clone());
        async move {
            writer
                .submit(rules, stat_event(id, user, "kills", 1, now))
                .await
                .expect("committed")
        }
    };
    assert_eq!(submit("old-5", "u5").await, EventOutcome::Duplicate);
    assert_eq!(submit("in-flight", "u7").await, EventOutcome::Duplicate);
    assert!(matches!(
        submit("old-5", "u6").await,
        EventOutcome::Applied { .. }
    ));
    writer.shutdown().await;
    pool.close().await;
}

/// Event ids are the producers': two game servers may both send `match-42`, for two players.
/// Each counts; a redelivery (same player, id and sent timestamp) does not. Ids the release
/// before recorded in `processed_events` still deduplicate, per player.
async fn one_event_id_for_two_players_counts_for_both(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    init_user(store.as_ref(), &rules, "u1").await;
    init_user(store.as_ref(), &rules, "u2").await;
    let now = test_now();
    // What the release before this one recorded: `legacy-1` applied for u1.
    db.execute(&format!(
        "INSERT INTO processed_events (event_id, user_id, processed_at) VALUES ('legacy-1', 'u1', '{}')",
        now.to_rfc3339()
    ))
    .await;
    let writer = Writer::start(store.clone(), WriterConfig::default());
    let sent = |id: &str, user: &str, at: Option<chrono::DateTime<chrono::Utc>>| {
        let event = stat_event(id, user, "kills", 1, now);
        engine::Event::new(engine::EventData {
            sent_at: at,
            ..(*event).clone()
        })
    };
    let submit = |event: engine::Event| {
        let (writer, rules) = (&writer, rules.clone());
        async move { writer.submit(rules, event).await.expect("committed") }
    };
    let applied = |outcome: EventOutcome| matches!(outcome, EventOutcome::Applied { .. });
    assert!(applied(submit(sent("match-42", "u1", None)).await));
    assert!(
        applied(submit(sent("match-42", "u2", None)).await),
        "another player's event with the same id counts"
    );
    assert_eq!(
        submit(sent("match-42", "u1", None)).await,
        EventOutcome::Duplicate
    );
    let at = Some(now - chrono::TimeDelta::seconds(5));
    assert!(applied(submit(sent("timed", "u1", at)).await));
    assert_eq!(
        submit(sent("timed", "u1", at)).await,
        EventOutcome::Duplicate,
        "a redelivery carries the same timestamp"
    );
    assert_eq!(
        submit(sent("legacy-1", "u1", None)).await,
        EventOutcome::Duplicate,
        "what the release before recorded still counts once"
    );
    assert!(
        applied(submit(sent("legacy-1", "u2", None)).await),
        "but only for its own player"
    );
    assert_eq!(
        progress_of(store.as_ref(), "u1", "counter")
            .await
            .map(|p| p.0),
        Some(2)
    );
    assert_eq!(
        progress_of(store.as_ref(), "u2", "counter")
            .await
            .map(|p| p.0),
        Some(2)
    );
    writer.shutdown().await;
}

/// A batch larger than one statement's group of rows (SQLite writes a batch's ids, rows and
/// archive in multi-row statements of up to 64 rows): 150 players' first events, then a batch of
/// 300 holding every one of them again among 150 new ones, twice a player's events. Each new
/// event counts once, each redelivery is a duplicate, and every event is archived once.
async fn a_batch_of_hundreds_counts_each_event_once(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let now = test_now();
    let event = |id: String, user: String| store::PendingEvent {
        rules: rules.clone(),
        event: stat_event(&id, &user, "kills", 1, now),
        goals: vec![GoalId::new("auto-counter")],
        archive: true,
    };
    let players: Vec<String> = (0..150).map(|p| format!("big-{p}")).collect();
    let first: Vec<_> = players
        .iter()
        .map(|p| event(format!("{p}-a"), p.clone()))
        .collect();
    let outcomes = store.apply_events(&first, now).await.expect("first batch");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(EventOutcome::Applied { changed: 1, .. }))),
        "{outcomes:?}"
    );
    let mut second = Vec::new();
    for p in &players {
        second.push(event(format!("{p}-b"), p.clone()));
        second.push(event(format!("{p}-a"), p.clone()));
    }
    let outcomes = store
        .apply_events(&second, now)
        .await
        .expect("second batch");
    for (place, outcome) in outcomes.iter().enumerate() {
        let expected = match place % 2 {
            0 => matches!(outcome, Ok(EventOutcome::Applied { changed: 1, .. })),
            _ => matches!(outcome, Ok(EventOutcome::Duplicate)),
        };
        assert!(expected, "event {place}: {outcome:?}");
    }
    for p in &players {
        assert_eq!(
            progress_of(store.as_ref(), p, "auto-counter").await,
            Some((2, engine::Status::InProgress)),
            "{p}"
        );
        let archived = store
            .player_archive(&UserId::new(p), 10)
            .await
            .expect("archive");
        assert_eq!(archived.len(), 2, "{p}: {archived:?}");
    }
}
