//! Delivering reward intents: the attempts of one delivery under an overall deadline (a
//! claim's, detached from its HTTP request, or a reconciler's), and the reconciler that leases
//! the intents a crash, a hang-up or a slow Platform left open, on any number of replicas.
//!
//! The rules that keep a reward at most once: `sending` is recorded before every request; a
//! direct (non-idempotent) request that may have arrived is never sent again: it becomes
//! `unknown` for an operator; an idempotent fulfillment is re-sent with the same transaction id
//! until Platform answers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use pipeline::config::ConfigError;
use store::claims::backoff;
use store::{Delivery, IntentOutcome, IntentState, RewardIntent, StoreError};

use super::Context;
use super::rewards::{Part, rewards_from_record};
use crate::rewards::{GrantOutcome, GrantRequest};

/// Deadlines and leases of reward delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimSettings {
    /// Overall deadline of one delivery, all its attempts included (`CLAIM_DEADLINE_SECONDS`).
    pub deadline: Duration,
    /// How long a claim or a reconciler owns an intent (`RECONCILE_STUCK_AFTER_SECONDS`): an
    /// intent whose owner went away is taken over after it. Well above `deadline`.
    pub lease: Duration,
    /// How often the reconciler looks for open intents (`RECONCILE_INTERVAL_SECONDS`).
    pub reconcile_every: Duration,
    /// First wait before an undelivered intent is tried again, doubling per attempt up to an
    /// hour (`RECONCILE_BACKOFF_SECONDS`).
    pub backoff: Duration,
    /// Most intents one reconciler delivers at once (`RECONCILE_CONCURRENCY`).
    pub in_flight: usize,
}

impl Default for ClaimSettings {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            reconcile_every: Duration::from_secs(30),
            backoff: Duration::from_secs(30),
            in_flight: 32,
        }
    }
}

impl ClaimSettings {
    /// Checks the settings hang together, naming the variables.
    pub fn checked(self) -> Result<Self, ConfigError> {
        if self.in_flight == 0 {
            return Err(ConfigError::TooSmall {
                setting: "RECONCILE_CONCURRENCY",
                min: 1,
                why: None,
            });
        }
        for (setting, value) in [
            ("CLAIM_DEADLINE_SECONDS", self.deadline),
            ("RECONCILE_INTERVAL_SECONDS", self.reconcile_every),
        ] {
            if value.is_zero() {
                return Err(ConfigError::TooSmall {
                    setting,
                    min: 1,
                    why: None,
                });
            }
        }
        if self.lease < self.deadline * 2 {
            return Err(ConfigError::Invalid {
                setting: "RECONCILE_STUCK_AFTER_SECONDS",
                reason: format!(
                    "{} must be at least twice CLAIM_DEADLINE_SECONDS ({}): a reconciler must never \
                     take over a claim that is still running",
                    self.lease.as_secs(),
                    self.deadline.as_secs()
                ),
            });
        }
        Ok(self)
    }

    /// The end of a lease taken at `now`.
    pub fn lease_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::TimeDelta::from_std(self.lease).unwrap_or(chrono::TimeDelta::minutes(1))
    }
}

/// How a delivery ended, for the player's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Granted {
        claimed_at: DateTime<Utc>,
    },
    /// Platform refused: the goal is claimable again.
    Refused(String),
    /// Not finished yet: a reconciler goes on (or an operator decides an unknown outcome).
    Pending,
}

/// How the caller came to own the intent it delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owned {
    /// Just recorded by a claim: a fulfillment is already `sending`, its first attempt counted.
    Claimed,
    /// Leased by a reconciler: every attempt is marked `sending` first.
    Leased,
}

/// Delivers `intent` (leased by the caller) until Platform answers, the deadline passes, or
/// the intent turns out closed or owned elsewhere.
pub async fn deliver(
    ctx: &Context,
    intent: &RewardIntent,
    owned: Owned,
) -> Result<Delivered, StoreError> {
    let key = &intent.key;
    let rewards = rewards_from_record(&intent.reward);
    if rewards.is_empty() || intent.delivery == Delivery::None {
        // A goal without reward: only the row is marked.
        let now = ctx.clock.now();
        let outcome = IntentOutcome::Granted { claimed_at: now };
        ctx.ledger.finish_intent(key, &outcome, now).await?;
        return Ok(Delivered::Granted { claimed_at: now });
    }
    let deadline = tokio::time::Instant::now() + ctx.claims.deadline;
    let mut pause = Duration::from_millis(100);
    // A claim's fulfillment was recorded `sending` with its first attempt: it goes out as is.
    let mut recorded =
        (owned == Owned::Claimed && intent.state == IntentState::Sending).then(|| intent.clone());
    loop {
        let now = ctx.clock.now();
        let marked = match recorded.take() {
            Some(sending) => Some(sending),
            None => {
                ctx.ledger
                    .mark_sending(key, ctx.claims.lease_from(now), now)
                    .await?
            }
        };
        let Some(sending) = marked else {
            // Closed meanwhile, or a direct request that may have arrived: never sent again.
            return Ok(match ctx.ledger.intent(key).await? {
                Some(found) if found.state == IntentState::Granted => Delivered::Granted {
                    claimed_at: found.updated_at,
                },
                Some(found) if found.state == IntentState::Refused => {
                    Delivered::Refused(found.last_error.unwrap_or_default())
                }
                _ => Delivered::Pending,
            });
        };
        let part = Part::of(&sending, &rewards);
        let request = GrantRequest {
            user_id: key.user_id.clone(),
            namespace: sending.namespace.clone(),
            rewards: part.sent.to_vec(),
            transaction_id: sending.transaction_id.clone(),
            delivery: sending.delivery,
        };
        let outcome = tokio::time::timeout_at(deadline, ctx.rewards.send(&request))
            .await
            .unwrap_or_else(|_| {
                GrantOutcome::Unknown(format!(
                    "no answer within the claim deadline of {} s",
                    ctx.claims.deadline.as_secs()
                ))
            });
        let now = ctx.clock.now();
        let counted = |outcome: &str| {
            ctx.metrics
                .reward_grants
                .with_label_values(&[outcome])
                .inc();
        };
        // Whether the request may have arrived (it stays `sending`) or definitely did not
        // (back to `pending`), for the outcomes that are tried again.
        let (error, reached) = match outcome {
            GrantOutcome::Granted if part.more => {
                counted("granted");
                let next = part.index + 1;
                if ctx.ledger.part_granted(key, next, now).await?.is_none() {
                    // Changed meanwhile (an operator's decision): never send the next part on
                    // a record that does not say this one went.
                    tracing::error!(user_id = %key.user_id, goal_id = %key.goal_id, transaction_id = %sending.transaction_id, part = next, "a bundle part was granted but the intent changed meanwhile; the rest waits for an operator");
                    return Ok(Delivered::Pending);
                }
                tracing::info!(user_id = %key.user_id, goal_id = %key.goal_id, transaction_id = %sending.transaction_id, part = next, parts = rewards.len(), "part of a reward bundle granted; the next part follows");
                pause = Duration::from_millis(100);
                continue;
            }
            GrantOutcome::Granted => {
                counted("granted");
                let claimed_at = now;
                let granted = IntentOutcome::Granted { claimed_at };
                ctx.ledger.finish_intent(key, &granted, now).await?;
                ctx.expedite.after_grant(ctx, now).await;
                return Ok(Delivered::Granted { claimed_at });
            }
            GrantOutcome::Refused(error) => {
                let error = part.said(error);
                counted("refused");
                tracing::warn!(user_id = %key.user_id, goal_id = %key.goal_id, transaction_id = %sending.transaction_id, %error, "Platform refused the reward; the goal is claimable again");
                let refused = IntentOutcome::Refused {
                    error: error.clone(),
                };
                ctx.ledger.finish_intent(key, &refused, now).await?;
                return Ok(Delivered::Refused(error));
            }
            GrantOutcome::Operator(error) => {
                let error = part.said(error);
                counted("unknown");
                tracing::error!(user_id = %key.user_id, goal_id = %key.goal_id, transaction_id = %sending.transaction_id, %error, "a reward cannot be delivered as it was recorded; it is never re-sent: resolve it with `service claims`");
                let unknown = IntentOutcome::Unknown { error };
                ctx.ledger.finish_intent(key, &unknown, now).await?;
                return Ok(Delivered::Pending);
            }
            GrantOutcome::Unknown(error) if !sending.delivery.idempotent() => {
                let error = part.said(error);
                counted("unknown");
                tracing::error!(user_id = %key.user_id, goal_id = %key.goal_id, transaction_id = %sending.transaction_id, %error, "a direct reward grant may or may not have been applied; it is never re-sent: resolve it with `service claims`");
                let unknown = IntentOutcome::Unknown { error };
                ctx.ledger.finish_intent(key, &unknown, now).await?;
                return Ok(Delivered::Pending);
            }
            GrantOutcome::Unknown(error) => (part.said(error), true),
            GrantOutcome::NotSent(error) => (part.said(error), false),
        };
        counted("retry");
        let again_now = tokio::time::Instant::now() + pause < deadline;
        let retry_at = (!again_now).then(|| retry_at(&sending, ctx.claims.backoff, now));
        tracing::warn!(user_id = %key.user_id, goal_id = %key.goal_id, transaction_id = %sending.transaction_id, attempt = sending.attempts, %error, retry_at = ?retry_at, "reward not delivered yet");
        let retry = IntentOutcome::Retry {
            error,
            reached,
            retry_at,
        };
        ctx.ledger.finish_intent(key, &retry, now).await?;
        if !again_now {
            return Ok(Delivered::Pending);
        }
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
}

/// Cuts the others' backoff short when Platform grants again: after an outage, the intents it
/// left waiting become due at once (on every replica: it is a database update), instead of each
/// waiting out its own backoff of up to an hour. At most once per [`Expedite::EVERY`] per
/// process, so an intent that keeps failing alone is not retried at every other grant.
#[derive(Debug, Default)]
pub struct Expedite {
    last: std::sync::Mutex<Option<tokio::time::Instant>>,
    /// Wakes this process's reconciler when intents were made due.
    wake: tokio::sync::Notify,
}

impl Expedite {
    pub const EVERY: Duration = Duration::from_secs(30);

    async fn after_grant(&self, ctx: &Context, now: DateTime<Utc>) {
        {
            let mut last = self
                .last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < Self::EVERY) {
                return;
            }
            *last = Some(tokio::time::Instant::now());
        }
        match ctx.ledger.expedite_intents(now).await {
            Ok(0) => {}
            Ok(moved) => {
                tracing::info!(
                    intents = moved,
                    "Platform grants again: rewards waiting for their retry are due now"
                );
                self.wake.notify_one();
            }
            Err(err) => tracing::warn!(error = %err, "expediting reward intents"),
        }
    }
}

/// When an undelivered intent is tried next: the backoff doubling per attempt (up to an hour),
/// but never later than the intent has already been failing (and never sooner than the base).
/// A claim makes several quick attempts within its deadline; counting them alone put a reward
/// that failed for seven seconds an hour away.
fn retry_at(intent: &RewardIntent, base: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    let doubled = backoff(intent.attempts, base, now);
    let failing_for = (now - intent.created_at).max(chrono::TimeDelta::zero());
    let base = chrono::TimeDelta::from_std(base).unwrap_or(chrono::TimeDelta::seconds(30));
    doubled.min(now + failing_for.max(base))
}

/// What a reconciler pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// Intents it leased (as many as it asked for: more may be due).
    pub leased: usize,
    pub granted: usize,
    pub refused: usize,
    pub unknown: usize,
    pub still_pending: usize,
}

/// Leases up to `limit` open intents that are due (their owner went away, or their backoff
/// passed) and delivers them concurrently.
pub async fn reconcile(ctx: &Context, limit: i64) -> Result<Reconciled, StoreError> {
    let now = ctx.clock.now();
    let leased = ctx
        .ledger
        .lease_intents(now, ctx.claims.lease_from(now), limit)
        .await?;
    let mut report = Reconciled {
        leased: leased.len(),
        ..Reconciled::default()
    };
    let mut running = tokio::task::JoinSet::new();
    for intent in leased {
        if intent.state == IntentState::Sending && !intent.delivery.idempotent() {
            // Its owner sent a direct request and went away before the answer was recorded.
            ctx.metrics
                .reward_grants
                .with_label_values(&["unknown"])
                .inc();
            let unknown = IntentOutcome::Unknown {
                error: "a direct grant may have reached Platform but its answer was lost (the claim's process stopped or ran out of time)".into(),
            };
            ctx.ledger.finish_intent(&intent.key, &unknown, now).await?;
            tracing::error!(user_id = %intent.key.user_id, goal_id = %intent.key.goal_id, transaction_id = %intent.transaction_id, "a direct reward grant's outcome is unknown; resolve it with `service claims`");
            report.unknown += 1;
            continue;
        }
        let ctx = ctx.clone();
        running.spawn(async move { deliver(&ctx, &intent, Owned::Leased).await });
    }
    while let Some(done) = running.join_next().await {
        match done {
            Ok(Ok(Delivered::Granted { .. })) => report.granted += 1,
            Ok(Ok(Delivered::Refused(_))) => report.refused += 1,
            Ok(Ok(Delivered::Pending)) => report.still_pending += 1,
            Ok(Err(err)) => tracing::warn!(error = %err, "reconciling a reward intent"),
            Err(err) => tracing::error!(error = %err, "a reconciler task failed"),
        }
    }
    Ok(report)
}

/// Refreshes `challenge_reward_intents` from the store.
async fn count_intents(ctx: &Context) -> Result<(), StoreError> {
    for (state, count) in ctx.ledger.intent_counts().await? {
        ctx.metrics
            .reward_intents
            .with_label_values(&[state.as_str()])
            .set(count);
    }
    Ok(())
}

/// Works the open intents until `stopped`: pass after pass, `RECONCILE_CONCURRENCY` at a
/// time, while passes find as many as they ask for (a Platform outage left a backlog); then
/// every `reconcile_every`. Replicas share the work: each leases its own.
pub async fn reconcile_loop(ctx: Context, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let limit = i64::try_from(ctx.claims.in_flight).unwrap_or(i64::MAX);
    let mut drained = Reconciled::default();
    loop {
        let more = match reconcile(&ctx, limit).await {
            Ok(pass) => {
                drained.granted += pass.granted;
                drained.refused += pass.refused;
                drained.unknown += pass.unknown;
                drained.still_pending = pass.still_pending;
                pass.leased as i64 >= limit
            }
            Err(err) => {
                tracing::warn!(
                    error = &err as &(dyn std::error::Error + 'static),
                    "reconciling reward intents"
                );
                false
            }
        };
        if more && !*stopped.borrow() {
            continue;
        }
        if drained != Reconciled::default() {
            tracing::info!(
                granted = drained.granted,
                refused = drained.refused,
                unknown = drained.unknown,
                still_pending = drained.still_pending,
                "reconciled reward intents"
            );
            drained = Reconciled::default();
        }
        if let Err(err) = count_intents(&ctx).await {
            tracing::warn!(error = %err, "counting reward intents");
        }
        tokio::select! {
            _ = tokio::time::sleep(ctx.claims.reconcile_every) => {}
            () = ctx.expedite.wake.notified() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
    }
}
