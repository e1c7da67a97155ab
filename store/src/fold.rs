//! Folding a batch of events into rows with `engine::RuleSet::apply`, in arrival order. Pure:
//! both stores call it between "lock the rows" and "write the changed rows".

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use engine::{Applied, Assign, GoalId, UserId};

use crate::row::ProgressRow;
use crate::{EventOutcome, PendingEvent, StoreError};

/// The (user, goal) keys a batch touches, sorted: rows are locked in this order so two
/// replicas never wait on each other in a cycle.
pub(crate) fn touched_keys<'a>(
    batch: impl IntoIterator<Item = &'a PendingEvent>,
) -> Vec<(UserId, GoalId)> {
    let keys: BTreeSet<(UserId, GoalId)> = batch
        .into_iter()
        .flat_map(|pending| {
            pending
                .goals
                .iter()
                .map(|goal| (pending.event.user_id.clone(), goal.clone()))
        })
        .collect();
    keys.into_iter().collect()
}

/// Keys of `assign: auto` goals: their rows may not exist yet.
pub(crate) fn auto_keys<'a>(
    batch: impl IntoIterator<Item = &'a PendingEvent>,
) -> Vec<(UserId, GoalId, &'a PendingEvent)> {
    let mut seen = BTreeSet::new();
    let mut keys = Vec::new();
    for pending in batch {
        for goal_id in &pending.goals {
            let Some(goal) = pending.rules.goal(goal_id.as_str()) else {
                continue;
            };
            if goal.assign == Assign::Auto
                && seen.insert((pending.event.user_id.clone(), goal_id.clone()))
            {
                keys.push((pending.event.user_id.clone(), goal_id.clone(), pending));
            }
        }
    }
    keys.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    keys
}

/// The not-started rows of the `assign: auto` goals `batch` touches, to insert where missing.
pub(crate) fn auto_rows<'a>(
    batch: impl IntoIterator<Item = &'a PendingEvent>,
    now: DateTime<Utc>,
) -> Vec<ProgressRow> {
    auto_keys(batch)
        .into_iter()
        .filter_map(|(user_id, goal_id, pending)| {
            let goal = pending.rules.goal(goal_id.as_str())?;
            Some(ProgressRow::assigned(
                &user_id,
                &pending.event.namespace,
                goal,
                now,
            ))
        })
        .collect()
}

/// The result of a fold: rows to write and each event's outcome (in batch order).
pub(crate) struct Folded {
    pub changed: Vec<ProgressRow>,
    pub outcomes: Vec<EventOutcome>,
    /// The `goal.completed` notifications, written in the batch's transaction.
    pub completions: Vec<crate::Notice>,
}

/// Players whose data was deleted, and when (the `deleted_users` tombstones of a batch's users).
pub(crate) type Tombstones = HashMap<String, DateTime<Utc>>;

/// Marks the events of deleted players that happened before the deletion (queued when it ran,
/// or redelivered since): they are forgotten, not applied nor recorded. Clears their `fresh`.
pub(crate) fn forget_deleted(
    batch: &[&PendingEvent],
    fresh: &mut [bool],
    tombstones: &Tombstones,
) -> Vec<bool> {
    batch
        .iter()
        .zip(fresh.iter_mut())
        .map(|(pending, is_fresh)| {
            let forgotten = tombstones
                .get(pending.event.user_id.as_str())
                .is_some_and(|deleted_at| pending.event.timestamp <= *deleted_at);
            if forgotten {
                *is_fresh = false;
            }
            forgotten
        })
        .collect()
}

/// The events of `batch` whose `fresh` flag is set (first occurrences, not redelivered, not
/// forgotten), in batch order.
pub(crate) fn fresh_events<'a>(
    batch: &'a [&'a PendingEvent],
    fresh: &'a [bool],
) -> impl Iterator<Item = &'a PendingEvent> + Clone {
    batch
        .iter()
        .zip(fresh)
        .filter(|(_, f)| **f)
        .map(|(p, _)| *p)
}

/// The distinct users of a batch, sorted (the order their locks are taken in).
pub(crate) fn batch_users(batch: &[&PendingEvent]) -> Vec<String> {
    let users: BTreeSet<&str> = batch.iter().map(|p| p.event.user_id.as_str()).collect();
    users.into_iter().map(str::to_string).collect()
}

/// Applies `events` to `rows`. `fresh[i]` is false for a redelivery and for a forgotten event
/// (`forgotten[i]`: its player's data was deleted after it).
pub(crate) fn fold(
    batch: &[&PendingEvent],
    fresh: &[bool],
    forgotten: &[bool],
    rows: Vec<ProgressRow>,
    now: DateTime<Utc>,
) -> Folded {
    let mut current: BTreeMap<(UserId, GoalId), ProgressRow> =
        rows.into_iter().map(|row| (row.key(), row)).collect();
    let mut dirty: BTreeSet<(UserId, GoalId)> = BTreeSet::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut completions = Vec::new();
    for ((pending, is_fresh), is_forgotten) in batch.iter().zip(fresh).zip(forgotten) {
        if *is_forgotten {
            outcomes.push(EventOutcome::UserDeleted);
            continue;
        }
        if !is_fresh {
            outcomes.push(EventOutcome::Duplicate);
            continue;
        }
        if pending.goals.is_empty() {
            // Kept for the archive only: no goal listens to it.
            outcomes.push(EventOutcome::NoMatch {
                failed_expressions: Vec::new(),
            });
            continue;
        }
        let (mut changed, mut failed_expressions) = (0, Vec::new());
        for goal_id in &pending.goals {
            let Some(goal) = pending.rules.goal(goal_id.as_str()) else {
                continue;
            };
            let key = (pending.event.user_id.clone(), goal_id.clone());
            let state = current.get(&key).map(|row| &row.state);
            match pending.rules.apply(goal, state, &pending.event, now) {
                Applied::Changed(next) => {
                    changed += 1;
                    completions.extend(crate::Notice::completed(
                        goal,
                        &pending.event.namespace,
                        pending.event.user_id.as_str(),
                        state,
                        &next,
                    ));
                    dirty.insert(key.clone());
                    match current.get_mut(&key) {
                        Some(row) => row.state = next,
                        None => {
                            current.insert(
                                key,
                                ProgressRow {
                                    user_id: pending.event.user_id.clone(),
                                    goal_id: goal_id.clone(),
                                    challenge_id: goal.challenge_id.clone(),
                                    namespace: pending.event.namespace.clone(),
                                    state: next,
                                },
                            );
                        }
                    }
                }
                Applied::Unchanged(engine::Skip::Evaluation(err)) => {
                    failed_expressions.push(goal_id.clone());
                    tracing::warn!(challenge_id = %goal.challenge_id, goal_id = %goal_id, event_id = %pending.event.id, user_id = %pending.event.user_id, error = %err, "goal expression failed; event does not count for this goal");
                }
                Applied::Unchanged(_) => {}
            }
        }
        outcomes.push(EventOutcome::Applied {
            changed,
            failed_expressions,
        });
    }
    let changed = dirty
        .into_iter()
        .filter_map(|key| current.remove(&key))
        .collect();
    Folded {
        changed,
        outcomes,
        completions,
    }
}

/// Whether an event's id is recorded for dedup: it has one, and some goal listens to it. An
/// event kept for the archive only changes nothing, so it is not worth a record (a redelivery
/// is archived again; replay and explain skip a player's repeated ids).
pub(crate) fn deduplicated(pending: &PendingEvent) -> bool {
    !pending.event.id.is_empty() && !pending.goals.is_empty()
}

/// Marks the first occurrence of each event (user, id and sent time) in the batch; later ones
/// are redeliveries.
/// Events without an id are always fresh.
pub(crate) fn first_occurrences(batch: &[&PendingEvent]) -> Vec<bool> {
    let mut seen = std::collections::HashSet::new();
    batch
        .iter()
        .map(|pending| pending.event.id.is_empty() || seen.insert(crate::dedup::key(pending)))
        .collect()
}

/// A batch's outcomes, one per event.
pub(crate) type Outcomes = Result<Vec<EventOutcome>, StoreError>;

/// One transaction over a batch, as each store implements it. Every store that has it is an
/// [`EventSink`](crate::EventSink): the batch, with its failures isolated, timed by its probe.
#[async_trait::async_trait]
pub(crate) trait ApplyBatch: crate::common::Backend {
    async fn apply_batch(&self, batch: &[&PendingEvent], now: DateTime<Utc>) -> Outcomes;
}

/// Applies a batch in one go; when the database refuses it for a reason other than being
/// unavailable (a constraint on one event's data), retries its events one by one so only the
/// bad ones fail and their neighbours still commit.
pub(crate) async fn isolate_failures(
    store: &impl ApplyBatch,
    batch: &[PendingEvent],
    now: DateTime<Utc>,
) -> Result<Vec<Result<EventOutcome, StoreError>>, StoreError> {
    let all: Vec<&PendingEvent> = batch.iter().collect();
    match store.apply_batch(&all, now).await {
        Ok(outcomes) => Ok(outcomes.into_iter().map(Ok).collect()),
        Err(err) if err.is_unavailable() => Err(err),
        Err(err) if batch.len() == 1 => Ok(vec![Err(err)]),
        Err(err) => {
            tracing::warn!(
                error = &err as &(dyn std::error::Error + 'static),
                size = batch.len(),
                "batch rejected; retrying its events one by one"
            );
            let mut results = Vec::with_capacity(batch.len());
            for pending in all {
                match store.apply_batch(&[pending], now).await {
                    Ok(outcomes) => results.push(outcomes.into_iter().next().ok_or_else(|| {
                        StoreError::Inconsistent(
                            "the store returned no outcome for an event".into(),
                        )
                    })),
                    Err(err) if err.is_unavailable() => return Err(err),
                    Err(err) => results.push(Err(err)),
                }
            }
            Ok(results)
        }
    }
}

#[async_trait::async_trait]
impl<S: ApplyBatch> crate::EventSink for S {
    async fn apply_events(
        &self,
        batch: &[PendingEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<EventOutcome, StoreError>>, StoreError> {
        let apply = isolate_failures(self, batch, now);
        self.common().probe.wrote_batch(batch, apply).await
    }
}
