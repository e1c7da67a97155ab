//! Deleting data, against both stores: a player's deletion and the expired-row cleanup, which
//! removes only what a player cannot miss.

use std::sync::Arc;

use chrono::Duration;
use engine::{GoalId, Status, UserId};
use store::PendingEvent;

use crate::support::{
    TestDb, TestReads, claim_granted, init_user, intent_key, rules, stat_event, test_now,
};

conformance!(
    gdpr_delete_and_expired_cleanup,
    a_deletion_wins_over_events_from_before_it,
    expired_cleanup_deletes_only_what_a_player_cannot_miss,
);

async fn gdpr_delete_and_expired_cleanup(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    init_user(store.as_ref(), &rules, "u1").await;
    init_user(store.as_ref(), &rules, "u2").await;
    assert_eq!(
        store
            .delete_user(&UserId::new("u1"), test_now())
            .await
            .expect("delete"),
        3
    );
    assert!(
        store
            .progress_for_user(&UserId::new("u1"), false)
            .await
            .expect("read")
            .is_empty()
    );
    // u2's daily row expires at the next midnight; clean up "as of" two days later, one per call.
    let later = test_now() + Duration::days(2);
    let policies = store::ExpiryPolicy::for_rules(&rules);
    let first = store
        .delete_expired(&policies, later, None, 1)
        .await
        .expect("cleanup");
    assert_eq!(first.deleted, 1);
    let cursor = first.next.expect("the walk filled its limit: go on");
    assert_eq!(cursor.user_id.as_str(), "u2");
    let second = store
        .delete_expired(&policies, later, Some(&cursor), 1)
        .await
        .expect("cleanup");
    assert_eq!((second.deleted, second.next), (0, None));
    assert_eq!(
        store
            .progress_for_user(&UserId::new("u2"), false)
            .await
            .expect("read")
            .len(),
        2
    );
    assert_eq!(
        store
            .prune_processed_events(later, 100)
            .await
            .expect("prune"),
        0
    );
}

/// Events from before a player's deletion, still queued or redelivered after it, bring none of
/// the player's data back: no progress row, no placeholder, no event id. Events after it count.
async fn a_deletion_wins_over_events_from_before_it(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let now = test_now();
    let user = UserId::new("u1");
    init_user(store.as_ref(), &rules, "u1").await;
    let routed = |id: &str, at| PendingEvent {
        rules: rules.clone(),
        event: stat_event(id, "u1", "kills", 1, at),
        goals: vec![GoalId::new("counter"), GoalId::new("auto-counter")],
        archive: false,
    };
    let before = now - Duration::minutes(1);
    let first = store
        .apply_events(&[routed("e1", before)], now)
        .await
        .expect("apply");
    assert!(
        matches!(
            first[0],
            Ok(store::EventOutcome::Applied { changed: 2, .. })
        ),
        "{first:?}"
    );
    store.delete_user(&user, now).await.expect("delete");

    // e1 redelivered, e2 sent before the deletion but committed after it.
    let late = store
        .apply_events(
            &[
                routed("e1", before),
                routed("e2", now - Duration::seconds(1)),
            ],
            now + Duration::seconds(5),
        )
        .await
        .expect("apply");
    assert!(
        late.iter()
            .all(|o| matches!(o, Ok(store::EventOutcome::UserDeleted))),
        "{late:?}"
    );
    assert!(
        store
            .progress_for_user(&user, true)
            .await
            .expect("read")
            .is_empty(),
        "the deleted player's progress stays deleted"
    );

    // The player plays on after the deletion: that counts, from zero.
    let after = store
        .apply_events(
            &[routed("e3", now + Duration::minutes(1))],
            now + Duration::minutes(1),
        )
        .await
        .expect("apply");
    assert!(
        matches!(after[0], Ok(store::EventOutcome::Applied { .. })),
        "{after:?}"
    );
    let rows = store.progress_for_user(&user, true).await.expect("read");
    assert_eq!(
        rows.len(),
        1,
        "only the auto goal: the default ones were deleted"
    );
    assert_eq!(rows[0].state.progress, 1);

    // Tombstones go with the dedup window.
    store
        .prune_processed_events(now + Duration::days(30), 100)
        .await
        .expect("prune");
    let replay = store
        .apply_events(&[routed("e4", before)], now + Duration::days(30))
        .await
        .expect("apply");
    assert!(
        matches!(replay[0], Ok(store::EventOutcome::Applied { .. })),
        "{replay:?}"
    );
}

/// Rows of rotating goals long past their period go only when the player would see the same
/// thing without them: a selection, a claim that must stay claimed, carried-over progress stay.
async fn expired_cleanup_deletes_only_what_a_player_cannot_miss(db: &TestDb) {
    const RULES: &str = r#"
version: 1
challenges:
  - id: daily
    name: Daily
    rotation: { every: daily }
    goals:
      - { id: d-default, name: D, on: stat, stat: wins, count: events, target: 5 }
      - { id: d-manual, name: M, on: stat, stat: wins, count: events, target: 5, assign: manual }
      - { id: d-auto, name: A, on: stat, stat: wins, count: events, target: 5, assign: auto }
  - id: once
    name: Once
    rotation: { every: daily }
    goals:
      - { id: d-once, name: O, on: stat, stat: kills, count: events, target: 1 }
  - id: again
    name: Again
    rotation: { every: daily, allow_reselection: true }
    goals:
      - { id: d-again, name: G, on: stat, stat: kills, count: events, target: 1 }
  - id: carry
    name: Carry
    rotation: { every: weekly, reset_progress: false }
    goals:
      - { id: w-carry, name: C, on: stat, stat: wins, count: events, target: 100 }
  - id: plain
    name: Plain
    goals:
      - { id: forever, name: F, on: stat, stat: wins, count: events, target: 100 }
"#;
    let compiled = engine::compile(&engine::Sources {
        files: vec![engine::SourceFile::new("cleanup.yaml", RULES)],
        unreadable: Vec::new(),
    });
    let rules = Arc::new(compiled.rules.expect("rules compile"));
    let store = db.store().await;
    let now = test_now();
    let then = now - Duration::days(30);
    let goal = |id: &str| rules.goal(id).expect("goal");
    let defaults: Vec<_> = rules
        .goals()
        .iter()
        .filter(|g| g.assign == engine::Assign::Default)
        .collect();
    for user in ["u1", "u2"] {
        store
            .initialize_for_user(&UserId::new(user), "test", &defaults, then)
            .await
            .expect("initialize");
    }
    let (u1, u2) = (UserId::new("u1"), UserId::new("u2"));
    // u1 selected the manual goal; u2 selected it and dropped it again, and dropped d-default.
    for (user, goal_id, active) in [
        (&u1, "d-manual", true),
        (&u2, "d-manual", true),
        (&u2, "d-manual", false),
        (&u2, "d-default", false),
    ] {
        store
            .set_active_for_user(user, "test", goal(goal_id), active, then)
            .await
            .expect("selection");
    }
    // u1 played a month ago: the auto goal got its row, both kill goals completed and claimed.
    let routed = |event: engine::Event, goals: &[&str]| PendingEvent {
        rules: rules.clone(),
        event,
        goals: goals.iter().map(|g| GoalId::new(*g)).collect(),
        archive: false,
    };
    store
        .apply_events(
            &[
                routed(stat_event("e1", "u1", "wins", 1, then), &["d-auto"]),
                routed(
                    stat_event("e2", "u1", "kills", 1, then),
                    &["d-once", "d-again"],
                ),
            ],
            then,
        )
        .await
        .expect("events");
    for goal_id in ["d-once", "d-again"] {
        let goal_id = GoalId::new(goal_id);
        let period = engine::period::Period::Daily.start_of(then);
        let row = store
            .progress_for_user_goal(&u1, &goal_id)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(row.state.status, Status::Completed, "{goal_id}");
        let key = intent_key("u1", goal_id.as_str(), period);
        claim_granted(store.as_ref(), &key, row.state.expires_at, then).await;
    }
    // u3 initialized today: nothing of theirs has expired.
    store
        .initialize_for_user(&UserId::new("u3"), "test", &defaults, now)
        .await
        .expect("initialize");

    let policies = store::ExpiryPolicy::for_rules(&rules);
    let week_ago = now - Duration::days(7);
    let (mut deleted, mut cursor) = (Vec::new(), None);
    loop {
        let batch = store
            .delete_expired(&policies, week_ago, cursor.as_ref(), 3)
            .await
            .expect("cleanup");
        deleted.push(batch.deleted);
        cursor = batch.next;
        if cursor.is_none() {
            break;
        }
    }
    // Twelve expired rows walked three at a time in (expires_at, user, goal) order — u1's and
    // u2's five daily rows, then the two weekly ones — and six of them deleted: u1's d-again,
    // d-auto, d-default | u1's d-manual, d-once stay, u2's d-again | u2's d-default stays,
    // d-manual, d-once | both w-carry rows stay, and the walk ends.
    assert_eq!(deleted, [3, 1, 2, 0]);

    let goals_of = |user: &'static str| {
        let store = store.clone();
        async move {
            store
                .progress_for_user(&UserId::new(user), false)
                .await
                .expect("read")
                .iter()
                .map(|r| r.goal_id.to_string())
                .collect::<Vec<_>>()
        }
    };
    // Gone: u1's d-default (initialize re-creates it), d-auto (its next event does),
    // d-again (claimable again anyway), u2's dropped d-manual (a missing row is not selected)
    // and u2's untouched kill goals.
    assert_eq!(
        goals_of("u1").await,
        ["d-manual", "d-once", "forever", "w-carry"]
    );
    assert_eq!(goals_of("u2").await, ["d-default", "forever", "w-carry"]);
    assert_eq!(goals_of("u3").await.len(), 5);
}
