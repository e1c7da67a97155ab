//! Listing challenges, initializing a player, rotation status, explain.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use engine::progress::GoalView;
use engine::simulate::GoalResult;
use engine::{ChallengeId, CompiledGoal, Event, GoalId, Rotation, RuleSet, UserId};

use super::{Context, PlayerRows, challenge, goal, visible};
use crate::usecases::error::Error;

/// A player's progress on the challenges an answer shows, with the rule set it was read
/// under. REST writes it from that rule set's rendered parts (`crate::json::prerendered`).
pub struct PlayerChallenges {
    pub rules: Arc<RuleSet>,
    pub progress: PlayerRows,
    pub now: DateTime<Utc>,
    /// Positions in `rules.challenges()` of the challenges shown, in rule-set order.
    pub shown: Vec<usize>,
    /// Only the player's active goals are shown (`activeOnly`).
    pub active_only: bool,
    /// The locales the player reads, most wanted first (`Accept-Language`, matched against
    /// the rules' locales; empty: every text in its file's default locale).
    pub locales: Vec<String>,
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
    tags: &[&str],
    now: DateTime<Utc>,
) -> Result<PlayerChallenges, Error> {
    let rules = ctx.rules.current();
    let progress =
        PlayerRows::load_for_display(ctx.players.as_ref(), user, active_only, now).await?;
    // With tags, the challenges carrying any of them (their goals' tags are not looked at).
    let tagged = |c: &engine::CompiledChallenge| {
        tags.is_empty() || c.tags.iter().any(|tag| tags.contains(&tag.as_str()))
    };
    let shown = (rules.challenges().iter().enumerate())
        .filter(|(_, c)| visible(c, now) && tagged(c))
        .map(|(at, _)| at)
        .collect();
    Ok(PlayerChallenges {
        locales: Vec::new(),
        rules,
        progress,
        now,
        shown,
        active_only,
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
        locales: Vec::new(),
        rules,
        progress,
        now,
        shown,
        active_only: false,
    })
}

/// A goal as the player has it now.
#[derive(Debug, Clone)]
pub struct PlayerGoal {
    pub goal: CompiledGoal,
    pub view: GoalView,
}

/// What initialize did.
#[derive(Debug)]
pub struct Initialized {
    /// Every default goal of the visible challenges, as the player has it now.
    pub assigned: Vec<PlayerGoal>,
    /// How many of them this call assigned.
    pub new_assignments: usize,
    /// The player's active goals, in every challenge.
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
        .filter(|g| g.assign == engine::Assign::Default && !g.is_retired(now))
        .collect();
    let inserted = ctx
        .players
        .initialize_for_user(user, &ctx.namespace, &defaults, now)
        .await?;
    let progress = PlayerRows::load(ctx.players.as_ref(), user, false, now).await?;
    let total_active = ctx.players.count_active_for_user(user, None).await?;
    Ok(Initialized {
        assigned: defaults
            .iter()
            .map(|g| PlayerGoal {
                goal: (*g).clone(),
                view: progress.view(g),
            })
            .collect(),
        new_assignments: inserted.len(),
        total_active,
    })
}

/// A rotation period: from `start` up to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// The period of `rotation` that holds `at`.
    pub fn of(rotation: &Rotation, at: DateTime<Utc>) -> Self {
        Self {
            start: rotation.start_of(at),
            end: rotation.next_start(at),
        }
    }
}

/// A rotation's periods around now.
#[derive(Debug, Clone, Copy)]
pub struct Rotating {
    pub every: engine::period::Period,
    pub calendar: engine::period::Calendar,
    pub current: Window,
    pub next: Window,
}

/// A challenge's rotation.
#[derive(Debug)]
pub struct RotationStatus {
    pub challenge_id: ChallengeId,
    /// None: neither the challenge nor any of its goals rotates.
    pub rotating: Option<Rotating>,
    pub now: DateTime<Utc>,
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
    Ok(RotationStatus {
        challenge_id: found.id.clone(),
        rotating: rotation.map(|r| {
            let current = Window::of(&r, now);
            Rotating {
                every: r.every,
                calendar: r.calendar,
                current,
                next: Window::of(&r, current.end),
            }
        }),
        now,
    })
}

/// Why the player's goal is where it is.
#[derive(Debug)]
pub struct Explanation {
    pub goal: CompiledGoal,
    pub view: GoalView,
    /// Whether the player has a row of the goal.
    pub assigned: bool,
    /// The prerequisites the player has not done yet.
    pub locked_by: Vec<GoalId>,
    /// When an event last changed the player's row (none: never).
    pub last_matching_event_at: Option<DateTime<Utc>>,
    /// The goal's rotation and its current period.
    pub rotation: Option<(Rotation, Window)>,
    /// The player's last archived events that reached the goal's kind and stat code, newest
    /// first, with what each did to the goal (empty when the player is not archived).
    pub recent_events: Vec<RecentEvent>,
    /// The content hash of the rules in use now.
    pub content_hash: String,
    /// The recorded rule sets the recent events were applied under: (hash, loaded at).
    pub rule_sets: Vec<(String, DateTime<Utc>)>,
}

/// An archived event that reached a goal's (kind, stat code), and what it did to the goal,
/// found by replaying the player's archived history under the current rules.
#[derive(Debug)]
pub struct RecentEvent {
    pub event: Event,
    pub trace: GoalResult,
    /// The content hash of the rules it was applied under (`None`: archived before versions
    /// were recorded).
    pub applied_under: Option<String>,
    /// What it did to the goal under those rules, when they are not the current ones and are
    /// recorded: the player's history replayed under them.
    pub applied_outcome: Option<GoalResult>,
}

/// A player's archived events explain replays (their latest), and how many it shows.
const EXPLAIN_HISTORY: i64 = 5_000;
const RECENT_EVENTS: usize = 20;

/// The last events of `user`'s archive that reached `goal_id`, newest first, each with the
/// rules it was applied under and, when those were older rules, what it did under them; and
/// the recorded rule sets they name.
async fn recent_events(
    ctx: &Context,
    user: &UserId,
    rules: &Arc<RuleSet>,
    goal_id: &str,
) -> Result<(Vec<RecentEvent>, Vec<(String, DateTime<Utc>)>), Error> {
    let history = super::history::replay(ctx, user, rules, EXPLAIN_HISTORY, None).await?;
    let of_goal = |result: engine::simulate::EventResult| {
        result.goals.into_iter().find(|g| g.goal_id == goal_id)
    };
    let mut recent: Vec<RecentEvent> = (history.now.into_iter())
        .zip(history.then)
        .zip(history.events.into_iter().zip(history.under))
        .filter_map(|((now, then), (event, applied_under))| {
            Some(RecentEvent {
                trace: of_goal(now)?,
                applied_outcome: then.and_then(of_goal),
                event,
                applied_under,
            })
        })
        .collect();
    recent.reverse();
    recent.truncate(RECENT_EVENTS);
    Ok((recent, history.rule_sets))
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
    let locked_by: Vec<GoalId> = found
        .requires
        .iter()
        .filter(|r| !status_of(r).is_some_and(engine::Status::is_done))
        .cloned()
        .collect();
    let row = progress.row(&found.id);
    let (recent_events, rule_sets) = recent_events(ctx, user, &rules, goal_id).await?;
    Ok(Explanation {
        content_hash: rules.info.content_hash.clone(),
        rule_sets,
        goal: found.clone(),
        assigned: row.is_some(),
        locked_by,
        // A row untouched since it was assigned names no event; one an event created (an
        // `assign: auto` goal's) or moved does.
        last_matching_event_at: row
            .filter(|r| {
                r.state.updated_at > r.state.created_at
                    || r.state.progress != 0
                    || r.state.status != engine::Status::NotStarted
            })
            .map(|r| r.state.updated_at),
        rotation: found.rotation.map(|r| (r, Window::of(&r, now))),
        view,
        recent_events,
    })
}
