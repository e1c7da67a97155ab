//! The REST answers of the use-cases, each built once from the use-case's result: `From` the
//! domain type, shaped as api.md says (and as the reference's clients read it).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{AssignedGoalJson, GoalJson, RequirementJson, RewardJson, time};
use crate::usecases::challenges::{Explanation, Initialized, RecentEvent, RotationStatus, Window};
use crate::usecases::claim::{ClaimPending, Claimed};
use crate::usecases::selection::{ActiveSet, Selection};

/// Seconds from `now` until `end`, never negative.
fn seconds_until(end: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (end - now).num_seconds().max(0)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Initialized)]
pub struct InitializedJson {
    pub assigned_goals: Vec<AssignedGoalJson>,
    pub new_assignments: usize,
    pub total_active: i64,
}

impl InitializedJson {
    /// The answer to a player reading `locales`.
    pub fn of(done: Initialized, locales: &[String]) -> Self {
        Self {
            assigned_goals: (done.assigned.iter())
                .map(|g| AssignedGoalJson::of(&g.goal, &g.view, locales))
                .collect(),
            new_assignments: done.new_assignments,
            total_active: done.total_active,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeriodJson {
    pub start_time: String,
    pub end_time: String,
    pub expires_in_seconds: i64,
}

impl PeriodJson {
    fn of(window: Window, now: DateTime<Utc>) -> Self {
        Self {
            start_time: time(Some(window.start)),
            end_time: time(Some(window.end)),
            expires_in_seconds: seconds_until(window.end, now),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationJson {
    pub enabled: bool,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub schedule: Option<&'static str>,
    /// The IANA time zone the periods follow (e.g. `America/New_York`).
    pub timezone: Option<&'static str>,
    /// The local time each period starts at, `HH:MM`.
    pub reset_at: Option<String>,
    pub current_period: Option<PeriodJson>,
    pub next_period: Option<PeriodJson>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RotationStatus)]
pub struct RotationStatusJson {
    pub challenge_id: String,
    pub rotation: RotationJson,
}

impl From<RotationStatus> for RotationStatusJson {
    fn from(status: RotationStatus) -> Self {
        let now = status.now;
        let rotating = status.rotating;
        Self {
            challenge_id: status.challenge_id.to_string(),
            rotation: RotationJson {
                enabled: rotating.is_some(),
                kind: "global",
                schedule: rotating.map(|r| r.every.as_str()),
                timezone: rotating.map(|r| r.calendar.timezone()),
                reset_at: rotating.map(|r| r.calendar.reset_at()),
                current_period: rotating.map(|r| PeriodJson::of(r.current, now)),
                next_period: rotating.map(|r| PeriodJson::of(r.next, now)),
            },
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Explanation)]
pub struct ExplanationJson {
    pub challenge_id: String,
    pub goal_id: String,
    pub rule: RuleJson,
    /// Every part of what claiming it grants, a table's with its odds (empty: no reward).
    pub rewards: Vec<super::RewardPartJson>,
    /// `claim: auto`: granted as it completes.
    pub auto_claim: bool,
    pub progress: i64,
    pub target: i64,
    pub status: &'static str,
    pub is_active: bool,
    pub assigned: bool,
    pub locked: bool,
    pub locked_by: Vec<String>,
    pub last_matching_event_at: String,
    pub rotation: Option<ExplainRotationJson>,
    /// The player's last archived events that reached the goal's kind and stat code, newest
    /// first, with what each did to the goal (empty when the player is not archived).
    pub recent_events: Vec<RecentEventJson>,
    /// The content hash of the rules in use now (`/v1/rules`'s).
    pub content_hash: String,
    /// The older rule sets the recent events were applied under, with when each was loaded.
    pub rule_sets: Vec<RuleSetVersionJson>,
}

/// A recorded rule set.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RuleSetVersion)]
pub struct RuleSetVersionJson {
    pub content_hash: String,
    pub loaded_at: String,
}

impl From<Explanation> for ExplanationJson {
    fn from(why: Explanation) -> Self {
        let goal = &why.goal;
        Self {
            challenge_id: goal.challenge_id.to_string(),
            goal_id: goal.id.to_string(),
            rule: RuleJson {
                on: goal.on.as_str(),
                stat_codes: goal.stats.clone(),
                when: goal.when.as_ref().map(|e| e.text.clone()),
                count: goal.count.as_str(),
                relative: goal.relative,
                amount: goal.amount.as_ref().map(|e| e.text.clone()),
                progress: goal.progress.as_ref().map(|e| e.text.clone()),
                assign: match goal.assign {
                    engine::Assign::Default => "default",
                    engine::Assign::Manual => "manual",
                    engine::Assign::Auto => "auto",
                },
                requirement: RequirementJson::of(goal),
            },
            rewards: super::RewardPartJson::all(&goal.rewards),
            auto_claim: goal.auto_claim,
            progress: why.view.progress,
            target: goal.target,
            status: why.view.status.as_str(),
            is_active: why.view.is_active,
            assigned: why.assigned,
            locked: !why.locked_by.is_empty(),
            locked_by: why.locked_by.iter().map(ToString::to_string).collect(),
            last_matching_event_at: time(why.last_matching_event_at),
            rotation: why.rotation.map(|(r, period)| ExplainRotationJson {
                every: r.every.as_str(),
                timezone: r.calendar.timezone(),
                reset_at: r.calendar.reset_at(),
                reset_progress: r.reset_progress,
                allow_reselection: r.allow_reselection,
                period_start: time(Some(period.start)),
                period_end: time(Some(period.end)),
                row_from_earlier_period: why.view.rotated,
            }),
            recent_events: why.recent_events.into_iter().map(Into::into).collect(),
            content_hash: why.content_hash,
            rule_sets: (why.rule_sets.into_iter())
                .map(|(content_hash, at)| RuleSetVersionJson {
                    content_hash,
                    loaded_at: time(Some(at)),
                })
                .collect(),
        }
    }
}

/// An archived event that reached a goal's (kind, stat code), and what it did to the goal,
/// found by replaying the player's archived history under the current rules.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RecentEvent)]
pub struct RecentEventJson {
    pub event_id: String,
    pub kind: &'static str,
    pub stat_code: Option<String>,
    pub value: i64,
    pub inc: i64,
    pub timestamp: String,
    pub matched: bool,
    pub when: Option<bool>,
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub progress_before: i64,
    pub progress_after: i64,
    pub status_before: &'static str,
    pub status_after: &'static str,
    pub reason: Option<String>,
    /// The content hash of the rules the event was applied under (null: archived before rule
    /// sets were recorded). When it is not `contentHash`, the fields above say what the event
    /// does under today's rules, and `appliedOutcome` what it did under those.
    pub applied_under: Option<String>,
    /// What the event did to the goal under the rules it was applied under, when those were
    /// older rules still recorded (null otherwise).
    pub applied_outcome: Option<AppliedOutcomeJson>,
}

/// What an event did to a goal under the rules it was applied under.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AppliedOutcome)]
pub struct AppliedOutcomeJson {
    pub matched: bool,
    pub when: Option<bool>,
    pub progress_before: i64,
    pub progress_after: i64,
    pub status_before: &'static str,
    pub status_after: &'static str,
    pub reason: Option<String>,
}

impl From<RecentEvent> for RecentEventJson {
    fn from(
        RecentEvent {
            event,
            trace,
            applied_under,
            applied_outcome,
        }: RecentEvent,
    ) -> Self {
        Self {
            applied_under,
            applied_outcome: applied_outcome.map(|old| AppliedOutcomeJson {
                matched: old.matched,
                when: old.when,
                progress_before: old.progress_before,
                progress_after: old.progress_after,
                status_before: old.status_before,
                status_after: old.status_after,
                reason: old.reason,
            }),
            event_id: event.id.clone(),
            kind: event.kind.as_str(),
            stat_code: event.stat_code.clone(),
            value: event.value,
            inc: event.inc,
            timestamp: time(Some(event.timestamp)),
            matched: trace.matched,
            when: trace.when,
            fields: trace.fields,
            progress_before: trace.progress_before,
            progress_after: trace.progress_after,
            status_before: trace.status_before,
            status_after: trace.status_after,
            reason: trace.reason,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleJson {
    pub on: &'static str,
    pub stat_codes: Vec<String>,
    pub when: Option<String>,
    pub count: &'static str,
    pub relative: bool,
    pub amount: Option<String>,
    pub progress: Option<String>,
    pub assign: &'static str,
    pub requirement: RequirementJson,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ExplainRotation)]
pub struct ExplainRotationJson {
    pub every: &'static str,
    pub timezone: &'static str,
    pub reset_at: String,
    pub reset_progress: bool,
    pub allow_reselection: bool,
    pub period_start: String,
    pub period_end: String,
    pub row_from_earlier_period: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Claimed)]
pub struct ClaimedJson {
    pub goal_id: String,
    /// Always `claimed`.
    pub status: &'static str,
    /// What was granted: a table's entry as drawn, a bundle's first part.
    pub reward: Option<RewardJson>,
    /// Every reward granted, when more than one (a bundle).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewards: Option<Vec<RewardJson>>,
    pub claimed_at: String,
}

impl From<Claimed> for ClaimedJson {
    fn from(claimed: Claimed) -> Self {
        Self {
            goal_id: claimed.goal_id.to_string(),
            status: "claimed",
            reward: RewardJson::of(claimed.rewards.first()),
            rewards: RewardJson::drawn(&claimed.rewards),
            claimed_at: time(Some(claimed.claimed_at)),
        }
    }
}

/// The reward is on its way (202): granted soon, or an operator decides an unknown outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ClaimPending)]
pub struct ClaimPendingJson {
    pub goal_id: String,
    /// Always `pending`.
    pub status: &'static str,
    /// What is being granted: a table's entry as drawn, a bundle's first part.
    pub reward: Option<RewardJson>,
    /// Every reward being granted, when more than one (a bundle).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewards: Option<Vec<RewardJson>>,
    pub message: &'static str,
}

impl From<ClaimPending> for ClaimPendingJson {
    fn from(pending: ClaimPending) -> Self {
        Self {
            goal_id: pending.goal_id.to_string(),
            status: "pending",
            reward: RewardJson::of(pending.rewards.first()),
            rewards: RewardJson::drawn(&pending.rewards),
            message: "the reward is being granted; ask again later to see it claimed",
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ActiveSet)]
pub struct ActiveSetJson {
    pub challenge_id: String,
    pub goal_id: String,
    pub is_active: bool,
    pub assigned_at: String,
    pub message: &'static str,
}

impl From<ActiveSet> for ActiveSetJson {
    fn from(set: ActiveSet) -> Self {
        Self {
            challenge_id: set.challenge_id.to_string(),
            goal_id: set.goal_id.to_string(),
            is_active: set.is_active,
            assigned_at: time(set.assigned_at),
            message: if set.is_active {
                "goal activated"
            } else {
                "goal deactivated"
            },
        }
    }
}

/// A goal a selection made active: the list's goal shape, plus `assignedAt` as the reference's
/// `SelectedGoal` has it (when the goal was assigned to the player).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SelectedGoal)]
pub struct SelectedGoalJson {
    #[serde(flatten)]
    pub goal: GoalJson,
    pub assigned_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Selection)]
pub struct SelectionJson {
    pub selected_goals: Vec<SelectedGoalJson>,
    pub challenge_id: String,
    pub total_active_goals: i64,
    pub replaced_goals: Vec<String>,
}

impl SelectionJson {
    /// The answer to a player reading `locales`.
    pub fn of(selection: Selection, locales: &[String]) -> Self {
        let now = selection.now;
        Self {
            selected_goals: (selection.selected.iter())
                .map(|g| SelectedGoalJson {
                    assigned_at: time(g.view.assigned_at),
                    goal: GoalJson::of(&g.goal, &g.view, g.locked, now, locales),
                })
                .collect(),
            challenge_id: selection.challenge_id.to_string(),
            total_active_goals: selection.total_active_goals,
            replaced_goals: selection.replaced.iter().map(ToString::to_string).collect(),
        }
    }
}
