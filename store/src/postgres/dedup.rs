//! The batch's dedup step on PostgreSQL (the key and the legacy table: `crate::dedup`).

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::{PendingEvent, StoreError};

/// Records the candidates as applied and answers those that were not before: new in
/// `applied_events` (keyed by user, id and sent time) and, while the legacy table may hold
/// rows, absent from `processed_events` (matched by user and id).
pub(super) async fn record_applied<'a>(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    candidates: &[&'a PendingEvent],
    legacy: &crate::dedup::Legacy,
    now: DateTime<Utc>,
) -> Result<HashSet<(&'a str, &'a str, DateTime<Utc>)>, StoreError> {
    let keys: Vec<_> = candidates.iter().map(|p| crate::dedup::key(p)).collect();
    let users: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let times: Vec<DateTime<Utc>> = keys.iter().map(|k| k.2).collect();
    let live = legacy
        .live(|| sqlx::query_scalar(crate::dedup::HAS_ROWS).fetch_one(&mut **tx))
        .await?;
    let before: HashSet<(String, String)> = if live {
        sqlx::query_as(
            "SELECT p.user_id, p.event_id FROM processed_events p \
             JOIN UNNEST($1::varchar[], $2::varchar[]) AS t(uid, id) \
               ON p.event_id = t.id AND p.user_id = t.uid",
        )
        .bind(&users)
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .collect()
    } else {
        HashSet::new()
    };
    // In key order: two writers given the same events (a redelivery to another handler) in
    // different orders would otherwise each wait on a key the other inserted first: a deadlock.
    let inserted: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "INSERT INTO applied_events (user_id, event_id, event_time, processed_at) \
         SELECT uid, id, t, $4 FROM UNNEST($1::varchar[], $2::varchar[], $3::timestamptz[]) \
           AS x(uid, id, t) ORDER BY uid, id, t \
         ON CONFLICT DO NOTHING RETURNING user_id, event_id, event_time",
    )
    .bind(&users)
    .bind(&ids)
    .bind(&times)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    // Which candidates the inserted rows are (looked up borrowed: nothing allocated per event).
    let index: std::collections::HashMap<(&str, &str, DateTime<Utc>), usize> =
        keys.iter().enumerate().map(|(n, key)| (*key, n)).collect();
    let mut new = vec![false; keys.len()];
    for (user, id, at) in &inserted {
        if let Some(&n) = index.get(&(user.as_str(), id.as_str(), *at)) {
            new[n] = true;
        }
    }
    let before: HashSet<(&str, &str)> = before
        .iter()
        .map(|(user, id)| (user.as_str(), id.as_str()))
        .collect();
    Ok(keys
        .iter()
        .zip(new)
        .filter(|(key, new)| *new && !before.contains(&(key.0, key.1)))
        .map(|(key, _)| *key)
        .collect())
}
