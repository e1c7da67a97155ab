//! The designers' answers: lint, simulate, and the console's rules overview and replay, each
//! built once from its use-case's result.

use challenge_lint::JsonDiagnostic;
use engine::simulate::EventResult;
use engine::{CompiledChallenge, CompiledGoal, Reward, RuleSet};
use serde::Serialize;

use super::time;
use crate::usecases::designers::{Deployed, EditReplay, Simulation};

/// A draft's diagnostics, as `challenge-lint --format json` writes them.
fn diagnostics(diagnostics: &[engine::Diagnostic]) -> Vec<JsonDiagnostic<'_>> {
    diagnostics.iter().map(JsonDiagnostic::of).collect()
}

/// What lint found in a draft.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Lint)]
pub struct LintJson<'a> {
    /// `{code, severity, message, file, line, column, hint}`, as `lint --format json`.
    #[schema(value_type = Vec<Object>)]
    pub diagnostics: Vec<JsonDiagnostic<'a>>,
    pub errors: usize,
    pub warnings: usize,
}

impl<'a> LintJson<'a> {
    pub fn of(compiled: &'a engine::Compiled) -> Self {
        Self {
            diagnostics: diagnostics(&compiled.diagnostics),
            errors: compiled.errors(),
            warnings: compiled.warnings(),
        }
    }
}

/// Events applied in order to fresh players, and what each did to every goal listening.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Simulation)]
pub struct SimulationJson<'a> {
    #[schema(value_type = Vec<Object>)]
    pub diagnostics: Vec<JsonDiagnostic<'a>>,
    /// `{eventId, userId, goals: [{challengeId, goalId, matched, when, fields, progressBefore,
    /// progressAfter, statusBefore, statusAfter, reason}]}` per event.
    #[schema(value_type = Vec<Object>)]
    pub results: &'a [EventResult],
    /// What the goals the events completed grant once claimed, per reward id (`{type,
    /// rewardId, amount}`, a table at its expected value); each completing goal result also
    /// carries its own `rewards`.
    #[schema(value_type = Vec<Object>)]
    pub rewards: Vec<engine::rewards::ExpectedReward>,
}

impl<'a> From<&'a Simulation> for SimulationJson<'a> {
    fn from(simulation: &'a Simulation) -> Self {
        Self {
            diagnostics: diagnostics(&simulation.diagnostics),
            results: &simulation.results,
            rewards: engine::simulate::rewards_granted(&simulation.results),
        }
    }
}

/// An edited file replayed against the deployed rules.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EditReplay)]
pub struct EditReplayJson<'a> {
    #[schema(value_type = Vec<Object>)]
    pub diagnostics: Vec<JsonDiagnostic<'a>>,
    /// `{players, events, goals: [...]}`, as `service replay --format json`; null when the edit
    /// does not compile.
    #[schema(value_type = Option<Object>)]
    pub report: Option<&'a engine::replay::ReplayReport>,
    /// Expressions that failed to evaluate (absent when nothing was replayed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_expressions: Option<FailedExpressions>,
}

/// Expressions that failed to evaluate, under the deployed rules and under the edit.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FailedExpressions {
    pub before: u64,
    pub after: u64,
}

impl<'a> From<&'a EditReplay> for EditReplayJson<'a> {
    fn from(edit: &'a EditReplay) -> Self {
        let replayed = edit.replayed.as_ref();
        Self {
            diagnostics: diagnostics(&edit.diagnostics),
            report: replayed.map(|r| &r.report),
            failed_expressions: replayed.map(|r| FailedExpressions {
                before: r.failed_expressions.0,
                after: r.failed_expressions.1,
            }),
        }
    }
}

/// The deployed rules at a glance.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RulesOverview)]
pub struct OverviewJson<'a> {
    pub content_hash: &'a str,
    pub loaded_at: String,
    pub files: Vec<FileJson<'a>>,
    pub challenges: Vec<ChallengeRulesJson<'a>>,
}

/// A deployed file and its text.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FileJson<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// A challenge's rules.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChallengeRulesJson<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub tags: &'a [String],
    /// Null when the challenge runs always.
    pub schedule: Option<ScheduleJson>,
    pub rotation: Option<RotationRulesJson>,
    pub goals: Vec<GoalRulesJson<'a>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ScheduleJson {
    /// "" when open.
    pub start: String,
    /// "" when open.
    pub end: String,
    /// The days events count on (`mon` … `sun`); empty: every day.
    pub days: Vec<&'static str>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationRulesJson {
    pub every: &'static str,
    pub timezone: &'static str,
    pub reset_at: String,
    pub reset_progress: bool,
    pub allow_reselection: bool,
}

/// A goal's rule, reward, prerequisites and the rule tests that check it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GoalRulesJson<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub tags: &'a [String],
    pub on: &'static str,
    pub stats: &'a [String],
    pub when: Option<&'a str>,
    pub count: &'static str,
    pub amount: Option<&'a str>,
    /// `count: expr`'s `progress:` expression.
    pub progress: Option<&'a str>,
    /// `count: value` shows the increase since the period's baseline.
    pub relative: bool,
    pub target: i64,
    pub assign: &'static str,
    /// The first part of what it grants (a table's most likely entry).
    pub reward: Option<RewardRulesJson<'a>>,
    /// Every part, a table's with the odds of each entry (empty: no reward).
    pub rewards: Vec<super::RewardPartJson>,
    /// `claim: auto`: granted as it completes.
    #[serde(rename = "autoClaim")]
    pub auto_claim: bool,
    pub requires: Vec<&'a str>,
    /// The goal's own rotation, where it differs from its challenge's (null: the challenge's).
    pub rotation: Option<RotationRulesJson>,
    /// When the goal was retired (`retired:`); null when it is not.
    pub retired: Option<String>,
    pub tests: Vec<RuleTestJson>,
}

/// A goal's reward as the rules write it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum RewardRulesJson<'a> {
    Wallet {
        currency: &'a str,
        amount: i64,
    },
    #[serde(rename_all = "camelCase")]
    Item {
        item_id: &'a str,
        quantity: i64,
    },
}

/// A rule test (every deployed one passed: rules whose tests fail are not deployed).
#[derive(Serialize, utoipa::ToSchema)]
pub struct RuleTestJson {
    pub name: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub passed: bool,
}

impl<'a> From<&'a Deployed> for OverviewJson<'a> {
    fn from(deployed: &'a Deployed) -> Self {
        let rules = &deployed.rules;
        let tests = rules.test_summaries();
        Self {
            content_hash: &rules.info.content_hash,
            loaded_at: time(Some(rules.info.loaded_at)),
            files: (deployed.files.iter())
                .map(|(name, text)| FileJson { name, text })
                .collect(),
            challenges: (rules.challenges().iter())
                .map(|challenge| ChallengeRulesJson::of(rules, challenge, &tests))
                .collect(),
        }
    }
}

impl<'a> ChallengeRulesJson<'a> {
    fn of(
        rules: &'a RuleSet,
        challenge: &'a CompiledChallenge,
        tests: &[engine::ruleset::TestSummary],
    ) -> Self {
        let schedule = challenge.schedule;
        Self {
            id: challenge.id.as_str(),
            name: &challenge.name,
            description: &challenge.description,
            tags: &challenge.tags,
            schedule: (schedule.start.is_some()
                || schedule.end.is_some()
                || !schedule.days.is_all())
            .then(|| ScheduleJson {
                start: time(schedule.start),
                end: time(schedule.end),
                days: day_names(schedule.days),
            }),
            rotation: challenge.rotation.map(RotationRulesJson::of),
            goals: (rules.goals_of(challenge))
                .map(|goal| GoalRulesJson::of(goal, challenge.rotation, tests))
                .collect(),
        }
    }
}

impl RotationRulesJson {
    fn of(rotation: engine::ruleset::Rotation) -> Self {
        Self {
            every: rotation.every.as_str(),
            timezone: rotation.calendar.timezone(),
            reset_at: rotation.calendar.reset_at(),
            reset_progress: rotation.reset_progress,
            allow_reselection: rotation.allow_reselection,
        }
    }
}

impl<'a> GoalRulesJson<'a> {
    fn of(
        goal: &'a CompiledGoal,
        challenge_rotation: Option<engine::ruleset::Rotation>,
        tests: &[engine::ruleset::TestSummary],
    ) -> Self {
        Self {
            id: goal.id.as_str(),
            name: &goal.name,
            description: &goal.description,
            tags: &goal.tags,
            on: goal.on.as_str(),
            stats: &goal.stats,
            when: goal.when.as_ref().map(|e| e.text.as_str()),
            count: goal.count.as_str(),
            amount: goal.amount.as_ref().map(|e| e.text.as_str()),
            progress: goal.progress.as_ref().map(|e| e.text.as_str()),
            relative: goal.relative,
            target: goal.target,
            assign: match goal.assign {
                engine::Assign::Default => "default",
                engine::Assign::Manual => "manual",
                engine::Assign::Auto => "auto",
            },
            reward: goal.rewards.headline().map(|reward| match reward {
                Reward::Wallet { currency, amount } => RewardRulesJson::Wallet {
                    currency,
                    amount: *amount,
                },
                Reward::Item { item_id, quantity } => RewardRulesJson::Item {
                    item_id,
                    quantity: *quantity,
                },
            }),
            rewards: super::RewardPartJson::all(&goal.rewards),
            auto_claim: goal.auto_claim,
            requires: goal.requires.iter().map(|g| g.as_str()).collect(),
            rotation: (goal.rotation != challenge_rotation)
                .then_some(goal.rotation)
                .flatten()
                .map(RotationRulesJson::of),
            retired: goal.retired.map(|at| time(Some(at))),
            tests: (tests.iter())
                .filter(|t| t.goals.contains(&goal.id))
                .map(|t| RuleTestJson {
                    name: t.name.clone(),
                    file: t.file.file_name().map(|n| n.to_string_lossy().into_owned()),
                    line: t.line,
                    passed: true,
                })
                .collect(),
        }
    }
}

/// The schedule's days as written (`mon` … `sun`); empty for every day.
fn day_names(days: engine::ruleset::Weekdays) -> Vec<&'static str> {
    if days.is_all() {
        return Vec::new();
    }
    days.iter()
        .map(|day| match day {
            chrono::Weekday::Mon => "mon",
            chrono::Weekday::Tue => "tue",
            chrono::Weekday::Wed => "wed",
            chrono::Weekday::Thu => "thu",
            chrono::Weekday::Fri => "fri",
            chrono::Weekday::Sat => "sat",
            chrono::Weekday::Sun => "sun",
        })
        .collect()
}
