//! Reward intents, against both stores: one claim at a time, `refused` the only way back to
//! claimable, a direct delivery never sent twice, exclusive leases with backoff, the ledger
//! that outlives a player's data, and cleanup that keeps what an open intent needs.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use engine::{GoalId, RuleSet, Status, UserId};
use store::{
    ClaimStart, Delivery, IntentOutcome, IntentState, ProgressStore, Writer, WriterConfig,
};

use crate::support::{
    TestDb, claim_granted, init_user, intent_key, new_intent, rules, stat_event, test_now,
};

conformance!(
    one_claim_at_a_time_and_only_a_refusal_frees_the_goal,
    a_direct_delivery_is_never_sent_twice,
    leases_are_exclusive_and_wait_for_the_backoff,
    the_ledger_outlives_the_players_data,
    a_grant_stamps_the_intents_own_period,
    cleanup_keeps_rows_with_open_intents,
);

/// Completes the daily goal `daily` (3 wins) of `user` at `at`.
async fn complete_daily(
    store: &Arc<dyn ProgressStore>,
    rules: &Arc<RuleSet>,
    user: &str,
    at: DateTime<Utc>,
) {
    let config = WriterConfig {
        clock: engine::Clock::at(at),
        ..WriterConfig::default()
    };
    let writer = Writer::start(store.clone(), config);
    for i in 0..3 {
        writer
            .submit(
                rules.clone(),
                stat_event(
                    &format!("{user}-{}-{i}", at.timestamp()),
                    user,
                    "wins",
                    i,
                    at,
                ),
            )
            .await
            .expect("win");
    }
    writer.shutdown().await;
}

async fn status_of(store: &dyn ProgressStore, user: &str, goal: &str) -> Option<Status> {
    store
        .progress_for_user_goal(&UserId::new(user), &GoalId::new(goal))
        .await
        .expect("read")
        .map(|row| row.state.status)
}

async fn one_claim_at_a_time_and_only_a_refusal_frees_the_goal(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    init_user(store.as_ref(), &rules, "u1").await;
    let now = test_now();
    let period = engine::period::Period::Daily.start_of(now);
    let period_end = Some(period + Duration::days(1));
    let key = intent_key("u1", "daily", period);
    let intent = new_intent(&key, Delivery::Fulfillment, period_end, now);
    assert_eq!(
        store.begin_claim(&intent, now).await.expect("begin"),
        ClaimStart::NotCompleted
    );
    complete_daily(&store, &rules, "u1", now).await;

    // Five concurrent claims: exactly one may deliver.
    let attempts: Vec<_> = (0..5)
        .map(|_| {
            let (store, intent) = (store.clone(), intent.clone());
            tokio::spawn(async move { store.begin_claim(&intent, now).await })
        })
        .collect();
    let mut started = 0;
    for attempt in attempts {
        match attempt.await.expect("task").expect("begin") {
            ClaimStart::Started(recorded) => {
                started += 1;
                assert_eq!(recorded.state, IntentState::Pending);
                assert_eq!(recorded.transaction_id, intent.transaction_id());
                assert_eq!(recorded.period_end, period_end);
            }
            other => assert_eq!(other, ClaimStart::InProgress(IntentState::Pending)),
        }
    }
    assert_eq!(started, 1);

    // Sent, then refused: the goal stays completed and may be claimed again.
    let lease = now + Duration::minutes(1);
    let sending = store.mark_sending(&key, lease, now).await.expect("mark");
    assert_eq!(
        sending.map(|i| (i.state, i.attempts)),
        Some((IntentState::Sending, 1))
    );
    assert_eq!(
        store.begin_claim(&intent, now).await.expect("begin"),
        ClaimStart::InProgress(IntentState::Sending)
    );
    let refused = IntentOutcome::Refused {
        error: "Platform answered 400".into(),
    };
    let closed = store
        .finish_intent(&key, &refused, now)
        .await
        .expect("refuse");
    assert_eq!(closed.map(|i| i.state), Some(IntentState::Refused));
    assert_eq!(
        status_of(store.as_ref(), "u1", "daily").await,
        Some(Status::Completed)
    );
    assert!(matches!(
        store.begin_claim(&intent, now).await.expect("again"),
        ClaimStart::Started(_)
    ));

    // Sent again and granted: claimed, and closed for good.
    store.mark_sending(&key, lease, now).await.expect("mark");
    let granted = IntentOutcome::Granted { claimed_at: now };
    let closed = store
        .finish_intent(&key, &granted, now)
        .await
        .expect("grant");
    assert_eq!(
        closed.map(|i| (i.state, i.attempts)),
        Some((IntentState::Granted, 2))
    );
    assert_eq!(
        status_of(store.as_ref(), "u1", "daily").await,
        Some(Status::Claimed)
    );
    assert_eq!(
        store.begin_claim(&intent, now).await.expect("after"),
        ClaimStart::AlreadyClaimed
    );
    assert_eq!(
        store
            .finish_intent(&key, &refused, now)
            .await
            .expect("late"),
        None,
        "a closed intent cannot be reopened"
    );
    assert_eq!(
        store.mark_sending(&key, lease, now).await.expect("late"),
        None,
        "a granted intent is never sent again"
    );
}

async fn a_direct_delivery_is_never_sent_twice(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let now = test_now();
    let period = engine::period::Period::Daily.start_of(now);
    let lease = now + Duration::minutes(1);
    for (user, delivery) in [
        ("direct", Delivery::Direct),
        ("fulfilled", Delivery::Fulfillment),
    ] {
        init_user(store.as_ref(), &rules, user).await;
        complete_daily(&store, &rules, user, now).await;
        let key = intent_key(user, "daily", period);
        let intent = new_intent(&key, delivery, Some(period + Duration::days(1)), now);
        assert!(matches!(
            store.begin_claim(&intent, now).await.expect("begin"),
            ClaimStart::Started(_)
        ));
        assert!(
            store
                .mark_sending(&key, lease, now)
                .await
                .expect("first")
                .is_some()
        );
        let again = store.mark_sending(&key, lease, now).await.expect("second");
        assert_eq!(
            again.is_some(),
            delivery == Delivery::Fulfillment,
            "{delivery:?}: may a request that may have arrived be sent again?"
        );
    }

    // The direct one's answer was lost: unknown until an operator says what happened.
    let key = intent_key("direct", "daily", period);
    let unknown = IntentOutcome::Unknown {
        error: "the answer was lost".into(),
    };
    let closed = store
        .finish_intent(&key, &unknown, now)
        .await
        .expect("unknown");
    assert_eq!(closed.map(|i| i.state), Some(IntentState::Unknown));
    assert_eq!(
        store
            .list_intents(Some(IntentState::Unknown), 10)
            .await
            .expect("list")
            .len(),
        1
    );
    let intent = new_intent(&key, Delivery::Direct, None, now);
    assert_eq!(
        store.begin_claim(&intent, now).await.expect("begin"),
        ClaimStart::InProgress(IntentState::Unknown),
        "an unknown outcome blocks the goal"
    );
    let fulfilled = intent_key("fulfilled", "daily", period);
    assert_eq!(
        store
            .resolve_intent(&fulfilled, true, "", now)
            .await
            .expect("resolve"),
        None,
        "only unknown intents are resolved by hand"
    );
    let resolved = store
        .resolve_intent(&key, true, "seen in Platform's wallet history", now)
        .await
        .expect("resolve");
    assert_eq!(resolved.map(|i| i.state), Some(IntentState::Granted));
    assert_eq!(
        status_of(store.as_ref(), "direct", "daily").await,
        Some(Status::Claimed)
    );
    let counts: std::collections::HashMap<_, _> = store
        .intent_counts()
        .await
        .expect("counts")
        .into_iter()
        .collect();
    assert_eq!(
        counts.get(&IntentState::Granted),
        None,
        "closed intents are not counted"
    );
    assert_eq!(counts.get(&IntentState::Sending), Some(&1));
}

async fn leases_are_exclusive_and_wait_for_the_backoff(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let now = test_now();
    let period = engine::period::Period::Daily.start_of(now);
    // Twenty claims whose process died right after recording them.
    for user in 0..20 {
        let user = format!("u{user}");
        init_user(store.as_ref(), &rules, &user).await;
        complete_daily(&store, &rules, &user, now).await;
        let key = intent_key(&user, "daily", period);
        let intent = new_intent(
            &key,
            Delivery::Fulfillment,
            Some(period + Duration::days(1)),
            now,
        );
        assert!(matches!(
            store.begin_claim(&intent, now).await.expect("begin"),
            ClaimStart::Started(_)
        ));
    }
    // While the claims' own lease runs, no reconciler takes them.
    assert!(
        store
            .lease_intents(now, now + Duration::minutes(5), 100)
            .await
            .expect("lease")
            .is_empty()
    );

    // Later, two replicas lease at once: together they get each intent exactly once.
    let later = now + Duration::minutes(2);
    let replicas: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .lease_intents(later, later + Duration::minutes(1), 15)
                    .await
            })
        })
        .collect();
    let mut leased = Vec::new();
    for replica in replicas {
        leased.extend(replica.await.expect("task").expect("lease"));
    }
    let distinct: HashSet<_> = leased.iter().map(|i| i.key.clone()).collect();
    assert_eq!(
        (leased.len(), distinct.len()),
        (20, 20),
        "every intent leased once"
    );
    assert!(
        store
            .lease_intents(later, later + Duration::minutes(1), 100)
            .await
            .expect("lease")
            .is_empty(),
        "leased intents are not leased again before their lease ends"
    );

    // A failed try gives the lease back with a backoff: not due before it.
    let key = leased[0].key.clone();
    let retry_at = later + Duration::minutes(10);
    let retry = IntentOutcome::Retry {
        error: "Platform answered 503".into(),
        reached: false,
        retry_at: Some(retry_at),
    };
    let released = store
        .finish_intent(&key, &retry, later)
        .await
        .expect("retry");
    assert_eq!(
        released.map(|i| (i.state, i.lease_until, i.next_attempt_at)),
        Some((IntentState::Pending, None, Some(retry_at)))
    );
    let early = later + Duration::minutes(5);
    let releasable = store
        .lease_intents(early, early + Duration::minutes(1), 100)
        .await
        .expect("lease");
    assert_eq!(
        releasable.len(),
        19,
        "the others' leases ran out; the retried one waits"
    );
    assert!(releasable.iter().all(|i| i.key != key));
    let due = store
        .lease_intents(retry_at, retry_at + Duration::minutes(1), 100)
        .await
        .expect("lease");
    assert!(due.iter().any(|i| i.key == key), "due at its retry time");
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
    store.delete_user(&UserId::new("u1")).await.expect("delete");
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

    // An intent never sent leaves nothing behind: the player may claim after a deletion.
    store.delete_user(&UserId::new("u1")).await.expect("delete");
    init_user(store.as_ref(), &rules, "u1").await;
    complete_daily(&store, &rules, "u1", tomorrow + Duration::minutes(1)).await;
    assert!(matches!(
        store
            .begin_claim(&next_intent, tomorrow)
            .await
            .expect("begin"),
        ClaimStart::Started(_)
    ));
}

async fn a_grant_stamps_the_intents_own_period(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let now = test_now();
    let period = engine::period::Period::Daily.start_of(now);
    init_user(store.as_ref(), &rules, "u1").await;
    complete_daily(&store, &rules, "u1", now).await;
    let key = intent_key("u1", "daily", period);
    let intent = new_intent(
        &key,
        Delivery::Fulfillment,
        Some(period + Duration::days(1)),
        now,
    );
    assert!(matches!(
        store.begin_claim(&intent, now).await.expect("begin"),
        ClaimStart::Started(_)
    ));
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
