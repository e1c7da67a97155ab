//! The claim ledger written once for both backends: the statements' text, with `$N`
//! placeholders (both drivers bind `$N` by number), and the code that binds and decodes them,
//! compiled for each backend's driver by [`claim_ledger!`]. What differs between PostgreSQL and
//! SQLite is a backend's own hook, in its `claims.rs`:
//! - `begin_write`: a transaction that may write (SQLite takes the single write lock up front);
//! - `claim_row`: the progress row's status and whether the deleted players' ledger holds the
//!   reward (PostgreSQL locks the row `FOR UPDATE`, in one round trip);
//! - `finish`: an outcome and a grant's claimed row (PostgreSQL: one statement);
//! - `record_in_ledger`: GDPR deletion's keyed hashes (PostgreSQL: one `UNNEST` statement);
//! - the lease statement (PostgreSQL: `FOR UPDATE SKIP LOCKED`), passed to the macro.

/// The intent columns, in the order every statement returns them.
pub(crate) const INTENT_COLUMNS: &str = "user_id, goal_id, period_start, namespace, state, delivery, reward, \
     transaction_id, period_end, attempts, last_error, created_at, updated_at, lease_until, next_attempt_at, \
     parts_granted, challenge_id";

/// An intent's key, as `$1`, `$2`, `$3`.
pub(crate) const KEY: &str = "user_id = $1 AND goal_id = $2 AND period_start = $3";

/// Records an intent, or starts again one Platform refused (`EXCLUDED` is the row offered). A
/// bundle some of whose parts were granted keeps its recorded rewards and delivery: only the
/// parts left are sent.
pub(crate) static START: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO reward_grants (user_id, goal_id, period_start, namespace, state, delivery, \
           reward, transaction_id, period_end, attempts, created_at, updated_at, lease_until, next_attempt_at, \
           challenge_id) \
         VALUES ($1, $2, $3, $4, $11, $5, $6, $7, $8, $12, $9, $9, $10, $10, $13) \
         ON CONFLICT (user_id, goal_id, period_start) DO UPDATE SET state = EXCLUDED.state, \
           attempts = reward_grants.attempts + EXCLUDED.attempts, \
           namespace = EXCLUDED.namespace, challenge_id = EXCLUDED.challenge_id, \
           delivery = CASE WHEN reward_grants.parts_granted > 0 THEN reward_grants.delivery ELSE EXCLUDED.delivery END, \
           reward = CASE WHEN reward_grants.parts_granted > 0 THEN reward_grants.reward ELSE EXCLUDED.reward END, \
           transaction_id = EXCLUDED.transaction_id, period_end = EXCLUDED.period_end, \
           last_error = NULL, updated_at = EXCLUDED.updated_at, \
           lease_until = EXCLUDED.lease_until, next_attempt_at = EXCLUDED.next_attempt_at \
         WHERE reward_grants.state = 'refused' RETURNING {INTENT_COLUMNS}"
    )
});

/// A request about to be sent. A direct delivery already `sending` may have arrived: it is
/// never sent again.
pub(crate) static MARK_SENDING: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "UPDATE reward_grants SET state = 'sending', attempts = attempts + 1, \
           lease_until = $4, updated_at = $5 \
         WHERE {KEY} AND (state = 'pending' OR (state = 'sending' AND delivery <> 'direct')) \
         RETURNING {INTENT_COLUMNS}"
    )
});

/// A part of a bundle granted, more left: back to `pending` for the next (`$4` the parts
/// granted now, `$5` now).
pub(crate) static PART_GRANTED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "UPDATE reward_grants SET parts_granted = $4, state = 'pending', last_error = NULL, \
           next_attempt_at = $5, updated_at = $5 \
         WHERE {KEY} AND state IN ('sending', 'unknown') AND parts_granted = $4 - 1 \
         RETURNING {INTENT_COLUMNS}"
    )
});

/// What `claim_row` answers: the progress row's status (none: no row), and whether the ledger
/// of deleted players' rewards holds the reward.
pub(crate) type ClaimRow = Result<(Option<String>, bool), crate::StoreError>;

/// An outcome for `finish` to record: `only_from` narrows the states it may leave.
pub(crate) struct Finish<'a> {
    pub key: &'a crate::claims::IntentKey,
    pub outcome: &'a crate::claims::IntentOutcome,
    pub only_from: Option<&'a [&'a str]>,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Implements `ClaimLedger` for `$store` over `$db` (`sqlx::Postgres` or `sqlx::Sqlite`), whose
/// due intents are leased by the statement `$lease` (`$1` now, `$2` the lease's end, `$3` how
/// many), and whose deletion reads a player's intents with `$lock` appended (PostgreSQL:
/// `FOR UPDATE`). Also defines the module's `decode_intent` and `bind_outcome`, and
/// `move_intents_to_ledger` over the backend's `record_in_ledger(tx, keys, states, now)`.
macro_rules! claim_ledger {
    ($store:ty, $db:ty, lease: $lease:expr, lock: $lock:literal) => {
        use sqlx::Row as _;

        /// Binds an outcome's first seven parameters: the intent's key (`$1`–`$3`), then its
        /// state, error, next attempt and `now` (`$4`–`$7`).
        fn bind_outcome<'q>(
            query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
            key: &'q $crate::claims::IntentKey,
            columns: &$crate::claims::OutcomeColumns<'q>,
            now: chrono::DateTime<chrono::Utc>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            query
                .bind(key.user_id.as_str())
                .bind(key.goal_id.as_str())
                .bind(key.period_start)
                .bind(columns.state)
                .bind(columns.error)
                .bind(columns.next_attempt_at)
                .bind(now)
        }

        impl $store {
            /// Inside `delete_user`'s transaction: what was (or may have been) granted goes to
            /// the ledger as a keyed hash; then the user's intents go. (`pending` was never sent,
            /// since sending is recorded first, and `refused` frees the goal; but a bundle some
            /// of whose parts were granted is kept whatever its state, or a claim after the
            /// player comes back would send those parts again.)
            pub(super) async fn move_intents_to_ledger(
                &self,
                tx: &mut sqlx::Transaction<'_, $db>,
                user_id: &engine::UserId,
                secret: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                let intents: Vec<(String, chrono::DateTime<chrono::Utc>, String, String)> =
                    sqlx::query_as(concat!(
                        "SELECT goal_id, period_start, namespace, state FROM reward_grants \
                         WHERE user_id = $1 \
                           AND (state IN ('sending', 'granted', 'unknown') OR parts_granted > 0)",
                        $lock
                    ))
                    .bind(user_id.as_str())
                    .fetch_all(&mut **tx)
                    .await?;
                let mut keys = Vec::with_capacity(intents.len());
                let mut states = Vec::with_capacity(intents.len());
                for (goal_id, period_start, namespace, state) in intents {
                    let key = $crate::claims::IntentKey {
                        user_id: user_id.clone(),
                        goal_id: engine::GoalId::new(goal_id),
                        period_start,
                    };
                    keys.push($crate::claims::ledger_key(secret, &namespace, &key));
                    states.push(state);
                }
                record_in_ledger(tx, &keys, &states, now).await?;
                sqlx::query("DELETE FROM reward_grants WHERE user_id = $1")
                    .bind(user_id.as_str())
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            /// The ledger's HMAC secret: generated and stored once, on first use.
            pub(super) async fn ledger_secret(&self) -> Result<String, $crate::StoreError> {
                self.common.ledger_secret
                    .get_or_try_init(|| async {
                        sqlx::query(
                            "INSERT INTO reward_ledger_secret (id, secret) VALUES (1, $1) \
                             ON CONFLICT (id) DO NOTHING",
                        )
                        .bind($crate::claims::new_ledger_secret()?)
                        .execute(&self.pool)
                        .await?;
                        let secret: String = sqlx::query_scalar(
                            "SELECT secret FROM reward_ledger_secret WHERE id = 1",
                        )
                        .fetch_one(&self.pool)
                        .await?;
                        Ok(secret)
                    })
                    .await
                    .cloned()
            }
        }

        fn decode_intent(
            row: &<$db as sqlx::Database>::Row,
        ) -> Result<$crate::claims::RewardIntent, sqlx::Error> {
            use $crate::claims::{Delivery, IntentKey, IntentState, RewardIntent};
            let state: String = row.try_get("state")?;
            let delivery: String = row.try_get("delivery")?;
            Ok(RewardIntent {
                key: IntentKey {
                    user_id: engine::UserId::new(row.try_get::<String, _>("user_id")?),
                    goal_id: engine::GoalId::new(row.try_get::<String, _>("goal_id")?),
                    period_start: row.try_get("period_start")?,
                },
                namespace: row.try_get("namespace")?,
                state: IntentState::parse(&state).ok_or_else(|| {
                    sqlx::Error::Decode(format!("unknown intent state `{state}`").into())
                })?,
                delivery: Delivery::parse(&delivery).ok_or_else(|| {
                    sqlx::Error::Decode(format!("unknown delivery `{delivery}`").into())
                })?,
                reward: row.try_get("reward")?,
                transaction_id: row.try_get("transaction_id")?,
                period_end: row.try_get("period_end")?,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                lease_until: row.try_get("lease_until")?,
                next_attempt_at: row.try_get("next_attempt_at")?,
                parts_granted: row.try_get("parts_granted")?,
                challenge_id: row.try_get("challenge_id")?,
            })
        }

        fn decode_intents(
            rows: &[<$db as sqlx::Database>::Row],
        ) -> Result<Vec<$crate::claims::RewardIntent>, $crate::StoreError> {
            rows.iter()
                .map(decode_intent)
                .collect::<Result<_, _>>()
                .map_err($crate::StoreError::from)
        }

        #[async_trait::async_trait]
        impl $crate::ClaimLedger for $store {
            async fn begin_claim(
                &self,
                intent: &$crate::claims::NewIntent,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::claims::ClaimStart, $crate::StoreError> {
                use $crate::claims::ClaimStart;
                let user = &intent.key.user_id;
                self.common.probe
                    .wrote("begin_claim", user, async move {
                        let secret = self.ledger_secret().await?;
                        let key = &intent.key;
                        let ledger_key = $crate::claims::ledger_key(&secret, &intent.namespace, key);
                        let (first_state, first_attempts) = intent.first_state();
                        let mut tx = self.begin_write().await?;
                        // The progress row first: the lock order of every claim transaction.
                        let (status, in_ledger) = self.claim_row(&mut tx, key, &ledger_key).await?;
                        if let Some(refused) = ClaimStart::refused_by_row(status.as_deref()) {
                            return Ok(refused);
                        }
                        if in_ledger {
                            return Ok(ClaimStart::AlreadyClaimed);
                        }
                        let started = sqlx::query($crate::ledger::START.as_str())
                            .bind(key.user_id.as_str())
                            .bind(key.goal_id.as_str())
                            .bind(key.period_start)
                            .bind(&intent.namespace)
                            .bind(intent.delivery.as_str())
                            .bind(&intent.reward)
                            .bind(intent.transaction_id())
                            .bind(intent.period_end)
                            .bind(now)
                            .bind(intent.lease_until)
                            .bind(first_state)
                            .bind(first_attempts)
                            .bind(&intent.challenge_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let outcome = match started {
                            Some(row) => {
                                if let Some(entry) = &intent.audit {
                                    super::audit::insert_entry(&mut tx, entry).await?;
                                }
                                ClaimStart::Started(Box::new(decode_intent(&row)?))
                            }
                            None => {
                                let sql = format!(
                                    "SELECT state FROM reward_grants WHERE {}",
                                    $crate::ledger::KEY
                                );
                                let state: Option<String> =
                                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                                        .bind(key.user_id.as_str())
                                        .bind(key.goal_id.as_str())
                                        .bind(key.period_start)
                                        .fetch_optional(&mut *tx)
                                        .await?;
                                ClaimStart::blocked_by(state.as_deref())
                            }
                        };
                        tx.commit().await?;
                        Ok(outcome)
                    })
                    .await
            }

            async fn mark_sending(
                &self,
                key: &$crate::claims::IntentKey,
                lease_until: chrono::DateTime<chrono::Utc>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::claims::RewardIntent>, $crate::StoreError> {
                self.common.probe
                    .timed("mark_sending", async move {
                        let row = sqlx::query($crate::ledger::MARK_SENDING.as_str())
                            .bind(key.user_id.as_str())
                            .bind(key.goal_id.as_str())
                            .bind(key.period_start)
                            .bind(lease_until)
                            .bind(now)
                            .fetch_optional(&self.pool)
                            .await?;
                        Ok(row.as_ref().map(decode_intent).transpose()?)
                    })
                    .await
            }

            async fn finish_intent(
                &self,
                key: &$crate::claims::IntentKey,
                outcome: &$crate::claims::IntentOutcome,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::claims::RewardIntent>, $crate::StoreError> {
                let finish = self.finish($crate::ledger::Finish {
                    key,
                    outcome,
                    only_from: None,
                    now,
                });
                self.common.probe.wrote("finish_intent", &key.user_id, finish).await
            }

            async fn part_granted(
                &self,
                key: &$crate::claims::IntentKey,
                parts_granted: i32,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::claims::RewardIntent>, $crate::StoreError> {
                self.common.probe
                    .wrote("part_granted", &key.user_id, async move {
                        let mut tx = self.begin_write().await?;
                        let row = sqlx::query($crate::ledger::PART_GRANTED.as_str())
                            .bind(key.user_id.as_str())
                            .bind(key.goal_id.as_str())
                            .bind(key.period_start)
                            .bind(parts_granted)
                            .bind(now)
                            .fetch_optional(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        Ok(row.as_ref().map(decode_intent).transpose()?)
                    })
                    .await
            }

            async fn resolve_intent(
                &self,
                key: &$crate::claims::IntentKey,
                granted: bool,
                note: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::claims::RewardIntent>, $crate::StoreError> {
                let outcome = $crate::claims::IntentOutcome::resolved(granted, note, now);
                let finish = self.finish($crate::ledger::Finish {
                    key,
                    outcome: &outcome,
                    only_from: Some(&["unknown"]),
                    now,
                });
                self.common.probe.wrote("resolve_intent", &key.user_id, finish).await
            }

            async fn lease_intents(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<Vec<$crate::claims::RewardIntent>, $crate::StoreError> {
                self.common.probe
                    .timed("lease_intents", async move {
                        let rows = sqlx::query(sqlx::AssertSqlSafe($lease))
                            .bind(now)
                            .bind(lease_until)
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await?;
                        decode_intents(&rows)
                    })
                    .await
            }

            async fn intent(
                &self,
                key: &$crate::claims::IntentKey,
            ) -> Result<Option<$crate::claims::RewardIntent>, $crate::StoreError> {
                self.common.probe
                    .timed("intent", async move {
                        let sql = format!(
                            "SELECT {} FROM reward_grants WHERE {}",
                            $crate::ledger::INTENT_COLUMNS,
                            $crate::ledger::KEY
                        );
                        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(key.user_id.as_str())
                            .bind(key.goal_id.as_str())
                            .bind(key.period_start)
                            .fetch_optional(&self.pool)
                            .await?;
                        Ok(row.as_ref().map(decode_intent).transpose()?)
                    })
                    .await
            }

            async fn list_intents(
                &self,
                state: Option<$crate::claims::IntentState>,
                limit: i64,
            ) -> Result<Vec<$crate::claims::RewardIntent>, $crate::StoreError> {
                self.common.probe
                    .timed("list_intents", async move {
                        let sql = format!(
                            "SELECT {} FROM reward_grants \
                             WHERE (CAST($1 AS VARCHAR) IS NULL OR state = $1) \
                             ORDER BY updated_at, user_id, goal_id LIMIT $2",
                            $crate::ledger::INTENT_COLUMNS
                        );
                        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(state.map($crate::claims::IntentState::as_str))
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await?;
                        decode_intents(&rows)
                    })
                    .await
            }

            async fn player_intents(
                &self,
                user_id: &engine::UserId,
                limit: i64,
            ) -> Result<Vec<$crate::claims::RewardIntent>, $crate::StoreError> {
                self.common.probe
                    .timed("player_intents", async move {
                        let sql = format!(
                            "SELECT {} FROM reward_grants WHERE user_id = $1 \
                             ORDER BY created_at DESC, goal_id LIMIT $2",
                            $crate::ledger::INTENT_COLUMNS
                        );
                        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(user_id.as_str())
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await?;
                        decode_intents(&rows)
                    })
                    .await
            }

            async fn intent_counts(
                &self,
            ) -> Result<Vec<($crate::claims::IntentState, i64)>, $crate::StoreError> {
                self.common.probe
                    .timed("intent_counts", async move {
                        let rows: Vec<(String, i64)> = sqlx::query_as(
                            "SELECT state, count(*) FROM reward_grants \
                             WHERE state IN ('pending', 'sending', 'unknown') GROUP BY state",
                        )
                        .fetch_all(&self.pool)
                        .await?;
                        Ok(rows
                            .into_iter()
                            .filter_map(|(state, count)| {
                                Some(($crate::claims::IntentState::parse(&state)?, count))
                            })
                            .collect())
                    })
                    .await
            }

            async fn expedite_intents(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, $crate::StoreError> {
                self.common.probe
                    .timed("expedite_intents", async move {
                        let done = sqlx::query(
                            "UPDATE reward_grants SET next_attempt_at = $1 \
                             WHERE state IN ('pending', 'sending') AND next_attempt_at > $1 \
                               AND (lease_until IS NULL OR lease_until < $1)",
                        )
                        .bind(now)
                        .execute(&self.pool)
                        .await?;
                        Ok(done.rows_affected())
                    })
                    .await
            }
        }
    };
}

pub(crate) use claim_ledger;
