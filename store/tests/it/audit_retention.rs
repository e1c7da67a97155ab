//! The audit log's retention (`Maintenance::prune_audit_log`): a UTC month goes whole once it
//! ended before the cutoff, the months after it stay entry for entry, and the run is recorded
//! as an entry of its own. On PostgreSQL the month is a partition dropped (created by the
//! first entry of the month, or ahead by the cleanup job), and each partition refuses deletes
//! and truncation like the log itself.

use chrono::{DateTime, Duration, Utc};
use engine::{GoalId, UserId};
use store::{AuditEntry, ProgressRow};

use crate::support::{TestDb, init_user, rules};

conformance!(audit_log_goes_a_whole_month_at_a_time);

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an instant")
}

async fn audit_log_goes_a_whole_month_at_a_time(db: &TestDb) {
    let store = db.store().await;
    let rules = rules();
    init_user(store.as_ref(), &rules, "u1").await;
    let (user, goal) = (UserId::new("u1"), GoalId::new("level"));
    let times = [
        "2026-01-20T10:00:00Z",
        "2026-03-31T23:59:59Z",
        "2026-04-01T00:00:01Z",
        "2026-06-10T12:00:00Z",
    ];
    for (n, time) in times.into_iter().enumerate() {
        let write = |before: Option<&ProgressRow>| {
            let mut row = before?.clone();
            row.state.progress = i64::try_from(n).unwrap() + 1;
            Some((
                row,
                AuditEntry {
                    id: store::audit::new_audit_id().expect("id"),
                    at: at(time),
                    actor: "agent-7".into(),
                    action: "set".into(),
                    user_id: "u1".into(),
                    challenge_id: Some("c".into()),
                    goal_id: Some("level".into()),
                    reason: format!("ticket {n}"),
                    detail: "{}".into(),
                },
            ))
        };
        let written = store.support_write(&user, &goal, &write).await;
        assert!(written.expect("write").is_some(), "{time}");
    }
    let now = at("2026-06-10T12:00:00Z");

    // Kept 70 days: the cutoff falls in April, so January and March go, April stays whole.
    let gone = store
        .prune_audit_log(now, now - Duration::days(70))
        .await
        .expect("retention");
    assert_eq!(gone, 2);
    let left = store.audit_entries(None, 10).await.expect("log");
    let reasons: Vec<&str> = left.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "AUDIT_RETENTION: months that ended before 2026-04-01T12:00:00Z",
            "ticket 3",
            "ticket 2"
        ]
    );
    let record = &left[0];
    assert_eq!(
        (record.action.as_str(), record.actor.as_str(), record.at),
        ("retention", "audit-retention", now)
    );
    let detail: serde_json::Value = serde_json::from_str(&record.detail).expect("json");
    assert_eq!(
        detail,
        serde_json::json!({"months": ["2026-01", "2026-03"], "entries": 2})
    );
    // Nothing more is due: nothing goes, nothing more is recorded.
    let again = store
        .prune_audit_log(now, now - Duration::days(70))
        .await
        .expect("retention");
    assert_eq!(again, 0);
    assert_eq!(store.audit_entries(None, 10).await.expect("log").len(), 3);

    if db.url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
        let months: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'audit_log'::regclass ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .expect("partitions");
        for month in [
            "audit_log_p202604",
            "audit_log_p202606",
            "audit_log_p202607",
        ] {
            assert!(months.iter().any(|m| m == month), "{month}: {months:?}");
        }
        assert!(
            !months
                .iter()
                .any(|m| m == "audit_log_p202601" || m == "audit_log_p202603"),
            "{months:?}"
        );
        for statement in [
            "DELETE FROM audit_log_p202604",
            "TRUNCATE audit_log_p202604",
            "UPDATE audit_log_p202606 SET reason = 'nothing happened'",
            "TRUNCATE audit_log_default",
        ] {
            let refused = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&pool)
                .await;
            let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains("append-only"), "{statement}: {message}");
        }
        let in_default: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log_default")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(in_default, 0, "every entry found its month");
        pool.close().await;
    }
}
