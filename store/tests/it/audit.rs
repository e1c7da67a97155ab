//! Support's writes and the audit log (`SupportLog`): a change is written with its entry in one
//! transaction, only on the row as read; the log answers newest first, per player or for all; a
//! player's deletion leaves their entries under a pseudonym; and on PostgreSQL the database
//! itself refuses to update, delete or truncate the log.

use chrono::Duration;
use engine::support::{SupportAction, support_change};
use engine::{GoalId, Status, UserId};
use store::{AuditEntry, ProgressRow};

use crate::support::{TestDb, init_user, rules, test_now};

conformance!(support_writes_are_on_record_and_only_on_the_row_as_read);

fn entry(user: &str, action: &str, minutes: i64) -> AuditEntry {
    AuditEntry {
        id: store::audit::new_audit_id().expect("id"),
        at: test_now() + Duration::minutes(minutes),
        actor: "agent-7".into(),
        action: action.into(),
        user_id: user.into(),
        challenge_id: Some("c".into()),
        goal_id: Some("level".into()),
        reason: "ticket 4411: level 10 not credited".into(),
        detail: r#"{"before":null,"after":{"progress":10}}"#.into(),
    }
}

async fn support_writes_are_on_record_and_only_on_the_row_as_read(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    let goal = rules.goal("level").expect("goal");
    init_user(store.as_ref(), &rules, "u1").await;
    let read = |user: &'static str| {
        let store = store.clone();
        async move {
            (store
                .progress_for_user(&UserId::new(user), false)
                .await
                .expect("rows"))
            .into_iter()
            .find(|row| row.goal_id == GoalId::new("level"))
        }
    };
    // Decided on the row as it stands in the transaction.
    let seen = std::sync::Mutex::new(None);
    let complete = |before: Option<&ProgressRow>| {
        *seen.lock().unwrap() = before.map(|r| r.state.status);
        let before = before?;
        let after = support_change(
            goal,
            Some(&before.state),
            SupportAction::Complete,
            test_now() + Duration::minutes(1),
        )
        .ok()?;
        Some((
            ProgressRow {
                state: after,
                ..before.clone()
            },
            entry("u1", "complete", 1),
            None,
        ))
    };
    let level = GoalId::new("level");
    let written = store
        .support_write(&UserId::new("u1"), &level, &complete)
        .await
        .expect("write");
    assert_eq!(written.expect("written").action, "complete");
    assert_eq!(
        *seen.lock().unwrap(),
        Some(Status::NotStarted),
        "decided on the stored row"
    );
    let now = read("u1").await.expect("row");
    assert_eq!(
        (now.state.status, now.state.progress),
        (Status::Completed, 10)
    );

    // Refused by the decision: nothing written, not even the entry.
    let refuse = |_: Option<&ProgressRow>| None;
    assert!(
        store
            .support_write(&UserId::new("u1"), &level, &refuse)
            .await
            .expect("write")
            .is_none()
    );
    assert_eq!(
        read("u1").await.expect("row").state.status,
        Status::Completed
    );

    // A player without the row: the decision sees none, and the row is created.
    let create = |before: Option<&ProgressRow>| {
        assert!(before.is_none());
        let state = support_change(goal, None, SupportAction::Set(4), test_now()).ok()?;
        let row = ProgressRow {
            user_id: UserId::new("u2"),
            goal_id: goal.id.clone(),
            challenge_id: goal.challenge_id.clone(),
            namespace: "test".into(),
            state,
        };
        Some((row, entry("u2", "set", 3), None))
    };
    assert!(
        store
            .support_write(&UserId::new("u2"), &level, &create)
            .await
            .expect("write")
            .is_some()
    );
    assert_eq!(read("u2").await.expect("created").state.progress, 4);

    // The log: newest first, per player or everyone's.
    let u1 = store
        .audit_entries(Some(&UserId::new("u1")), None, 10)
        .await
        .expect("log");
    assert_eq!(u1.len(), 1, "{u1:?}");
    assert_eq!(
        (u1[0].action.as_str(), u1[0].actor.as_str()),
        ("complete", "agent-7")
    );
    assert_eq!(u1[0].reason, "ticket 4411: level 10 not credited");
    let all = store.audit_entries(None, None, 10).await.expect("log");
    assert_eq!(
        all.iter().map(|e| e.user_id.as_str()).collect::<Vec<_>>(),
        ["u2", "u1"]
    );
    assert_eq!(
        store.audit_entries(None, None, 1).await.expect("log").len(),
        1
    );

    // A deleted player's entries stay, under a pseudonym, and the deletion is on record.
    store
        .delete_user(&UserId::new("u1"), test_now() + Duration::minutes(10))
        .await
        .expect("delete");
    assert!(
        store
            .audit_entries(Some(&UserId::new("u1")), None, 10)
            .await
            .expect("log")
            .is_empty()
    );
    let all = store.audit_entries(None, None, 10).await.expect("log");
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[0].action, "pseudonymize");
    assert!(all[0].user_id.starts_with("deleted-"), "{:?}", all[0]);
    // Newest first: the deletion, u2's set, then u1's complete under the pseudonym.
    assert_eq!(all[2].action, "complete");
    assert_eq!(
        all[2].user_id, all[0].user_id,
        "the player's entry names the same pseudonym"
    );
    assert_eq!(all[2].reason, "ticket 4411: level 10 not credited");
    assert!(all.iter().all(|e| e.user_id != "u1"));

    if db.url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
        for statement in [
            "UPDATE audit_log SET reason = 'nothing happened'",
            "UPDATE audit_log SET user_id = 'someone-else'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ] {
            let refused = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&pool)
                .await;
            let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains("append-only"), "{statement}: {message}");
        }
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(left, 3);
        pool.close().await;
    }
}
