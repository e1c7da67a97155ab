//! Listing challenges, initializing a player, rotation status, explain.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use engine::{Assign, Event, RuleSet, UserId};
use serde::Serialize;

use super::{Context, PlayerRows, challenge, goal};
use crate::usecases::error::{Error, ErrorCode};
use crate::views::{AssignedGoalJson, ChallengeJson, GoalJson, RequirementJson, time, visible};

/// A player's progress on the challenges an answer shows, with the rule set it was read
/// under. REST writes it from that rule set's rendered parts (`crate::render`).
pub struct PlayerChallenges {
    pub rules: Arc<RuleSet>,
    pub progress: PlayerRows,
    pub now: DateTime<Utc>,
    /// Positions in `rules.challenges()` of the challenges shown, in rule-set order.
    pub shown: Vec<usize>,
}

impl PlayerChallenges {
    /// The challenges shown, in order.
    pub fn challenges(&self) -> impl Iterator<Item = &engine::CompiledChallenge> {
        let all = self.rules.challenges();
        self.shown.iter().filter_map(move |&at| all.get(at))
    }
}

/// Every visible challenge with the player's progress, in rule-set order (the list).
pub async fn list(
    ctx: &Context,
    user: &UserId,
    active_only: bool,
    now: DateTime<Utc>,
) -> Result<PlayerChallenges, Error> {
    let rules = ctx.rules.current();
    let progress =
        PlayerRows::load_for_display(ctx.players.as_ref(), user, active_only, now).await?;
    let shown = (rules.challenges().iter().enumerate())
        .filter(|(_, c)| visible(c, now))
        .map(|(at, _)| at)
        .collect();
    Ok(PlayerChallenges {
        rules,
        progress,
        now,
        shown,
    })
}

/// One visible challenge with the player's progress.
pub async fn get(
    ctx: &Context,
    user: &UserId,
    challenge_id: &str,
    now: DateTime<Utc>,
) -> Result<PlayerChallenges, Error> {
    let rules = ctx.rules.current();
    let found = challenge(&rules, challenge_id, now)?;
    let shown = rules
        .challenges()
        .iter()
        .position(|c| c.id == found.id)
        .into_iter()
        .collect();
    let progress = PlayerRows::load_for_display(ctx.players.as_ref(), user, false, now).await?;
    Ok(PlayerChallenges {
        rules,
        progress,
        now,
        shown,
    })
}

/// One challenge as [`ChallengeJson`] (the reference the rendered answers are held to).
pub fn challenge_json(
    rules: &engine::RuleSet,
    challenge: &engine::CompiledChallenge,
    progress: &PlayerRows,
    now: DateTime<Utc>,
) -> ChallengeJson {
    ChallengeJson {
        challenge_id: challenge.id.to_string(),
        name: challenge.name.clone(),
        description: challenge.description.clone(),
        goals: rules
            .goals_of(challenge)
            .filter(|goal| goal.is_shown(now))
            .map(|goal| {
                GoalJson::of(
                    goal,
                    &progress.view(goal),
                    progress.is_locked(rules, goal),
                    now,
                )
            })
            .collect(),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Initialized {
    pub assigned_goals: Vec<AssignedGoalJson>,
    pub new_assignments: usize,
    pub total_active: i64,
}

/// Assigns every default goal of the visible challenges the player does not have yet —
/// including goals added to the rules since the player's last call.
pub async fn initialize(
    ctx: &Context,
    user: &UserId,
    now: DateTime<Utc>,
) -> Result<Initialized, Error> {
    let rules = ctx.rules.current();
    let defaults: Vec<_> = rules
        .challenges()
        .iter()
        .filter(|c| visible(c, now))
        .flat_map(|c| rules.goals_of(c))
        .filter(|g| g.assign == Assign::Default && !g.is_retired(now))
        .collect();
    let inserted = ctx
        .players
        .initialize_for_user(user, &ctx.namespace, &defaults, now)
        .await?;
    let progress = PlayerRows::load(ctx.players.as_ref(), user, false, now).await?;
    let total_active = ctx.players.count_active_for_user(user, None).await?;
    Ok(Initialized {
        assigned_goals: defaults
            .iter()
            .map(|g| AssignedGoalJson::of(g, &progress.view(g)))
            .collect(),
        new_assignments: inserted.len(),
        total_active,
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeriodJson {
    pub start_time: String,
    pub end_time: String,
    pub expires_in_seconds: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationJson {
    pub enabled: bool,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub schedule: Option<&'static str>,
    pub current_period: Option<PeriodJson>,
    pub next_period: Option<PeriodJson>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationStatus {
    pub challenge_id: String,
    pub rotation: RotationJson,
}

/// The challenge's rotation periods (the challenge's own rotation, else its first rotating goal's).
pub fn rotation(
    ctx: &Context,
    challenge_id: &str,
    now: DateTime<Utc>,
) -> Result<RotationStatus, Error> {
    let rules = ctx.rules.current();
    let found = challenge(&rules, challenge_id, now)?;
    let rotation = found
        .rotation
        .or_else(|| rules.goals_of(found).find_map(|g| g.rotation));
    let period = |start: DateTime<Utc>, end: DateTime<Utc>| PeriodJson {
        start_time: time(Some(start)),
        end_time: time(Some(end)),
        expires_in_seconds: (end - now).num_seconds().max(0),
    };
    let json = match rotation {
        Some(r) => {
            let start = r.every.start_of(now);
            let end = r.every.next_start(now);
            RotationJson {
                enabled: true,
                kind: "global",
                schedule: Some(r.every.as_str()),
                current_period: Some(period(start, end)),
                next_period: Some(period(end, r.every.next_start(end))),
            }
        }
        None => RotationJson {
            enabled: false,
            kind: "global",
            schedule: None,
            current_period: None,
            next_period: None,
        },
    };
    Ok(RotationStatus {
        challenge_id: found.id.to_string(),
        rotation: json,
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    pub challenge_id: String,
    pub goal_id: String,
    pub rule: RuleJson,
    pub progress: i64,
    pub target: i64,
    pub status: &'static str,
    pub is_active: bool,
    pub assigned: bool,
    pub locked: bool,
    pub locked_by: Vec<String>,
    pub last_matching_event_at: String,
    pub rotation: Option<ExplainRotation>,
    /// The player's last archived events that reached the goal's kind and stat code, newest
    /// first, with what each did to the goal (empty when the player is not archived).
    pub recent_events: Vec<RecentEvent>,
}

/// An archived event that reached a goal's (kind, stat code), and what it did to the goal,
/// found by replaying the player's archived history under the current rules.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentEvent {
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
}

/// A player's archived events explain replays (their latest), and how many it shows.
const EXPLAIN_HISTORY: i64 = 5_000;
const RECENT_EVENTS: usize = 20;

/// The last events of `user`'s archive that reached `goal_id`, newest first.
async fn recent_events(
    ctx: &Context,
    user: &UserId,
    rules: &Arc<RuleSet>,
    goal_id: &str,
) -> Result<Vec<RecentEvent>, Error> {
    let archived = ctx.archive.player_archive(user, EXPLAIN_HISTORY).await?;
    // A row that cannot be read back is left out, and a repeated id counts once, as in replay.
    let events: Vec<Event> = store::first_deliveries(&archived)
        .filter_map(|row| row.to_event().ok())
        .collect();
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let (rules, goal_id) = (rules.clone(), goal_id.to_string());
    tokio::task::spawn_blocking(move || {
        let results = engine::simulate::simulate(&rules, &events);
        let mut recent: Vec<RecentEvent> = results
            .into_iter()
            .zip(&events)
            .filter_map(|(result, event)| {
                let traced = result.goals.into_iter().find(|g| g.goal_id == goal_id)?;
                Some(RecentEvent {
                    event_id: event.id.clone(),
                    kind: event.kind.as_str(),
                    stat_code: event.stat_code.clone(),
                    value: event.value,
                    inc: event.inc,
                    timestamp: time(Some(event.timestamp)),
                    matched: traced.matched,
                    when: traced.when,
                    fields: traced.fields,
                    progress_before: traced.progress_before,
                    progress_after: traced.progress_after,
                    status_before: traced.status_before,
                    status_after: traced.status_after,
                    reason: traced.reason,
                })
            })
            .collect();
        recent.reverse();
        recent.truncate(RECENT_EVENTS);
        recent
    })
    .await
    .map_err(|err| Error::new(ErrorCode::Internal, format!("explain failed: {err}")))
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
pub struct ExplainRotation {
    pub every: &'static str,
    pub reset_progress: bool,
    pub allow_reselection: bool,
    pub period_start: String,
    pub period_end: String,
    pub row_from_earlier_period: bool,
}

/// Why the player's goal is where it is.
pub async fn explain(
    ctx: &Context,
    user: &UserId,
    challenge_id: &str,
    goal_id: &str,
    now: DateTime<Utc>,
) -> Result<Explanation, Error> {
    let rules = ctx.rules.current();
    let found = goal(&rules, challenge_id, goal_id, now)?;
    let progress = PlayerRows::load(ctx.players.as_ref(), user, false, now).await?;
    let view = progress.view(found);
    let status_of = progress.status_of(&rules);
    let locked_by: Vec<String> = found
        .requires
        .iter()
        .filter(|r| !status_of(r).is_some_and(engine::Status::is_done))
        .map(ToString::to_string)
        .collect();
    let row = progress.row(&found.id);
    let recent_events = recent_events(ctx, user, &rules, goal_id).await?;
    Ok(Explanation {
        challenge_id: challenge_id.to_string(),
        goal_id: goal_id.to_string(),
        rule: RuleJson {
            on: found.on.as_str(),
            stat_codes: found.stats.clone(),
            when: found.when.as_ref().map(|e| e.text.clone()),
            count: found.count.as_str(),
            relative: found.relative,
            amount: found.amount.as_ref().map(|e| e.text.clone()),
            progress: found.progress.as_ref().map(|e| e.text.clone()),
            assign: match found.assign {
                Assign::Default => "default",
                Assign::Manual => "manual",
                Assign::Auto => "auto",
            },
            requirement: RequirementJson::of(found),
        },
        progress: view.progress,
        target: found.target,
        status: view.status.as_str(),
        is_active: view.is_active,
        assigned: row.is_some(),
        locked: !locked_by.is_empty(),
        locked_by,
        last_matching_event_at: time(
            row.filter(|r| r.state.updated_at > r.state.created_at)
                .map(|r| r.state.updated_at),
        ),
        rotation: found.rotation.map(|r| ExplainRotation {
            every: r.every.as_str(),
            reset_progress: r.reset_progress,
            allow_reselection: r.allow_reselection,
            period_start: time(Some(r.every.start_of(now))),
            period_end: time(Some(r.every.next_start(now))),
            row_from_earlier_period: view.rotated,
        }),
        recent_events,
    })
}
