//! The challenge file format as designers write it (YAML), before validation and compilation.
//! These types also generate the JSON Schema shipped for editors, so the two never drift.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod parts;
pub use parts::{DayName, FieldType, StatDef, TextDef};

/// One challenge file: `version: 1` and a list of challenges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Challenge Engine challenge file")]
pub struct ChallengeFile {
    /// Format version; only `1` exists.
    #[serde(default = "default_version")]
    pub version: u32,
    /// The locale answers fall back to when a player's `Accept-Language` matches none of a
    /// text's locales, and the one a plain (unlocalized) text is in: default `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_locale: Option<String>,
    /// The payload each stat's events carry, by stat code: lint then checks every
    /// `event.additional.…` a goal of this file reads on those stats, for typos and types.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, StatDef>,
    #[serde(default)]
    pub challenges: Vec<ChallengeDef>,
}

fn default_version() -> u32 {
    1
}

/// A challenge: a named group of goals, optionally scheduled and rotating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeDef {
    /// `[a-z0-9][a-z0-9_-]{0,99}`, unique across the folder.
    pub id: String,
    pub name: TextDef,
    #[serde(default, skip_serializing_if = "TextDef::is_empty")]
    pub description: TextDef,
    /// Outside this window the challenge is hidden and its events do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleDef>,
    /// Default rotation of every goal of the challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationDef>,
    /// The IANA time zone the challenge's days are counted in, e.g. `America/New_York`
    /// (default `UTC`): day boundaries of `count: days` and `streak`, `schedule.days` and
    /// rotation periods all fall at its local time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Labels a game client filters the list by (`GET /v1/challenges?tags=pvp`): letters,
    /// digits, `_`, `-`, `.`, `:`, at most 64 characters each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub goals: Vec<GoalDef>,
    /// Rule tests, run by `lint` and before every (re)load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestDef>,
}

/// A time window (RFC 3339 instants), optionally only on some days of the week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDef {
    /// Events count only on these days, in the challenge's time zone (from its reset time):
    /// e.g. `[sat, sun]` for weekends. Default: every day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<DayName>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// How long after `end` completed rewards can still be claimed (and the challenge read),
    /// e.g. `3d`; default `7d`, `0s` for none. Events stop counting at `end` regardless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_grace: Option<String>,
}

/// Global rotation: every player shares the same periods (in the challenge's time zone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotationDef {
    pub every: Period,
    /// The local time periods (and the challenge's days) start at, `HH:MM`, e.g. `"04:00"`;
    /// default `"00:00"`. Weekly periods start on Monday at it, monthly on the 1st.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Start each period from zero (default true).
    #[serde(default = "default_true")]
    pub reset_progress: bool,
    /// A claimed goal can be completed and claimed again in a later period (default false).
    #[serde(default)]
    pub allow_reselection: bool,
}

fn default_true() -> bool {
    true
}

/// Rotation period length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
}

/// The kinds of event a goal can listen to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Stat,
    Login,
}

impl EventKind {
    pub const ALL: [EventKind; 2] = [EventKind::Stat, EventKind::Login];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Stat => "stat",
            EventKind::Login => "login",
        }
    }

    /// The kind `as_str` names.
    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// How progress counts; see the DSL reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CountMode {
    Value,
    Events,
    Sum,
    Max,
    Days,
    /// Consecutive days with a matching event; a day without one starts it again.
    Streak,
    Expr,
}

impl CountMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CountMode::Value => "value",
            CountMode::Events => "events",
            CountMode::Sum => "sum",
            CountMode::Max => "max",
            CountMode::Days => "days",
            CountMode::Streak => "streak",
            CountMode::Expr => "expr",
        }
    }
}

/// How a goal reaches a player.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Assign {
    /// Assigned by `initialize`.
    #[default]
    Default,
    /// Selected by the player (set-active, batch-select, random-select).
    Manual,
    /// Needs no assignment: the first matching event creates the progress row.
    Auto,
}

/// A stat code or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one.clone()],
            OneOrMany::Many(many) => many.clone(),
        }
    }
}

/// A goal: what a player must do, how it counts, and what it pays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalDef {
    /// Unique across ALL challenges.
    pub id: String,
    pub name: TextDef,
    #[serde(default, skip_serializing_if = "TextDef::is_empty")]
    pub description: TextDef,
    /// Labels shown with the goal (the list is filtered by challenge tags only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The event kind this goal listens to.
    pub on: EventKind,
    /// Stat code(s) this goal listens to (required for `on: stat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<OneOrMany>,
    /// Rhai predicate; the event counts only when it is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Counting mode; default `value` for `on: stat`, `events` for `on: login`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<CountMode>,
    /// `count: value` only: count the increase since the period's first event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative: Option<bool>,
    /// Rhai expression for `count: sum` (default `event.inc`) and `count: max` (default `event.value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// Rhai expression computing the new progress for `count: expr` (`progress` is the previous one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// Progress needed to complete, at least 1.
    pub target: i64,
    #[serde(default, skip_serializing_if = "is_default_assign")]
    pub assign: Assign,
    /// What claiming the goal grants: one reward, or a weighted table (`one_of`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<RewardDef>,
    /// Several rewards granted together (a bundle), each a reward or a weighted table; instead
    /// of `reward`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewards: Option<Vec<RewardDef>>,
    /// `auto`: the reward is granted when the goal completes (once its prerequisites are met),
    /// with no claim from the player; `player` (the default): the player claims it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<ClaimMode>,
    /// Goals (of any challenge) to complete before this one can be claimed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// Overrides the challenge's rotation for this goal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationDef>,
    /// Retires the goal from this time (RFC 3339) instead of deleting it: from then on it stops
    /// counting and is no longer offered; rewards completed before stay claimable for the
    /// challenge's claim grace after it. A goal players hold progress on cannot simply be
    /// removed from the files (the reload is refused): retire it, and delete it after the grace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<DateTime<Utc>>,
}

fn is_default_assign(assign: &Assign) -> bool {
    *assign == Assign::Default
}

/// Who claims a completed goal's reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimMode {
    /// The player claims it (the default).
    Player,
    /// The service claims it for the player when the goal completes.
    Auto,
}

/// A reward: `{wallet, amount}` (virtual currency), `{item, quantity}` (entitlement), or
/// `{one_of: [...]}`, a table whose entries (each with a `weight`) are drawn by weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RewardDef {
    /// A weighted table: one entry is drawn when the claim starts, by `weight`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<RewardDef>>,
    /// An entry's weight in its `one_of` table, at least 1: its chance is its weight over the
    /// table's total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    /// Currency code of a wallet reward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<String>,
    /// Amount of a wallet reward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    /// Item id of an item reward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// Quantity of an item reward (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
}

/// A rule test: start from `given`, apply `events` in order on a fake clock, check `expect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestDef {
    pub name: String,
    /// Starting state per goal id: a status name, or `{status, progress, active}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub given: BTreeMap<String, GivenState>,
    #[serde(default)]
    pub events: Vec<TestStep>,
    /// Expected state per goal id after the last event.
    pub expect: BTreeMap<String, Expectation>,
}

/// A goal's state at the start of a test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum GivenState {
    Status(StatusName),
    Detailed(GivenDetail),
}

/// A goal's detailed starting state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GivenDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// Progress status names as written in files and shown by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusName {
    NotStarted,
    InProgress,
    Completed,
    Claimed,
}

/// One step of a test: an event (`kind`, `stat`, `value`, `inc`, `additional`) at a time
/// (`at`, or `advance` the clock first), or only a clock move.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestStep {
    /// Event kind; default `stat` when `stat` is given, else `login`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<EventKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<String>,
    /// The stat's new value; default: previous value + `inc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The increase; default: `value` minus the previous value of the same stat in this test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional: Option<serde_json::Map<String, serde_json::Value>>,
    /// Set the clock before this step: a local time of the challenge's time zone
    /// (`2026-05-09T04:00:00`, `2026-05-09 04:00`) or an instant with its offset (RFC 3339:
    /// `2026-05-09T08:00:00Z`, `2026-05-09T04:00:00-04:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Move the clock forward before this step: `30m`, `12h`, `1d`, `1w`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advance: Option<String>,
}

/// What a test expects of one goal; only the fields given are checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
}

/// The JSON Schema of a challenge file, as shipped in `docs/challenge.schema.json`.
pub fn json_schema() -> serde_json::Value {
    serde_json::Value::from(schemars::schema_for!(ChallengeFile))
}

/// Property names a mapping of type `T` accepts, read from its schema.
pub(crate) fn known_keys<T: JsonSchema>() -> Vec<String> {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    schema
        .get("properties")
        .and_then(|props| props.as_object())
        .map(|props| props.keys().cloned().collect())
        .unwrap_or_default()
}
