//! The compiled, immutable rule set: goals with their compiled expressions, and the routing
//! index from (event kind, stat code) to the goals that listen.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::{AST, Engine};

use crate::event::Event;
use crate::ids::{ChallengeId, GoalId};
use crate::locale::Texts;
use crate::model::{Assign, CountMode, EventKind};
use crate::rhai_env::{self, EvalError, ExprScope};
use crate::rule_tests::CompiledTest;

/// A Rhai expression compiled once at load, with its source text for display.
#[derive(Debug, Clone)]
pub struct CompiledExpr {
    pub text: String,
    pub(crate) ast: AST,
    /// Its comparisons of payload fields with literals: a false predicate on a payload whose
    /// value has another type is an evaluation error, not a silent `false`.
    pub(crate) literals: Vec<crate::literal_types::LiteralComparison>,
}

/// A reward as AGS Platform grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reward {
    /// Credit `amount` of virtual currency `currency` to the player's wallet.
    Wallet { currency: String, amount: i64 },
    /// Grant `quantity` of the item `item_id` as an entitlement.
    Item { item_id: String, quantity: i64 },
}

pub use crate::schedule::{DEFAULT_CLAIM_GRACE, EarlierPeriods, Rotation, Schedule, Weekdays};

/// A goal ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledGoal {
    pub id: GoalId,
    pub challenge_id: ChallengeId,
    /// In the file's default locale.
    pub name: String,
    pub description: String,
    /// The name and description in other locales.
    pub texts: Texts,
    pub tags: Vec<String>,
    pub on: EventKind,
    /// Stat codes listened to (empty for login goals that name none).
    pub stats: Vec<String>,
    pub when: Option<CompiledExpr>,
    pub count: CountMode,
    /// `count: value` shows the increase since the period's baseline rather than the value.
    pub relative: bool,
    pub amount: Option<CompiledExpr>,
    pub progress: Option<CompiledExpr>,
    pub target: i64,
    pub assign: Assign,
    /// What claiming it grants (empty: nothing).
    pub rewards: crate::rewards::Rewards,
    /// `claim: auto`: the service claims it for the player when it completes.
    pub auto_claim: bool,
    pub requires: Vec<GoalId>,
    pub rotation: Option<Rotation>,
    /// The challenge's schedule, ending at the goal's `retired` time when that is earlier.
    pub schedule: Schedule,
    /// When the goal was retired (`retired:`): it no longer counts or is offered from then.
    pub retired: Option<DateTime<Utc>>,
}

impl CompiledGoal {
    /// The name a player who prefers `locales` (see `locale::preferences`) reads.
    pub fn name_in(&self, locales: &[String]) -> &str {
        self.texts.name.pick(locales, &self.name)
    }

    pub fn description_in(&self, locales: &[String]) -> &str {
        self.texts.description.pick(locales, &self.description)
    }

    /// Whether the goal is retired at `at`: it counts nothing and is not offered any more.
    pub fn is_retired(&self, at: DateTime<Utc>) -> bool {
        self.retired.is_some_and(|retired| at >= retired)
    }

    /// Whether the goal is shown at `at`: not retired, or retired within the claim grace (its
    /// completed rewards can still be claimed).
    pub fn is_shown(&self, at: DateTime<Utc>) -> bool {
        !self.is_retired(at) || self.schedule.claimable(at)
    }
}

/// A challenge and its goals (indices into the rule set's goal list, in file order).
#[derive(Debug, Clone)]
pub struct CompiledChallenge {
    pub id: ChallengeId,
    /// In the file's default locale.
    pub name: String,
    pub description: String,
    /// The name and description in other locales.
    pub texts: Texts,
    pub tags: Vec<String>,
    pub schedule: Schedule,
    pub rotation: Option<Rotation>,
    pub goals: Vec<usize>,
}

impl CompiledChallenge {
    /// The name a player who prefers `locales` reads.
    pub fn name_in(&self, locales: &[String]) -> &str {
        self.texts.name.pick(locales, &self.name)
    }

    pub fn description_in(&self, locales: &[String]) -> &str {
        self.texts.description.pick(locales, &self.description)
    }
}

/// Where a rule set came from and when it was built.
#[derive(Debug, Clone)]
pub struct RuleSetInfo {
    /// SHA-256 of the files' names and contents.
    pub content_hash: String,
    pub loaded_at: DateTime<Utc>,
    pub files: Vec<PathBuf>,
    /// Each file's text as compiled, in the order of `files` (recorded with the rule set's
    /// version, so what an archived event was applied under can be read back).
    pub texts: Vec<String>,
}

/// The result of routing one event: goals whose `when` held, and evaluation errors (which
/// count as "no match" for that goal only).
#[derive(Debug, Default)]
pub struct Routed<'a> {
    pub matched: Vec<&'a CompiledGoal>,
    pub errors: Vec<(&'a CompiledGoal, EvalError)>,
}

/// An immutable, compiled rule set. Hot reload builds a new one and swaps it in whole.
pub struct RuleSet {
    pub(crate) engine: Arc<Engine>,
    pub(crate) challenges: Vec<CompiledChallenge>,
    pub(crate) goals: Vec<CompiledGoal>,
    goal_index: HashMap<GoalId, usize>,
    challenge_index: HashMap<ChallengeId, usize>,
    /// Per event kind: stat code (empty for login) → goal indices.
    routes: [HashMap<Box<str>, Vec<usize>>; 2],
    pub(crate) tests: Vec<CompiledTest>,
    pub info: RuleSetInfo,
    /// Every locale a name or description is written in (lowercase, sorted): what a player's
    /// `Accept-Language` is matched against.
    pub locales: Vec<String>,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("challenges", &self.challenges.len())
            .field("goals", &self.goals.len())
            .field("info", &self.info)
            .finish()
    }
}

impl RuleSet {
    pub(crate) fn new(
        engine: Arc<Engine>,
        challenges: Vec<CompiledChallenge>,
        goals: Vec<CompiledGoal>,
        info: RuleSetInfo,
    ) -> Self {
        let goal_index = goals
            .iter()
            .enumerate()
            .map(|(index, goal)| (goal.id.clone(), index))
            .collect();
        let challenge_index = challenges
            .iter()
            .enumerate()
            .map(|(index, challenge)| (challenge.id.clone(), index))
            .collect();
        let mut routes: [HashMap<Box<str>, Vec<usize>>; 2] = Default::default();
        for (index, goal) in goals.iter().enumerate() {
            let table = &mut routes[goal.on.index()];
            match goal.on {
                EventKind::Login => table.entry("".into()).or_default().push(index),
                EventKind::Stat => {
                    for stat in &goal.stats {
                        let entry = table.entry(stat.as_str().into()).or_default();
                        if entry.last() != Some(&index) {
                            entry.push(index);
                        }
                    }
                }
            }
        }
        let mut locales: Vec<String> = (challenges.iter().map(|c| &c.texts))
            .chain(goals.iter().map(|g| &g.texts))
            .flat_map(|texts| texts.name.locales().chain(texts.description.locales()))
            .map(str::to_string)
            .collect();
        locales.sort();
        locales.dedup();
        Self {
            engine,
            challenges,
            goals,
            goal_index,
            challenge_index,
            routes,
            tests: Vec::new(),
            info,
            locales,
        }
    }

    /// Every challenge, in file order.
    pub fn challenges(&self) -> &[CompiledChallenge] {
        &self.challenges
    }

    /// Every goal, in file order.
    pub fn goals(&self) -> &[CompiledGoal] {
        &self.goals
    }

    /// Where a goal is in [`RuleSet::goals`].
    pub fn position(&self, id: &str) -> Option<usize> {
        self.goal_index.get(id).copied()
    }

    pub fn goal(&self, id: &str) -> Option<&CompiledGoal> {
        self.goal_index.get(id).map(|&index| &self.goals[index])
    }

    pub fn challenge(&self, id: &str) -> Option<&CompiledChallenge> {
        self.challenge_index
            .get(id)
            .map(|&index| &self.challenges[index])
    }

    /// The goals of a challenge, in file order.
    pub fn goals_of<'a>(
        &'a self,
        challenge: &'a CompiledChallenge,
    ) -> impl Iterator<Item = &'a CompiledGoal> {
        challenge.goals.iter().map(|&index| &self.goals[index])
    }

    /// Goals listening to this event's kind and stat code, before any predicate runs. The cost
    /// depends on the number of listeners, not on the size of the rule set.
    pub fn candidates<'a>(&'a self, event: &Event) -> impl Iterator<Item = &'a CompiledGoal> {
        self.positioned_candidates(event).map(|(_, goal)| goal)
    }

    /// [`RuleSet::candidates`] with each goal's position in [`RuleSet::goals`].
    pub fn positioned_candidates<'a>(
        &'a self,
        event: &Event,
    ) -> impl Iterator<Item = (usize, &'a CompiledGoal)> {
        let key = match event.kind {
            EventKind::Login => "",
            EventKind::Stat => event.stat_code.as_deref().unwrap_or(""),
        };
        self.routes[event.kind.index()]
            .get(key)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|&index| (index, &self.goals[index]))
    }

    /// Routes an event: candidates whose `when` predicate holds. A predicate that fails to
    /// evaluate is reported in `errors` and does not match; it never fails the event.
    pub fn route(&self, event: &Event) -> Routed<'_> {
        let mut routed = Routed::default();
        for goal in self.candidates(event) {
            match self.matches(goal, event) {
                Ok(true) => routed.matched.push(goal),
                Ok(false) => {}
                Err(err) => routed.errors.push((goal, err)),
            }
        }
        routed
    }

    /// Whether `goal`'s predicate holds for `event` (true when it has none).
    pub fn matches(&self, goal: &CompiledGoal, event: &Event) -> Result<bool, EvalError> {
        let Some(expr) = &goal.when else {
            return Ok(true);
        };
        if rhai_env::eval_bool(&self.engine, &expr.ast, event)? {
            return Ok(true);
        }
        // Rhai compares text with a number as `false` in silence: say so (the event does not
        // count either way), so it is counted, logged and explained.
        match crate::literal_types::first_mismatch(&expr.literals, event) {
            Some(mismatch) => Err(mismatch),
            None => Ok(false),
        }
    }

    pub(crate) fn eval_number(
        &self,
        expr: &CompiledExpr,
        scope: ExprScope,
        event: &Event,
        progress: i64,
    ) -> Result<i64, EvalError> {
        rhai_env::eval_int(&self.engine, &expr.ast, scope, event, progress)
    }

    /// Number of embedded rule tests.
    pub fn test_count(&self) -> usize {
        self.tests.len()
    }

    /// The rule tests of this rule set (all of them passed, or it would not have compiled):
    /// name, file, 1-based line, and the goals each one checks.
    pub fn test_summaries(&self) -> Vec<TestSummary> {
        self.tests.iter().map(CompiledTest::summary).collect()
    }
}

/// A rule test, as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSummary {
    pub name: String,
    pub file: PathBuf,
    pub line: Option<usize>,
    pub goals: Vec<GoalId>,
}
