//! The audit log's retention (`Maintenance::prune_audit_log`): a UTC month goes whole once it
//! ended before the cutoff, the months after it stay entry for entry, and the run is recorded
//! as an entry of its own. On PostgreSQL the month is a partition dropped (created by the
//! first entry of the month, or ahead by the cleanup job), and each partition refuses deletes
//! and truncation like the log itself.

use chrono::{DateTime, Duration, Utc};
use engine::{GoalId, UserId};
use store::{AuditEntry, ProgressRow};

use crate::support::{TestDb, init_user, rules};

conformance!(
    audit_log_goes_a_whole_month_at_a_time,
    the_log_reads_page_by_page
);

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an instant")
}

/// Writes one entry of u1's `level` goal at each of `times`, reasons `ticket 0`, `ticket 1`, …
async fn write_entries(store: &dyn store::Store, times: &[&str]) {
    let (user, goal) = (UserId::new("u1"), GoalId::new("level"));
    for (n, &time) in times.iter().enumerate() {
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
                None,
            ))
        };
        let written = store.support_write(&user, &goal, &write).await;
        assert!(written.expect("write").is_some(), "{time}");
    }
}

async fn audit_log_goes_a_whole_month_at_a_time(db: &TestDb) {
    let store = db.store().await;
    init_user(store.as_ref(), &rules(), "u1").await;
    let times = [
        "2026-01-20T10:00:00Z",
        "2026-03-31T23:59:59Z",
        "2026-04-01T00:00:01Z",
        "2026-06-10T12:00:00Z",
    ];
    write_entries(store.as_ref(), &times).await;
    let now = at("2026-06-10T12:00:00Z");

    // Kept 70 days: the cutoff falls in April, so January and March go, April stays whole.
    let gone = store
        .prune_audit_log(now, now - Duration::days(70))
        .await
        .expect("retention");
    assert_eq!(gone, 2);
    let left = store.audit_entries(None, None, 10).await.expect("log");
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
    assert_eq!(
        store
            .audit_entries(None, None, 10)
            .await
            .expect("log")
            .len(),
        3
    );

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

/// Pages of two, newest first, follow each other without a gap or a repeat, entries written
/// in the same instant included (in the order they were written, newest first).
async fn the_log_reads_page_by_page(db: &TestDb) {
    let store = db.store().await;
    init_user(store.as_ref(), &rules(), "u1").await;
    let same = "2026-06-10T12:00:00.250Z";
    let later = "2026-06-10T12:01:00Z";
    write_entries(store.as_ref(), &[same, same, same, later, later]).await;
    let mut read = Vec::new();
    let mut after: Option<store::AuditCursor> = None;
    loop {
        let page = store
            .audit_entries(Some(&UserId::new("u1")), after.as_ref(), 2)
            .await
            .expect("page");
        read.extend(page.iter().map(|e| e.reason.clone()));
        match page.last() {
            Some(last) if page.len() == 2 => after = Some(store::AuditCursor::after(last)),
            _ => break,
        }
    }
    assert_eq!(
        read,
        ["ticket 4", "ticket 3", "ticket 2", "ticket 1", "ticket 0"]
    );
    let cursor =
        store::AuditCursor::after(&store.audit_entries(None, None, 1).await.expect("log")[0]);
    assert_eq!(store::AuditCursor::decode(&cursor.encode()), Some(cursor));
    for text in [
        "",
        "12",
        "x.abc",
        "12.",
        "12.not hex",
        "1.0a1b2c3d-0000-4000-8000-0000000000000",
    ] {
        assert_eq!(store::AuditCursor::decode(text), None, "{text}");
    }
}
