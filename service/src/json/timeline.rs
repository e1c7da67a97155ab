//! Support's JSON: an audit log entry (`GET /v1/admin/audit`) and a player's timeline
//! (`GET /v1/admin/players/{user}/timeline`), which shows those entries among the rest.

use engine::simulate::{EventResult, GoalResult};
use serde::Serialize;
use store::AuditEntry;

use super::time;
use crate::usecases::timeline::{Entry, Timeline};

/// One audit log entry.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryJson {
    id: String,
    at: String,
    actor: String,
    action: String,
    user_id: String,
    challenge_id: Option<String>,
    goal_id: Option<String>,
    reason: String,
    /// The goal before a set, complete or reset: `{progress, status}` (null: no row, or
    /// another action).
    #[schema(value_type = Object)]
    before: serde_json::Value,
    /// The goal after it.
    #[schema(value_type = Object)]
    after: serde_json::Value,
    /// What else the action recorded: a grant's `reward`, a deletion's `entries`.
    #[schema(value_type = Object)]
    detail: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryJson {
    fn from(entry: AuditEntry) -> Self {
        let mut detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap_or_default();
        let mut take = |key: &str| {
            (detail.as_object_mut())
                .and_then(|fields| fields.remove(key))
                .unwrap_or_default()
        };
        let (before, after) = (take("before"), take("after"));
        Self {
            before,
            after,
            detail,
            id: entry.id,
            at: time(Some(entry.at)),
            actor: entry.actor,
            action: entry.action,
            user_id: entry.user_id,
            challenge_id: entry.challenge_id,
            goal_id: entry.goal_id,
            reason: entry.reason,
        }
    }
}

/// A player's timeline, newest first.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Timeline)]
pub struct TimelineJson {
    pub user_id: String,
    /// The content hash of the rules in use now.
    pub content_hash: String,
    /// How many of the player's archived events were read (0: the player is not archived, or
    /// has no events in the archive's window; their events then do not show).
    pub archived_events: usize,
    pub entries: Vec<TimelineEntryJson>,
}

/// One thing that happened to the player; `type` says which.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[schema(as = TimelineEntry)]
pub enum TimelineEntryJson {
    /// An archived event and every goal listening to it: what it does under today's rules,
    /// the player's archived history replayed from its start.
    Event {
        at: String,
        event_id: String,
        kind: &'static str,
        stat_code: Option<String>,
        value: i64,
        inc: i64,
        /// The content hash of the rules it was applied under (null: archived before rule
        /// sets were recorded).
        applied_under: Option<String>,
        goals: Vec<GoalEffectJson>,
        /// What it did under the rules it was applied under, when those were older rules
        /// still recorded (null otherwise).
        applied_goals: Option<Vec<GoalEffectJson>>,
    },
    /// A rule set began to be applied (when its process loaded it).
    Rules {
        at: String,
        content_hash: String,
        /// It is the rule set in use now.
        current: bool,
    },
    /// A claim and its intent as it stands (`pending`, `sending`, `granted`, `refused`,
    /// `unknown`); `at` is when the claim started.
    Claim {
        at: String,
        challenge_id: Option<String>,
        goal_id: String,
        period_start: String,
        state: &'static str,
        delivery: &'static str,
        #[schema(value_type = Object)]
        reward: serde_json::Value,
        transaction_id: String,
        attempts: i32,
        last_error: Option<String>,
        updated_at: String,
    },
    /// A support action on the player (the audit log's entry).
    Support(AuditEntryJson),
}

/// What an event did to one goal.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = GoalEffect)]
pub struct GoalEffectJson {
    pub challenge_id: String,
    pub goal_id: String,
    pub matched: bool,
    pub progress_before: i64,
    pub progress_after: i64,
    pub status_before: &'static str,
    pub status_after: &'static str,
    /// Why the goal did not move (null when it did).
    pub reason: Option<String>,
}

impl From<GoalResult> for GoalEffectJson {
    fn from(goal: GoalResult) -> Self {
        Self {
            challenge_id: goal.challenge_id,
            goal_id: goal.goal_id,
            matched: goal.matched,
            progress_before: goal.progress_before,
            progress_after: goal.progress_after,
            status_before: goal.status_before,
            status_after: goal.status_after,
            reason: goal.reason,
        }
    }
}

fn effects(result: EventResult) -> Vec<GoalEffectJson> {
    result.goals.into_iter().map(Into::into).collect()
}

impl TimelineJson {
    pub fn new(user_id: String, timeline: Timeline) -> Self {
        let current = timeline.content_hash;
        let entries = (timeline.entries.into_iter())
            .map(|entry| match entry {
                Entry::Event {
                    event,
                    applied_under,
                    now,
                    then,
                } => TimelineEntryJson::Event {
                    at: time(Some(event.timestamp)),
                    event_id: event.id.clone(),
                    kind: event.kind.as_str(),
                    stat_code: event.stat_code.clone(),
                    value: event.value,
                    inc: event.inc,
                    applied_under,
                    goals: effects(now),
                    applied_goals: then.map(effects),
                },
                Entry::Rules { at, content_hash } => TimelineEntryJson::Rules {
                    at: time(Some(at)),
                    current: content_hash == current,
                    content_hash,
                },
                Entry::Claim {
                    intent,
                    challenge_id,
                } => TimelineEntryJson::Claim {
                    at: time(Some(intent.created_at)),
                    challenge_id,
                    goal_id: intent.key.goal_id.to_string(),
                    period_start: time(Some(intent.key.period_start)),
                    state: intent.state.as_str(),
                    delivery: intent.delivery.as_str(),
                    reward: serde_json::from_str(&intent.reward).unwrap_or_default(),
                    transaction_id: intent.transaction_id,
                    attempts: intent.attempts,
                    last_error: intent.last_error,
                    updated_at: time(Some(intent.updated_at)),
                },
                Entry::Support(entry) => TimelineEntryJson::Support(entry.into()),
            })
            .collect();
        Self {
            user_id,
            content_hash: current,
            archived_events: timeline.archived_events,
            entries,
        }
    }
}
