//! The notification outbox, against both stores: a completion writes its `goal.completed`
//! record in the batch that completes the goal (once, a redelivery writes none), a grant its
//! `reward.granted` in the transaction that records it; a lease hands out each player's oldest
//! live record only, so records go out in order, and a dead-lettered one blocks nothing.

use chrono::TimeDelta;
use engine::GoalId;
use serde_json::Value;

use crate::support::{TestDb, claim_granted, init_user, intent_key, rules, stat_event, test_now};

conformance!(records_are_written_with_their_cause_and_leased_in_order_per_player);

async fn records_are_written_with_their_cause_and_leased_in_order_per_player(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let now = test_now();
    for user in ["u1", "u2"] {
        init_user(store.as_ref(), &rules, user).await;
    }
    let level = |id: &str, user: &str, value: i64| store::PendingEvent {
        rules: rules.clone(),
        event: stat_event(id, user, "level", value, now),
        goals: vec![GoalId::new("level")],
        archive: false,
    };
    let batch = [
        level("l1", "u1", 10),
        level("l2", "u2", 4),
        level("l3", "u1", 12),
    ];
    store.apply_events(&batch, now).await.expect("batch");
    // The same event again, and u2 completing later.
    store
        .apply_events(&[level("l1", "u1", 10), level("l4", "u2", 11)], now)
        .await
        .expect("batch");
    claim_granted(
        store.as_ref(),
        &intent_key("u1", "level", chrono::DateTime::UNIX_EPOCH),
        None,
        now,
    )
    .await;

    let later = now + TimeDelta::seconds(1);
    let lease = later + TimeDelta::minutes(1);
    let leased = store.lease_notices(later, lease, 10).await.expect("lease");
    let shown: Vec<(String, String)> = leased
        .iter()
        .map(|r| (r.user_id.clone(), r.kind.clone()))
        .collect();
    assert_eq!(
        shown,
        [
            ("u1".to_string(), "goal.completed".to_string()),
            ("u2".into(), "goal.completed".into())
        ],
        "each player's oldest record only"
    );
    let body: Value = serde_json::from_str(&leased[0].body).expect("JSON");
    assert_eq!(
        (
            body["id"].as_str(),
            body["type"].as_str(),
            body["userId"].as_str(),
            body["challengeId"].as_str(),
            body["goalId"].as_str(),
            body["namespace"].as_str()
        ),
        (
            Some(leased[0].id.as_str()),
            Some("goal.completed"),
            Some("u1"),
            Some("c"),
            Some("level"),
            Some("test")
        )
    );
    assert_eq!(leased[0].attempts, 1);
    // Leased: nobody else gets them, nor the players' later records.
    assert!(
        store
            .lease_notices(later, lease, 10)
            .await
            .expect("lease")
            .is_empty()
    );

    // u1's first fails and waits: its grant waits behind it.
    let u1 = &leased[0];
    store
        .notice_failed(u1, &["webhook".into()], "lobby: 503", later, false)
        .await
        .expect("failed");
    store.notice_delivered(&leased[1]).await.expect("delivered");
    let again = store.lease_notices(later, lease, 10).await.expect("lease");
    assert_eq!(again.len(), 1);
    assert_eq!(
        (
            again[0].seq,
            again[0].attempts,
            again[0].delivered_to.clone()
        ),
        (u1.seq, 2, vec!["webhook".to_string()])
    );
    // Dead-lettered: the player's next record goes on.
    store
        .notice_failed(u1, &["webhook".into()], "lobby: 503", later, true)
        .await
        .expect("dead");
    let next = store.lease_notices(later, lease, 10).await.expect("lease");
    assert_eq!(next.len(), 1);
    let granted: Value = serde_json::from_str(&next[0].body).expect("JSON");
    assert_eq!(
        (
            granted["type"].as_str(),
            granted["reward"]["rewardId"].as_str()
        ),
        (Some("reward.granted"), Some("GOLD"))
    );
    assert_eq!(store.notice_counts().await.expect("counts"), (1, 1));
    store.notice_delivered(&next[0]).await.expect("delivered");
    assert_eq!(store.notice_counts().await.expect("counts"), (0, 1));
}
