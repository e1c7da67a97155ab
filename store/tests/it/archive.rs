//! The event archive, against both stores: the accepted events of sampled players, payload
//! included, appended with the batch that applied them; never a redelivery or a forgotten
//! event; gone with the player's data, and pruned after its retention.

use std::sync::Arc;

use chrono::Duration;
use engine::{Event, EventData, UserId};
use serde_json::{Value, json};
use store::{EventOutcome, Writer, WriterConfig};

use crate::support::{TestDb, rules, stat_event, test_now};

conformance!(
    accepted_events_of_sampled_players_are_archived,
    a_batch_archives_its_unheard_events_with_the_others,
    the_archive_goes_with_the_player_and_its_retention,
    shared_batches_read_page_by_page_and_lose_a_deleted_player_only,
);

/// (event id, kind, user, stat code, value, inc, payload) of every archived event, in order.
type Row = (String, String, String, Option<String>, i64, i64, Value);
/// The same, with the payload as the database's text.
type RawRow = (String, String, String, Option<String>, i64, i64, String);

async fn archived(db: &TestDb) -> Vec<Row> {
    let sql = "SELECT event_id, kind, user_id, stat_code, value, inc, payload FROM event_archive ORDER BY id";
    let rows: Vec<RawRow> = if db.url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");
        sqlx::query_as(sqlx::AssertSqlSafe(
            sql.replace("payload FROM", "payload::text FROM"),
        ))
        .fetch_all(&pool)
        .await
        .expect("read the archive")
    } else {
        let pool = sqlx::SqlitePool::connect(&db.url).await.expect("pool");
        sqlx::query_as(sql)
            .fetch_all(&pool)
            .await
            .expect("read the archive")
    };
    rows.into_iter()
        .map(|(id, kind, user, code, value, inc, payload)| {
            let payload = serde_json::from_str(&payload).expect("JSON payload");
            (id, kind, user, code, value, inc, payload)
        })
        .collect()
}

fn writer(store: Arc<dyn store::Store>, sample: f64) -> Writer {
    Writer::start(
        store,
        WriterConfig {
            clock: engine::Clock::at(test_now() + Duration::minutes(5)),
            archive_sample: sample,
            ..WriterConfig::default()
        },
    )
}

async fn accepted_events_of_sampled_players_are_archived(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let writer = writer(store.clone(), 1.0);
    let additional = serde_json::json!({"mode": "ranked", "level": 3, "tags": ["a"]});
    let with_payload = Event::new(EventData {
        additional: engine::event::payload_from_json(additional.as_object()),
        ..(*stat_event("e1", "u1", "kills", 4, test_now())).clone()
    });
    let outcome = writer.submit(rules.clone(), with_payload.clone()).await;
    assert!(
        matches!(outcome, Ok(EventOutcome::Applied { .. })),
        "{outcome:?}"
    );
    // Redelivered: applied once, archived once.
    let again = writer.submit(rules.clone(), with_payload).await;
    assert_eq!(again.expect("dedup"), EventOutcome::Duplicate);
    // No goal listens to `deaths` today; a rule edit may: archived, and still "no match".
    let unheard = writer
        .submit(
            rules.clone(),
            stat_event("e2", "u1", "deaths", 1, test_now()),
        )
        .await;
    assert_eq!(
        unheard.expect("accepted"),
        EventOutcome::NoMatch {
            failed_expressions: Vec::new()
        }
    );
    // Such an event gets no dedup record (it changes nothing): a redelivery is archived again,
    // and readers skip the repeated id.
    let unheard_again = writer
        .submit(
            rules.clone(),
            stat_event("e2", "u1", "deaths", 1, test_now()),
        )
        .await;
    assert_eq!(
        unheard_again.expect("accepted"),
        EventOutcome::NoMatch {
            failed_expressions: Vec::new()
        }
    );
    writer.shutdown().await;

    let rows = archived(db).await;
    assert_eq!(
        rows,
        vec![
            (
                "e1".into(),
                "stat".into(),
                "u1".into(),
                Some("kills".into()),
                4,
                1,
                json!({"mode": "ranked", "level": 3, "tags": ["a"]})
            ),
            (
                "e2".into(),
                "stat".into(),
                "u1".into(),
                Some("deaths".into()),
                1,
                1,
                json!({})
            ),
            (
                "e2".into(),
                "stat".into(),
                "u1".into(),
                Some("deaths".into()),
                1,
                1,
                json!({})
            ),
        ]
    );

    // Not sampled: nothing archived, and an unheard event never reaches the database.
    let quiet = self::writer(store.clone(), 0.0);
    let outcome = quiet
        .submit(
            rules.clone(),
            stat_event("e3", "u2", "kills", 1, test_now()),
        )
        .await;
    assert!(
        matches!(outcome, Ok(EventOutcome::Applied { .. })),
        "{outcome:?}"
    );
    quiet.shutdown().await;
    assert_eq!(archived(db).await.len(), 3);
}

/// An event no goal listens to, in one batch with events that count: all archived, once.
async fn a_batch_archives_its_unheard_events_with_the_others(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let pending = |id: &str, code: &str, goals: Vec<engine::GoalId>| store::PendingEvent {
        rules: rules.clone(),
        event: stat_event(id, "u1", code, 1, test_now()),
        goals,
        archive: true,
    };
    let batch = vec![
        pending("m1", "kills", vec![engine::GoalId::new("auto-counter")]),
        pending("n1", "deaths", Vec::new()),
        pending("m2", "kills", vec![engine::GoalId::new("auto-counter")]),
    ];
    let outcomes = store.apply_events(&batch, test_now()).await.expect("batch");
    assert_eq!(
        outcomes[1].as_ref().ok(),
        Some(&EventOutcome::NoMatch {
            failed_expressions: Vec::new()
        })
    );
    let ids: Vec<String> = archived(db).await.into_iter().map(|row| row.0).collect();
    assert_eq!(ids, vec!["m1", "n1", "m2"]);
}

async fn the_archive_goes_with_the_player_and_its_retention(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let writer = writer(store.clone(), 1.0);
    for (id, user) in [("a1", "u1"), ("a2", "u2"), ("a3", "u2")] {
        writer
            .submit(rules.clone(), stat_event(id, user, "kills", 1, test_now()))
            .await
            .expect("accepted");
    }
    writer.shutdown().await;
    assert_eq!(archived(db).await.len(), 3);
    // A deletion takes the player's archived events with it.
    store
        .delete_user(&UserId::new("u1"), test_now() + Duration::minutes(10))
        .await
        .expect("delete");
    let users: Vec<String> = archived(db).await.into_iter().map(|r| r.2).collect();
    assert_eq!(users, ["u2", "u2"]);
    // Retention: archived at test_now + 5 min; nothing older than that goes, then all, one
    // statement's limit at a time.
    let at = test_now() + Duration::minutes(5);
    assert_eq!(store.prune_event_archive(at, 10).await.expect("prune"), 0);
    let later = at + Duration::seconds(1);
    assert_eq!(store.prune_event_archive(later, 1).await.expect("prune"), 1);
    assert_eq!(
        store.prune_event_archive(later, 10).await.expect("prune"),
        1
    );
    assert!(archived(db).await.is_empty());
}

/// Players share batches (PostgreSQL stores a batch's events as one row): pages of any size
/// read every event once and in order, windows count by the events' own times, a player's
/// deletion leaves the others' events of the same batch as they were, and the migrations
/// move the archive down and up without losing an event.
async fn shared_batches_read_page_by_page_and_lose_a_deleted_player_only(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let pending = |id: &str, user: &str, minutes: i64| store::PendingEvent {
        rules: rules.clone(),
        event: stat_event(
            id,
            user,
            "kills",
            1,
            test_now() + Duration::minutes(minutes),
        ),
        goals: vec![engine::GoalId::new("auto-counter")],
        archive: true,
    };
    let batches = [
        vec![
            pending("b1", "u1", 0),
            pending("b2", "u2", 1),
            pending("b3", "u1", 2),
        ],
        vec![pending("b4", "u1", 3)],
        vec![
            pending("b5", "u2", 4),
            pending("b6", "u3", 5),
            pending("b7", "u2", 6),
        ],
    ];
    for batch in &batches {
        store.apply_events(batch, test_now()).await.expect("batch");
    }
    let ids = |events: &[store::ArchivedEvent]| -> Vec<String> {
        events.iter().map(|e| e.event_id.clone()).collect()
    };
    let all = ["b1", "b2", "b3", "b4", "b5", "b6", "b7"];
    let everything = store::ArchiveWindow::default();
    for limit in [1, 2, 3, 100] {
        let mut read = Vec::new();
        let mut after = 0;
        loop {
            let page = store
                .read_archive(&everything, after, limit)
                .await
                .expect("page");
            assert!(
                page.len() <= limit as usize,
                "a page of {limit} held {}",
                page.len()
            );
            let Some(last) = page.last() else { break };
            after = last.seq;
            read.extend(page);
        }
        assert_eq!(ids(&read), all, "pages of {limit}");
    }
    let window = store::ArchiveWindow {
        from: Some(test_now() + Duration::minutes(2)),
        to: Some(test_now() + Duration::minutes(5)),
    };
    assert_eq!(store.count_archive(&window).await.expect("count"), 3);
    assert_eq!(store.count_archive(&everything).await.expect("count"), 7);
    let windowed = store.read_archive(&window, 0, 1).await.expect("page");
    assert_eq!(ids(&windowed), ["b3"]);
    let recent = store
        .player_archive(&UserId::new("u2"), 2)
        .await
        .expect("u2");
    assert_eq!(ids(&recent), ["b5", "b7"]);

    store
        .delete_user(&UserId::new("u1"), test_now() + Duration::minutes(10))
        .await
        .expect("delete");
    let left = store.read_archive(&everything, 0, 100).await.expect("read");
    assert_eq!(ids(&left), ["b2", "b5", "b6", "b7"]);
    assert!(left.iter().all(|e| e.user_id != "u1"));
    assert_eq!(left[0].occurred_at, test_now() + Duration::minutes(1));
    assert!(
        store
            .player_archive(&UserId::new("u1"), 20)
            .await
            .expect("u1")
            .is_empty()
    );
    assert_eq!(store.count_archive(&everything).await.expect("count"), 4);

    assert_eq!(store.migrate_down(1).await.expect("down"), 1);
    store.migrate().await.expect("up again");
    let fresh = db.store().await;
    let after_migrations = fresh.read_archive(&everything, 0, 100).await.expect("read");
    assert_eq!(ids(&after_migrations), ["b2", "b5", "b6", "b7"]);
    assert_eq!(after_migrations[3].user_id, "u2");
}
