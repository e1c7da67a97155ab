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
use engine::{CompiledGoal, Reward, RewardPart, Rewards};
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
        reward.map(Self::one)
    }

    fn one(reward: &Reward) -> Self {
        Self {
            kind: reward.kind(),
            reward_id: reward.id().to_string(),
            quantity: reward.quantity(),
        }
    }

    /// What the reference's clients read in `reward`: the first part of a bundle, a table's
    /// most likely entry.
    pub fn headline(rewards: &Rewards) -> Option<Self> {
        Self::of(rewards.headline())
    }

    /// What a claim drew, when it is more than one reward (`reward` holds the first).
    pub fn drawn(rewards: &[Reward]) -> Option<Vec<Self>> {
        (rewards.len() > 1).then(|| rewards.iter().map(Self::one).collect())
    }
}

/// One part of what a goal grants (`rewards`, listed when a goal grants more than one reward
/// or draws from a table): the reward, or for a table its most likely entry and every entry's
/// odds.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RewardPartJson {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub reward_id: String,
    pub quantity: i64,
    /// A table's entries with their chance of being drawn (absent for a fixed reward).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub odds: Option<Vec<OddsJson>>,
}

/// A table's entry and its chance.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OddsJson {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub reward_id: String,
    pub quantity: i64,
    pub weight: u64,
    /// Its chance in percent (weight over the table's total), to two decimals.
    pub percent: f64,
}

impl RewardPartJson {
    /// Every part, or `None` when the goal grants one fixed reward (or nothing): `reward` says
    /// it all then, as in the reference.
    pub fn list(rewards: &Rewards) -> Option<Vec<Self>> {
        if rewards.is_empty() || rewards.single().is_some() {
            return None;
        }
        Some(Self::all(rewards))
    }

    /// Every part (empty for a goal without reward).
    pub fn all(rewards: &Rewards) -> Vec<Self> {
        rewards.parts().iter().map(Self::of).collect()
    }

    fn of(part: &RewardPart) -> Self {
        let shown = RewardJson::one(part.headline());
        let odds = match part {
            RewardPart::Fixed(_) => None,
            RewardPart::OneOf(entries) => Some(
                entries
                    .iter()
                    .zip(part.odds())
                    .map(|(entry, (reward, chance))| OddsJson {
                        kind: reward.kind(),
                        reward_id: reward.id().to_string(),
                        quantity: reward.quantity(),
                        weight: entry.weight,
                        percent: (chance * 10_000.0).round() / 100.0,
                    })
                    .collect(),
            ),
        };
        Self {
            kind: shown.kind,
            reward_id: shown.reward_id,
            quantity: shown.quantity,
            odds,
        }
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
    /// Every part of a bundle or table (absent when `reward` is all the goal grants).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewards: Option<Vec<RewardPartJson>>,
    /// `true` when the reward is granted as the goal completes, without a claim (`claim:
    /// auto`); absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auto_claim: bool,
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
            reward: RewardJson::headline(&goal.rewards),
            rewards: RewardPartJson::list(&goal.rewards),
            auto_claim: goal.auto_claim,
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
    /// Every part of a bundle or table (absent when `reward` is all the goal grants).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewards: Option<Vec<RewardPartJson>>,
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
            reward: RewardJson::headline(&goal.rewards),
            rewards: RewardPartJson::list(&goal.rewards),
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
