//! What outlives a claim, against both stores: the ledger that survives a player's data
//! deletion, the grant stamped on the intent's own period, and cleanup that keeps every row an
//! open intent still needs.

use chrono::Duration;
use engine::{Status, UserId};
use store::{ClaimStart, Delivery, IntentOutcome, IntentState};

use crate::support::{
    TestDb, claim_granted, complete_daily, init_user, intent_key, new_intent, rules,
    started_daily_claim, status_of, test_now,
};

conformance!(
    the_ledger_outlives_the_players_data,
    a_grant_stamps_the_intents_own_period,
    cleanup_keeps_rows_with_open_intents,
    a_partly_granted_bundle_outlives_the_players_data,
);

/// A bundle delivered part by part whose second part Platform refused: its first part went.
/// The player deletes their data and plays again: the ledger keeps the reward, so the first
/// part is never sent a second time.
async fn a_partly_granted_bundle_outlives_the_players_data(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let now = test_now();
    let period = engine::period::Period::Daily.start_of(now);
    let period_end = Some(period + Duration::days(1));
    init_user(store.as_ref(), &rules, "u1").await;
    complete_daily(&store, &rules, "u1", now).await;
    let key = intent_key("u1", "daily", period);
    let intent = new_intent(&key, Delivery::Direct, period_end, now);
    assert!(matches!(
        store.begin_claim(&intent, now).await.expect("begin"),
        ClaimStart::Started(_)
    ));
    let lease = now + Duration::minutes(1);
    store
        .mark_sending(&key, lease, now)
        .await
        .expect("mark")
        .expect("sending");
    store
        .part_granted(&key, 1, now)
        .await
        .expect("part")
        .expect("at part 1");
    store
        .mark_sending(&key, lease, now)
        .await
        .expect("mark")
        .expect("sending");
    let refused = IntentOutcome::Refused {
        error: "400".into(),
    };
    let closed = store
        .finish_intent(&key, &refused, now)
        .await
        .expect("refused");
    assert_eq!(
        closed.map(|i| (i.state, i.parts_granted)),
        Some((IntentState::Refused, 1))
    );

    store
        .delete_user(&UserId::new("u1"), now)
        .await
        .expect("delete");
    init_user(store.as_ref(), &rules, "u1").await;
    complete_daily(&store, &rules, "u1", now + Duration::minutes(1)).await;
    assert_eq!(
        store.begin_claim(&intent, now).await.expect("begin"),
        ClaimStart::AlreadyClaimed,
        "a part that went is never sent again"
    );
}

async fn the_ledger_outlives_the_players_data(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let now = test_now();
    let period = engine::period::Period::Daily.start_of(now);
    let period_end = Some(period + Duration::days(1));
    init_user(store.as_ref(), &rules, "u1").await;
    complete_daily(&store, &rules, "u1", now).await;
    let key = intent_key("u1", "daily", period);
    claim_granted(store.as_ref(), &key, period_end, now).await;

    // The player deletes their data, then plays the same day again and claims again.
    store
        .delete_user(&UserId::new("u1"), test_now())
        .await
        .expect("delete");
    assert_eq!(
        store.intent(&key).await.expect("read"),
        None,
        "no intent names the player"
    );
    init_user(store.as_ref(), &rules, "u1").await;
    complete_daily(&store, &rules, "u1", now + Duration::minutes(1)).await;
    let again = new_intent(&key, Delivery::Fulfillment, period_end, now);
    assert_eq!(
        store.begin_claim(&again, now).await.expect("begin"),
        ClaimStart::AlreadyClaimed,
        "the same reward of the same period is not granted twice"
    );
    // Tomorrow's reward is another one.
    let tomorrow = now + Duration::days(1);
    complete_daily(&store, &rules, "u1", tomorrow).await;
    let next = intent_key("u1", "daily", period + Duration::days(1));
    let next_intent = new_intent(
        &next,
        Delivery::Fulfillment,
        Some(period + Duration::days(2)),
        tomorrow,
    );
    assert!(matches!(
        store
            .begin_claim(&next_intent, tomorrow)
            .await
            .expect("begin"),
        ClaimStart::Started(_)
    ));

    // An intent never sent leaves nothing behind: the player may claim after a deletion. (A
    // fulfillment is recorded `sending`; Platform unreachable puts it back to `pending`.)
    let not_sent = IntentOutcome::Retry {
        error: "connection refused".into(),
        reached: false,
        retry_at: Some(tomorrow + Duration::minutes(1)),
    };
    let back = store
        .finish_intent(&next, &not_sent, tomorrow)
        .await
        .expect("not sent");
    assert_eq!(back.map(|i| i.state), Some(IntentState::Pending));
    store
        .delete_user(&UserId::new("u1"), test_now())
        .await
        .expect("delete");
    init_user(store.as_ref(), &rules, "u1").await;
    complete_daily(&store, &rules, "u1", tomorrow + Duration::minutes(1)).await;
    assert!(matches!(
        store
            .begin_claim(&next_intent, tomorrow)
            .await
            .expect("begin"),
        ClaimStart::Started(_)
    ));

    // That claim's fulfillment may have reached Platform (its process stopped before the answer
    // was recorded): a deletion now keeps it in the ledger, never granted a second time.
    store
        .delete_user(&UserId::new("u1"), test_now())
        .await
        .expect("delete");
    init_user(store.as_ref(), &rules, "u1").await;
    complete_daily(&store, &rules, "u1", tomorrow + Duration::minutes(2)).await;
    assert_eq!(
        store
            .begin_claim(&next_intent, tomorrow)
            .await
            .expect("begin"),
        ClaimStart::AlreadyClaimed
    );
}

async fn a_grant_stamps_the_intents_own_period(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let now = test_now();
    let period = engine::period::Period::Daily.start_of(now);
    let (key, _) = started_daily_claim(&store, &rules, "u1", now).await;
    store
        .mark_sending(&key, now + Duration::minutes(1), now)
        .await
        .expect("mark");

    // Platform answers only tomorrow, after the row moved on to the new day and completed again.
    let tomorrow = now + Duration::days(1);
    complete_daily(&store, &rules, "u1", tomorrow).await;
    let granted = IntentOutcome::Granted {
        claimed_at: tomorrow,
    };
    let closed = store
        .finish_intent(&key, &granted, tomorrow)
        .await
        .expect("grant");
    assert_eq!(closed.map(|i| i.state), Some(IntentState::Granted));
    assert_eq!(
        status_of(store.as_ref(), "u1", "daily").await,
        Some(Status::Completed),
        "today's row is not claimed by yesterday's grant"
    );

    // The row of an intent's period was cleaned up: the intent is still marked granted.
    let other = intent_key("u2", "daily", period);
    init_user(store.as_ref(), &rules, "u2").await;
    complete_daily(&store, &rules, "u2", now).await;
    let intent = new_intent(
        &other,
        Delivery::Fulfillment,
        Some(period + Duration::days(1)),
        now,
    );
    assert!(matches!(
        store.begin_claim(&intent, now).await.expect("begin"),
        ClaimStart::Started(_)
    ));
    store
        .mark_sending(&other, now + Duration::minutes(1), now)
        .await
        .expect("mark");
    sqlx_delete_row(db, "u2", "daily").await;
    let closed = store
        .finish_intent(&other, &granted, tomorrow)
        .await
        .expect("grant");
    assert_eq!(closed.map(|i| i.state), Some(IntentState::Granted));
}

/// Removes a progress row behind the store's back (as an older cleanup might have).
async fn sqlx_delete_row(db: &TestDb, user: &str, goal: &str) {
    if db.url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");
        sqlx::query("DELETE FROM user_goal_progress WHERE user_id = $1 AND goal_id = $2")
            .bind(user)
            .bind(goal)
            .execute(&pool)
            .await
            .expect("delete");
    } else {
        let pool = sqlx::SqlitePool::connect(&db.url).await.expect("pool");
        sqlx::query("DELETE FROM user_goal_progress WHERE user_id = ? AND goal_id = ?")
            .bind(user)
            .bind(goal)
            .execute(&pool)
            .await
            .expect("delete");
    }
}

async fn cleanup_keeps_rows_with_open_intents(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let then = test_now() - Duration::days(30);
    let period = engine::period::Period::Daily.start_of(then);
    let defaults: Vec<_> = rules
        .goals()
        .iter()
        .filter(|g| g.assign == engine::Assign::Default)
        .collect();
    for user in ["open", "closed"] {
        store
            .initialize_for_user(&UserId::new(user), "test", &defaults, then)
            .await
            .expect("initialize");
        complete_daily(&store, &rules, user, then).await;
        let key = intent_key(user, "daily", period);
        let intent = new_intent(
            &key,
            Delivery::Direct,
            Some(period + Duration::days(1)),
            then,
        );
        assert!(matches!(
            store.begin_claim(&intent, then).await.expect("begin"),
            ClaimStart::Started(_)
        ));
        store
            .mark_sending(&key, then + Duration::minutes(1), then)
            .await
            .expect("mark");
    }
    // "closed" was refused: its completed row may go like any expired one.
    let refused = IntentOutcome::Refused {
        error: "400".into(),
    };
    store
        .finish_intent(&intent_key("closed", "daily", period), &refused, then)
        .await
        .expect("refuse");
    let policies = store::ExpiryPolicy::for_rules(&rules);
    let batch = store
        .delete_expired(&policies, test_now() - Duration::days(7), None, 100)
        .await
        .expect("cleanup");
    assert!(batch.deleted >= 1);
    assert_eq!(status_of(store.as_ref(), "closed", "daily").await, None);
    assert_eq!(
        status_of(store.as_ref(), "open", "daily").await,
        Some(Status::Completed),
        "a row whose reward may be on its way stays"
    );
}
