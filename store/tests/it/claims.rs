//! Reward intents, against both stores: one claim at a time, `refused` the only way back to
//! claimable, a direct delivery never sent twice, exclusive leases with backoff.

use std::collections::HashSet;

use chrono::Duration;
use engine::Status;
use store::{ClaimStart, Delivery, IntentOutcome, IntentState};

use crate::support::{
    TestDb, complete_daily, init_user, intent_key, new_intent, rules, started_daily_claim,
    status_of, test_now,
};

conformance!(
    one_claim_at_a_time_and_only_a_refusal_frees_the_goal,
    a_direct_delivery_is_never_sent_twice,
    leases_are_exclusive_and_wait_for_the_backoff,
    a_grant_racing_a_new_claim_never_deadlocks,
);

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
                // A fulfillment is recorded as sent (it goes out right after the commit).
                assert_eq!(
                    (recorded.state, recorded.attempts),
                    (IntentState::Sending, 1)
                );
                assert_eq!(recorded.transaction_id, intent.transaction_id());
                assert_eq!(recorded.period_end, period_end);
            }
            other => assert_eq!(other, ClaimStart::InProgress(IntentState::Sending)),
        }
    }
    assert_eq!(started, 1);

    // Sent, then refused: the goal stays completed and may be claimed again.
    let lease = now + Duration::minutes(1);
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
    match store.begin_claim(&intent, now).await.expect("again") {
        ClaimStart::Started(recorded) => assert_eq!(
            (recorded.state, recorded.attempts),
            (IntentState::Sending, 2),
            "a claim started again counts its attempt"
        ),
        other => panic!("a refused goal may be claimed again, got {other:?}"),
    }

    // Sent again and granted: claimed, and closed for good.
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
        match store.begin_claim(&intent, now).await.expect("begin") {
            // A direct request is marked `sending` only just before it goes: one that never
            // went is still sent after a crash.
            ClaimStart::Started(recorded) if delivery == Delivery::Direct => {
                assert_eq!(
                    (recorded.state, recorded.attempts),
                    (IntentState::Pending, 0)
                );
            }
            ClaimStart::Started(recorded) => {
                assert_eq!(
                    (recorded.state, recorded.attempts),
                    (IntentState::Sending, 1)
                );
            }
            other => panic!("{delivery:?}: the claim should start, got {other:?}"),
        }
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
    // Twenty claims whose process died right after recording them.
    for user in 0..20 {
        started_daily_claim(&store, &rules, &format!("u{user}"), now).await;
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

/// A grant's answer and the player's next click lock the progress row and the intent in the
/// same order, so they never deadlock (PostgreSQL would abort one of them after a second).
async fn a_grant_racing_a_new_claim_never_deadlocks(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let now = test_now();
    let granted = IntentOutcome::Granted { claimed_at: now };
    for player in 0..20 {
        let user = format!("u{player}");
        let (key, intent) = started_daily_claim(&store, &rules, &user, now).await;
        let finish = {
            let (store, key, granted) = (store.clone(), key.clone(), granted.clone());
            tokio::spawn(async move { store.finish_intent(&key, &granted, now).await })
        };
        let click = {
            let (store, intent) = (store.clone(), intent.clone());
            tokio::spawn(async move { store.begin_claim(&intent, now).await })
        };
        let finished = finish.await.expect("task").expect("finish");
        let clicked = click.await.expect("task").expect("begin");
        assert_eq!(finished.map(|i| i.state), Some(IntentState::Granted));
        assert!(
            matches!(
                clicked,
                ClaimStart::AlreadyClaimed | ClaimStart::InProgress(IntentState::Sending)
            ),
            "{user}: {clicked:?}"
        );
        assert_eq!(
            status_of(store.as_ref(), &user, "daily").await,
            Some(Status::Claimed)
        );
    }
}
