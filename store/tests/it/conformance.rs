//! The conformance suite: every case runs against PostgreSQL and SQLite with the same
//! expectations.

use std::sync::Arc;

use engine::{GoalId, Status, UserId};
use store::{EventOutcome, PendingEvent, Store, Writer, WriterConfig};

use crate::support::{
    TestDb, TestReads, init_user, intent_key, new_intent, race, rules, stat_event, test_now,
    two_replicas,
};

conformance!(
    thousand_concurrent_events_for_one_goal_give_the_exact_progress,
    a_redelivered_event_changes_nothing,
    two_writers_on_the_same_users_lose_no_update,
    a_bad_event_fails_alone,
    inactive_and_unassigned_goals_do_not_move,
    reads_and_assignment,
    batch_activation_is_all_or_nothing,
    migrations_go_down_and_up,
    progress_beyond_32_bits_round_trips,
);

async fn progress_of(store: &dyn Store, user: &str, goal: &str) -> Option<(i64, Status)> {
    store
        .progress_for_user_goal(&UserId::new(user), &GoalId::new(goal))
        .await
        .expect("read")
        .map(|row| (row.state.progress, row.state.status))
}

async fn thousand_concurrent_events_for_one_goal_give_the_exact_progress(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    init_user(store.as_ref(), &rules, "u1").await;
    let writer = Arc::new(Writer::start(store.clone(), WriterConfig::default()));
    let now = test_now();
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let writer = writer.clone();
            let rules = rules.clone();
            tokio::spawn(async move {
                writer
                    .submit(rules, stat_event(&format!("e{i}"), "u1", "kills", i, now))
                    .await
            })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.expect("task").expect("committed");
        assert!(
            matches!(outcome, EventOutcome::Applied { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(
        progress_of(store.as_ref(), "u1", "counter").await,
        Some((1000, Status::InProgress))
    );
    assert_eq!(
        progress_of(store.as_ref(), "u1", "auto-counter").await,
        Some((1000, Status::InProgress))
    );
    writer.shutdown().await;
}

async fn a_redelivered_event_changes_nothing(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    init_user(store.as_ref(), &rules, "u1").await;
    let writer = Writer::start(store.clone(), WriterConfig::default());
    let now = test_now();
    let first = writer
        .submit(rules.clone(), stat_event("same-id", "u1", "kills", 1, now))
        .await
        .expect("first");
    assert_eq!(
        first,
        EventOutcome::Applied {
            changed: 2,
            failed_expressions: Vec::new()
        }
    );
    let again = writer
        .submit(rules.clone(), stat_event("same-id", "u1", "kills", 1, now))
        .await
        .expect("again");
    assert_eq!(again, EventOutcome::Duplicate);
    // Two copies in one batch: the second is a duplicate of the first.
    let batch = [
        PendingEvent {
            rules: rules.clone(),
            event: stat_event("twin", "u1", "kills", 2, now),
            goals: vec![GoalId::new("counter")],
            archive: false,
        },
        PendingEvent {
            rules: rules.clone(),
            event: stat_event("twin", "u1", "kills", 2, now),
            goals: vec![GoalId::new("counter")],
            archive: false,
        },
    ];
    let outcomes = store.apply_events(&batch, now).await.expect("batch");
    assert_eq!(
        outcomes[0].as_ref().ok(),
        Some(&EventOutcome::Applied {
            changed: 1,
            failed_expressions: Vec::new()
        })
    );
    assert_eq!(outcomes[1].as_ref().ok(), Some(&EventOutcome::Duplicate));
    assert_eq!(
        progress_of(store.as_ref(), "u1", "counter").await,
        Some((2, Status::InProgress))
    );
    writer.shutdown().await;
}

async fn two_writers_on_the_same_users_lose_no_update(db: &TestDb) {
    let ([store_a, store_b], writers) = two_replicas(db).await;
    let rules = rules();
    for user in ["u1", "u2"] {
        init_user(store_a.as_ref(), &rules, user).await;
    }
    let now = test_now();
    let events = (0..400)
        .map(|i| {
            let user = if i % 3 == 0 { "u2" } else { "u1" };
            stat_event(&format!("e{i}"), user, "kills", i as i64, now)
        })
        .collect();
    race(&writers, &rules, events).await;
    let u2_events = (0..400).filter(|i| i % 3 == 0).count() as i64;
    for (user, expected) in [("u1", 400 - u2_events), ("u2", u2_events)] {
        assert_eq!(
            progress_of(store_a.as_ref(), user, "counter")
                .await
                .map(|p| p.0),
            Some(expected),
            "{user}"
        );
        assert_eq!(
            progress_of(store_b.as_ref(), user, "auto-counter")
                .await
                .map(|p| p.0),
            Some(expected),
            "{user} auto"
        );
    }
    for writer in writers {
        writer.shutdown().await;
    }
}

async fn a_bad_event_fails_alone(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let now = test_now();
    let too_long = "x".repeat(200); // breaks the user id length constraint
    let event = |id: &str, user: &str| PendingEvent {
        rules: rules.clone(),
        event: stat_event(id, user, "kills", 1, now),
        goals: vec![GoalId::new("auto-counter")],
        archive: false,
    };
    let batch = [
        event("ok-1", "u1"),
        event("bad", &too_long),
        event("ok-2", "u2"),
    ];
    let outcomes = store
        .apply_events(&batch, now)
        .await
        .expect("the database is up");
    assert_eq!(
        outcomes[0].as_ref().ok(),
        Some(&EventOutcome::Applied {
            changed: 1,
            failed_expressions: Vec::new()
        })
    );
    assert!(
        matches!(&outcomes[1], Err(store::StoreError::Rejected(_))),
        "{:?}",
        outcomes[1]
    );
    assert_eq!(
        outcomes[2].as_ref().ok(),
        Some(&EventOutcome::Applied {
            changed: 1,
            failed_expressions: Vec::new()
        })
    );
    assert_eq!(
        progress_of(store.as_ref(), "u1", "auto-counter")
            .await
            .map(|p| p.0),
        Some(1)
    );
    assert_eq!(
        progress_of(store.as_ref(), "u2", "auto-counter")
            .await
            .map(|p| p.0),
        Some(1)
    );
}

async fn inactive_and_unassigned_goals_do_not_move(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let user = UserId::new("u1");
    init_user(store.as_ref(), &rules, "u1").await;
    let manual = rules.goal("manual").expect("goal");
    let writer = Writer::start(store.clone(), WriterConfig::default());
    let now = test_now();
    writer
        .submit(rules.clone(), stat_event("e1", "u1", "kills", 1, now))
        .await
        .expect("e1");
    assert_eq!(
        progress_of(store.as_ref(), "u1", "manual").await,
        None,
        "not selected: no row"
    );
    store
        .set_active_for_user(&user, "test", manual, true, now)
        .await
        .expect("activate");
    writer
        .submit(rules.clone(), stat_event("e2", "u1", "kills", 2, now))
        .await
        .expect("e2");
    assert_eq!(
        progress_of(store.as_ref(), "u1", "manual").await,
        Some((1, Status::InProgress))
    );
    let row = store
        .set_active_for_user(&user, "test", manual, false, now)
        .await
        .expect("deactivate");
    assert!(!row.state.is_active);
    assert_eq!(row.state.progress, 1, "deactivating keeps progress");
    writer
        .submit(rules.clone(), stat_event("e3", "u1", "kills", 3, now))
        .await
        .expect("e3");
    assert_eq!(
        progress_of(store.as_ref(), "u1", "manual").await,
        Some((1, Status::InProgress))
    );
    writer.shutdown().await;
}

async fn reads_and_assignment(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let user = UserId::new("u1");
    let now = test_now();
    let defaults: Vec<_> = rules
        .goals()
        .iter()
        .filter(|g| g.assign == engine::Assign::Default)
        .collect();
    let first = store
        .initialize_for_user(&user, "test", &defaults, now)
        .await
        .expect("init");
    assert_eq!(first.len(), 3, "counter, level, daily");
    let daily = first
        .iter()
        .find(|r| r.goal_id.as_str() == "daily")
        .expect("daily row");
    assert_eq!(
        daily.state.expires_at,
        Some(engine::period::Period::Daily.next_start(now))
    );
    let again = store
        .initialize_for_user(&user, "test", &defaults, now)
        .await
        .expect("init again");
    assert!(again.is_empty(), "initialize only inserts missing rows");
    assert_eq!(
        store
            .count_active_for_user(&user, None)
            .await
            .expect("count"),
        3
    );
    assert_eq!(
        store
            .count_active_for_user(&user, Some(&engine::ChallengeId::new("d")))
            .await
            .expect("count"),
        1
    );
    let all = store.progress_for_user(&user, false).await.expect("all");
    assert_eq!(
        all.iter().map(|r| r.goal_id.as_str()).collect::<Vec<_>>(),
        ["counter", "daily", "level"]
    );
    let some = store
        .progress_for_user_goals(&user, &[GoalId::new("level"), GoalId::new("nope")])
        .await
        .expect("some");
    assert_eq!(some.len(), 1);
    store
        .set_active_for_user(
            &user,
            "test",
            rules.goal("level").expect("goal"),
            false,
            now,
        )
        .await
        .expect("off");
    assert_eq!(
        store
            .progress_for_user(&user, true)
            .await
            .expect("active")
            .len(),
        2
    );
    assert!(
        store
            .progress_for_user(&UserId::new("nobody"), false)
            .await
            .expect("none")
            .is_empty()
    );
    store.ping().await.expect("ping");
}

async fn batch_activation_is_all_or_nothing(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let user = UserId::new("u1");
    let now = test_now();
    let level = rules.goal("level").expect("goal");
    let manual = rules.goal("manual").expect("goal");
    store
        .set_active_for_user(&user, "test", level, true, now)
        .await
        .expect("level on");
    let mut broken = manual.clone();
    broken.id = GoalId::new("y".repeat(150)); // longer than the goal id column allows
    let result = store
        .activate_batch_for_user(
            &user,
            "test",
            &[manual, &broken],
            std::slice::from_ref(&level.id),
            now,
        )
        .await;
    assert!(result.is_err(), "the broken goal must fail the batch");
    let rows = store.progress_for_user(&user, false).await.expect("rows");
    assert_eq!(rows.len(), 1, "nothing was activated: {rows:?}");
    assert!(rows[0].state.is_active, "nothing was deactivated");
    let activated = store
        .activate_batch_for_user(
            &user,
            "test",
            &[manual],
            std::slice::from_ref(&level.id),
            now,
        )
        .await
        .expect("batch");
    assert_eq!(activated.len(), 1);
    assert_eq!(
        store
            .progress_for_user(&user, true)
            .await
            .expect("active")
            .iter()
            .map(|r| r.goal_id.to_string())
            .collect::<Vec<_>>(),
        ["manual"]
    );
}

async fn migrations_go_down_and_up(db: &TestDb) {
    let store = db.store().await;
    // The last migration (the audit log) goes, after a claim was tried;
    // the progress table stays.
    let now = test_now();
    let key = intent_key("u", "counter", chrono::DateTime::<chrono::Utc>::UNIX_EPOCH);
    store
        .begin_claim(&new_intent(&key, store::Delivery::Direct, None, now), now)
        .await
        .expect("a claim before the revert");
    assert_eq!(store.migrate_down(1).await.expect("down"), 1);
    assert!(
        store
            .progress_for_user(&UserId::new("u"), false)
            .await
            .is_ok()
    );
    // Asking for more than is applied reverts what there is: the rest of the store's
    // migrations (PostgreSQL has two more than SQLite: the fillfactor, the audit log's months).
    let rest = if db.url.starts_with("postgres") {
        19
    } else {
        17
    };
    assert_eq!(store.migrate_down(20).await.expect("down"), rest);
    assert!(store.ping().await.is_ok());
    assert!(
        store
            .progress_for_user(&UserId::new("u"), false)
            .await
            .is_err(),
        "the table is gone"
    );
    store.migrate().await.expect("up again");
    // A connection's prepared statements outlive a column type change (64-bit progress), so
    // read through fresh connections, as processes restarted after a migration do.
    let fresh = db.store().await;
    assert!(
        fresh
            .progress_for_user(&UserId::new("u"), false)
            .await
            .expect("read")
            .is_empty()
    );
}

/// A stat past 2^31 (a lifetime damage counter) is stored as it is, not clamped.
async fn progress_beyond_32_bits_round_trips(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    init_user(store.as_ref(), &rules, "u1").await;
    let writer = Writer::start(store.clone(), WriterConfig::default());
    writer
        .submit(
            rules.clone(),
            stat_event("big", "u1", "level", 5_000_000_000, test_now()),
        )
        .await
        .expect("event");
    writer.shutdown().await;
    assert_eq!(
        progress_of(store.as_ref(), "u1", "level").await,
        Some((5_000_000_000, Status::Completed))
    );
}
