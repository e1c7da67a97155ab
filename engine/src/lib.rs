//! Challenge Engine's rule engine: the challenge DSL (YAML and the reference implementation's
//! legacy JSON), compiled once into an immutable [`RuleSet`]; event routing; the progress state
//! machine ([`RuleSet::apply`], the single implementation of progress semantics); rule tests;
//! lint diagnostics; and hot reload. Pure on the evaluation path: no database, no network.

pub mod calendar_changes;
pub mod clock;
pub mod compile;
pub mod diagnostic;
pub mod event;
pub mod expiry;
pub mod ids;
mod literal_types;
pub mod locale;
pub mod model;
pub mod period;
pub mod progress;
pub mod reload;
pub mod replay;
pub mod rewards;
mod rhai_env;
mod rhai_missing;
pub mod rule_tests;
pub mod ruleset;
pub mod schedule;
pub mod simulate;
pub mod source;
pub mod support;
pub mod watch;

pub use clock::Clock;
pub use compile::{CompileOptions, Compiled, compile, compile_with};
pub use diagnostic::{Code, Diagnostic, Pos, Severity};
pub use event::{Event, EventData, EventKind, Payload};
pub use expiry::ExpiryPolicy;
pub use ids::{ChallengeId, GoalId, UserId};
pub use model::Assign;
pub use progress::{Applied, ClaimRefusal, GoalView, ProgressState, Skip, Status};
pub use reload::RuleSetHandle;
pub use rewards::{RewardPart, Rewards};
pub use rhai_env::EvalError;
pub use ruleset::{CompiledChallenge, CompiledGoal, Reward, Rotation, RuleSet, Schedule};
pub use source::{SourceFile, Sources, read_sources};

/// Reads and compiles the challenge files at `paths` (folders or files).
pub fn load(paths: &[std::path::PathBuf]) -> Result<Compiled, source::SourceError> {
    let sources = read_sources(paths)?;
    Ok(compile(&sources))
}
