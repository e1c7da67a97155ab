//! The notification outbox on PostgreSQL: replicas lease with `FOR UPDATE SKIP LOCKED`.

use std::sync::LazyLock;

use super::PgStore;
use crate::StoreError;
use crate::outbox::{INSERT, Notice, columns, due};

static LEASE: LazyLock<String> = LazyLock::new(|| {
    let returned = columns("o.seq").replace(", ", ", o.");
    format!(
        "UPDATE notification_outbox o SET lease_until = $2, attempts = o.attempts + 1 FROM ( \
           SELECT n.user_id, n.seq FROM notification_outbox n WHERE {due} \
           ORDER BY n.next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) due \
         WHERE o.user_id = due.user_id AND o.seq = due.seq RETURNING {returned}",
        due = due("seq")
    )
});

crate::outbox::notification_outbox!(PgStore, sqlx::Postgres, lease: LEASE.as_str(), seq: "seq");

/// Writes a batch's `notices` in the caller's transaction, in one statement.
pub(super) async fn insert_notices(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    notices: &[Notice],
) -> Result<(), StoreError> {
    if notices.is_empty() {
        return Ok(());
    }
    let column = |pick: fn(&Notice) -> &str| notices.iter().map(pick).collect::<Vec<_>>();
    let times: Vec<_> = notices.iter().map(|n| n.created_at).collect();
    sqlx::query(
        "INSERT INTO notification_outbox (id, user_id, kind, body, created_at, next_attempt_at) \
         SELECT id, uid, kind, body, at, at \
         FROM UNNEST($1::varchar[], $2::varchar[], $3::varchar[], $4::text[], $5::timestamptz[]) \
           AS t(id, uid, kind, body, at) \
         ON CONFLICT (user_id, id) DO NOTHING",
    )
    .bind(column(|n| &n.id))
    .bind(column(|n| &n.user_id))
    .bind(column(|n| n.kind))
    .bind(column(|n| &n.body))
    .bind(times)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes `notice` in the caller's transaction.
pub(super) async fn insert_notice(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    notice: &Notice,
) -> Result<(), StoreError> {
    sqlx::query(INSERT)
        .bind(&notice.id)
        .bind(&notice.user_id)
        .bind(notice.kind)
        .bind(&notice.body)
        .bind(notice.created_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
