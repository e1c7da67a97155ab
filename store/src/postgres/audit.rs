//! PostgreSQL's `SupportLog` (store/src/audit.rs). Its hook: the transaction that pseudonymizes
//! a deleted player's entries tells the log's trigger so.

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::StoreError;

crate::audit::support_log!(PgStore, sqlx::Postgres, lock: " FOR UPDATE");

/// Makes sure the month (UTC) of `at` has its partition before an entry of it is written:
/// the cleanup job creates them ahead, this covers a process that has not run it yet (one
/// cheap lookup when the month is there).
async fn month_of(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("SELECT audit_log_month($1)")
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Opens `audit_log` to the pseudonymizing update for the rest of this transaction (its
/// trigger refuses every other update and every delete).
async fn allow_pseudonymizing(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
) -> Result<(), StoreError> {
    sqlx::query("SELECT set_config('challenge.audit_pseudonymize', 'on', true)")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl PgStore {
    /// The audit log's retention (`Maintenance::prune_audit_log`): this month's partition and
    /// the next two's made sure of, then every month that ended before `before` dropped whole,
    /// under one advisory lock so replicas do not both record a month. The default partition
    /// (entries of a month that had none) is never dropped.
    pub(super) async fn forget_audit_months(
        &self,
        now: DateTime<Utc>,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        for ahead in 0..3 {
            let month = now
                .checked_add_months(chrono::Months::new(ahead))
                .unwrap_or(now);
            sqlx::query("SELECT audit_log_month($1)")
                .bind(month)
                .execute(&self.pool)
                .await?;
        }
        let cutoff = crate::audit::month_start(before);
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('audit_log retention', 0))")
            .execute(&mut *tx)
            .await?;
        let partitions: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'audit_log'::regclass AND c.relname ~ '^audit_log_p[0-9]{6}$' \
             ORDER BY c.relname",
        )
        .fetch_all(&mut *tx)
        .await?;
        let (mut months, mut entries) = (Vec::new(), 0u64);
        for name in partitions {
            let Some(end) = month_end(&name) else {
                continue;
            };
            if end > cutoff {
                break;
            }
            let sql = format!("SELECT count(*) FROM {name}");
            let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {name}")))
                .execute(&mut *tx)
                .await?;
            months.push(format!("{}-{}", &name[11..15], &name[15..17]));
            entries += u64::try_from(count).unwrap_or(0);
        }
        if !months.is_empty() {
            let entry = crate::audit::retention_entry(now, before, &months, entries)?;
            insert_entry(&mut tx, &entry).await?;
        }
        tx.commit().await?;
        Ok(entries)
    }
}

/// The end of the month an `audit_log_pYYYYMM` partition holds (`None`: not such a name).
fn month_end(name: &str) -> Option<DateTime<Utc>> {
    use chrono::TimeZone;
    let digits = name.strip_prefix("audit_log_p")?;
    let (year, month) = (
        digits.get(..4)?.parse().ok()?,
        digits.get(4..)?.parse().ok()?,
    );
    let start = Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single()?;
    start.checked_add_months(chrono::Months::new(1))
}
