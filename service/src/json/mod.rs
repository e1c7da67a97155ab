//! The REST edge's JSON: the shapes of api.md (camelCase, absent times as ""), built from the
//! engine's views and the use-cases' answers (`answers.rs`), and the list's pre-rendered bytes
//! (`prerendered.rs`). Nothing outside the routes and this module knows these shapes.

pub mod answers;
pub mod backfill;
pub mod designers;
pub mod prerendered;
pub mod timeline;

use chrono::{DateTime, Utc};
use engine::progress::GoalView;
use engine::{CompiledGoal, Reward};
use serde::Serialize;

/// An RFC 3339 time, or "" when absent (what the reference clients expect).
pub fn time(value: Option<DateTime<Utc>>) -> String {
    value
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequirementJson {
    pub stat_code: String,
    pub operator: &'static str,
    pub target_value: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

impl RequirementJson {
    pub fn of(goal: &CompiledGoal) -> Self {
        Self {
            stat_code: goal
                .stats
                .first()
                .cloned()
                .unwrap_or_else(|| goal.on.as_str().to_string()),
            operator: ">=",
            target_value: goal.target,
            when: goal.when.as_ref().map(|w| w.text.clone()),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RewardJson {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub reward_id: String,
    pub quantity: i64,
}

impl RewardJson {
    pub fn of(reward: Option<&Reward>) -> Option<Self> {
        reward.map(|reward| match reward {
            Reward::Wallet { currency, amount } => Self {
                kind: "WALLET",
                reward_id: currency.clone(),
                quantity: *amount,
            },
            Reward::Item { item_id, quantity } => Self {
                kind: "ITEM",
                reward_id: item_id.clone(),
                quantity: *quantity,
            },
        })
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoalJson {
    pub goal_id: String,
    pub name: String,
    pub description: String,
    pub requirement: RequirementJson,
    pub reward: Option<RewardJson>,
    pub prerequisites: Vec<String>,
    /// The goal's tags (absent when it has none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub progress: i64,
    pub target: i64,
    pub status: &'static str,
    pub locked: bool,
    pub completed_at: String,
    pub claimed_at: String,
    pub is_active: bool,
    pub expires_at: String,
    pub expires_in_seconds: i64,
    /// When the goal's events count again, while its `schedule.days` leave today out
    /// (absent when they count now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<String>,
}

impl GoalJson {
    /// The goal as a player reading `locales` (see `engine::locale::preferences`) sees it.
    pub fn of(
        goal: &CompiledGoal,
        view: &GoalView,
        locked: bool,
        now: DateTime<Utc>,
        locales: &[String],
    ) -> Self {
        Self {
            goal_id: goal.id.to_string(),
            name: goal.name_in(locales).to_string(),
            description: goal.description_in(locales).to_string(),
            requirement: RequirementJson::of(goal),
            reward: RewardJson::of(goal.reward.as_ref()),
            prerequisites: goal.requires.iter().map(ToString::to_string).collect(),
            tags: goal.tags.clone(),
            progress: view.progress,
            target: goal.target,
            status: view.status.as_str(),
            locked,
            completed_at: time(view.completed_at),
            claimed_at: time(view.claimed_at),
            is_active: view.is_active,
            expires_at: time(view.expires_at),
            expires_in_seconds: view
                .expires_at
                .map_or(0, |t| (t - now).num_seconds().max(0)),
            opens_at: view.opens_at.map(|t| time(Some(t))),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeJson {
    pub challenge_id: String,
    pub name: String,
    pub description: String,
    /// The challenge's tags (absent when it has none): `GET /v1/challenges?tags=` filters by them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub goals: Vec<GoalJson>,
}

/// A goal as `initialize` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignedGoalJson {
    pub challenge_id: String,
    pub goal_id: String,
    pub name: String,
    pub description: String,
    pub is_active: bool,
    pub assigned_at: String,
    pub expires_at: String,
    pub progress: i64,
    pub target: i64,
    pub status: &'static str,
    pub requirement: RequirementJson,
    pub reward: Option<RewardJson>,
}

impl AssignedGoalJson {
    pub fn of(goal: &CompiledGoal, view: &GoalView, locales: &[String]) -> Self {
        Self {
            challenge_id: goal.challenge_id.to_string(),
            goal_id: goal.id.to_string(),
            name: goal.name_in(locales).to_string(),
            description: goal.description_in(locales).to_string(),
            is_active: view.is_active,
            assigned_at: time(view.assigned_at),
            expires_at: time(view.expires_at),
            progress: view.progress,
            target: goal.target,
            status: view.status.as_str(),
            requirement: RequirementJson::of(goal),
            reward: RewardJson::of(goal.reward.as_ref()),
        }
    }
}

/// One challenge as [`ChallengeJson`] (the reference the rendered answers are held to).
pub fn challenge_json(
    rules: &engine::RuleSet,
    challenge: &engine::CompiledChallenge,
    progress: &crate::usecases::PlayerRows,
    now: DateTime<Utc>,
    locales: &[String],
) -> ChallengeJson {
    ChallengeJson {
        challenge_id: challenge.id.to_string(),
        name: challenge.name_in(locales).to_string(),
        description: challenge.description_in(locales).to_string(),
        tags: challenge.tags.clone(),
        goals: rules
            .goals_of(challenge)
            .filter(|goal| goal.is_shown(now))
            .map(|goal| {
                GoalJson::of(
                    goal,
                    &progress.view(goal),
                    progress.is_locked(rules, goal),
                    now,
                    locales,
                )
            })
            .collect(),
    }
}
