//! Hot reload: the current rule set behind an atomic pointer, rebuilt off the request path
//! when the challenge files change. A broken edit never replaces a working rule set.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use notify_debouncer_full::notify;

use crate::calendar_changes::CalendarHistory;
use crate::compile::{CompileOptions, compile_with};
use crate::diagnostic::{Code, Diagnostic};
use crate::ids::GoalId;
use crate::ruleset::RuleSet;
use crate::source::{SourceError, read_sources};
pub use crate::watch::RuleWatcher;

/// Why the first load failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("the challenge files have {} error(s)", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
}

/// What operators see about the loaded rules (status endpoint, metrics, logs).
#[derive(Debug, Clone)]
pub struct ReloadStatus {
    pub content_hash: String,
    pub loaded_at: DateTime<Utc>,
    pub files: Vec<PathBuf>,
    pub challenges: usize,
    pub goals: usize,
    /// Successful swaps since start (the first load not counted).
    pub reloads: u64,
    /// Failed reload attempts since start.
    pub failures: u64,
    /// The latest failure, cleared by the next successful load or by the files going back to
    /// the rules in use.
    pub last_error: Option<ReloadFailure>,
    /// The content hash of the files that failed last (reading them again is not news).
    failed_hash: Option<String>,
}

/// A failed reload: when, and the diagnostics that kept the old rule set in place.
#[derive(Debug, Clone)]
pub struct ReloadFailure {
    pub at: DateTime<Utc>,
    pub message: String,
    pub diagnostics: Vec<Diagnostic>,
}

/// What a reload attempt did.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// Same content hash as the rule set in use: nothing to do.
    Unchanged,
    /// A new rule set is in use.
    Swapped,
    /// The files are broken; the old rule set stays.
    Failed(ReloadFailure),
    /// After a failure, the files are back to the rule set in use: the error is cleared.
    Restored,
}

/// Whether a watch event changes the files. Reading them (ours included, on every reload) is
/// not a change: reacting to it would re-read the folder forever.
pub fn is_change(event: &notify::Event) -> bool {
    !matches!(event.kind, notify::EventKind::Access(_))
}

/// The rule set in use, shared by every request; swapped atomically on reload.
pub struct RuleSetHandle {
    paths: Vec<PathBuf>,
    current: ArcSwap<RuleSet>,
    status: Mutex<ReloadStatus>,
    /// Which of the given goals players hold rows for (the database's answer, passed in so
    /// the engine does no I/O); without it, removing goals is not checked.
    in_use: std::sync::OnceLock<GoalsInUse>,
    /// Where calendar changes are recorded (see `calendar_changes`); without it, a change of
    /// a rotation's calendar takes effect at once.
    calendars: std::sync::OnceLock<CalendarHistory>,
    /// The deployment's checks, applied on every load.
    options: CompileOptions,
}

/// Answers which of `goals` players hold progress rows for (or why it cannot tell).
pub type GoalsInUse = Arc<dyn Fn(&[GoalId]) -> Result<Vec<GoalId>, String> + Send + Sync>;

impl std::fmt::Debug for RuleSetHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSetHandle")
            .field("paths", &self.paths)
            .finish()
    }
}

impl RuleSetHandle {
    /// Loads the rule set at `paths`; fails when any file has an error.
    pub fn load(paths: Vec<PathBuf>) -> Result<Self, LoadError> {
        Self::load_with(paths, CompileOptions::default())
    }

    /// [`Self::load`] with the deployment's checks, kept for every reload.
    pub fn load_with(paths: Vec<PathBuf>, options: CompileOptions) -> Result<Self, LoadError> {
        let sources = read_sources(&paths)?;
        let compiled = compile_with(&sources, &options);
        for warning in compiled.diagnostics.iter().filter(|d| !d.is_error()) {
            tracing::warn!(diagnostic = %warning, "challenge rules warning");
        }
        let Some(rules) = compiled.rules else {
            return Err(LoadError::Invalid(compiled.diagnostics));
        };
        let status = status_of(&rules, 0, 0, None);
        Ok(Self {
            paths,
            current: ArcSwap::from_pointee(rules),
            status: Mutex::new(status),
            in_use: std::sync::OnceLock::new(),
            calendars: std::sync::OnceLock::new(),
            options,
        })
    }

    /// Wraps an already compiled rule set (tests, benchmarks).
    pub fn from_rules(paths: Vec<PathBuf>, rules: RuleSet) -> Self {
        let status = status_of(&rules, 0, 0, None);
        Self {
            paths,
            current: ArcSwap::from_pointee(rules),
            status: Mutex::new(status),
            in_use: std::sync::OnceLock::new(),
            calendars: std::sync::OnceLock::new(),
            options: CompileOptions::default(),
        }
    }

    /// From now on a reload that removes goals players hold rows for is refused (E050).
    pub fn check_removed_goals(&self, in_use: GoalsInUse) {
        let _ = self.in_use.set(in_use);
    }

    /// From now on a rotation whose calendar (`every`, `timezone`, `at`) changed keeps the
    /// periods in force until their next boundary, as `history` records; the rules in use
    /// are rebuilt to follow it now.
    pub fn follow_calendar_changes(&self, history: CalendarHistory) -> Result<(), String> {
        let _ = self.calendars.set(history);
        let sources = read_sources(&self.paths).map_err(|err| err.to_string())?;
        let Some(mut rules) = compile_with(&sources, &self.options).rules else {
            return Err("the challenge files changed since they were loaded and have errors now; they are read again on the next change".into());
        };
        self.keep_earlier_periods(&mut rules)?;
        self.current.store(Arc::new(rules));
        Ok(())
    }

    /// Asks the recorded calendar history what `rules`' changed rotations keep.
    fn keep_earlier_periods(&self, rules: &mut RuleSet) -> Result<(), String> {
        let Some(history) = self.calendars.get() else {
            return Ok(());
        };
        let earlier = history(&rules.rotation_calendars())?;
        rules.keep_earlier_periods(&earlier);
        Ok(())
    }

    /// The rule set in use. Cheap; hold the `Arc` for the duration of one request or event.
    pub fn current(&self) -> Arc<RuleSet> {
        self.current.load_full()
    }

    pub fn status(&self) -> ReloadStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Re-reads the files; swaps in the new rule set only when it compiles and its tests pass.
    /// Broken files are reported once: the same broken content read again (any event in the
    /// folder triggers a read) answers `Unchanged`.
    pub fn reload(&self) -> ReloadOutcome {
        let sources = match read_sources(&self.paths) {
            Ok(sources) => sources,
            Err(err) => return self.fail(err.to_string(), Vec::new(), None),
        };
        let hash = sources.content_hash();
        if sources.unreadable.is_empty() && hash == self.current.load().info.content_hash {
            let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
            status.failed_hash = None;
            if status.last_error.take().is_some() {
                tracing::info!(
                    content_hash = %hash,
                    "challenge files match the rules in use again"
                );
                return ReloadOutcome::Restored;
            }
            return ReloadOutcome::Unchanged;
        }
        if self.status().failed_hash.as_deref() == Some(hash.as_str()) {
            return ReloadOutcome::Unchanged;
        }
        let compiled = compile_with(&sources, &self.options);
        let Some(mut rules) = compiled.rules else {
            let errors = compiled.errors();
            return self.fail(
                format!("{errors} error(s) in the challenge files"),
                compiled.diagnostics,
                Some(hash),
            );
        };
        if let Some(refused) = self.removed_goals_in_use(&rules, &hash) {
            return refused;
        }
        if let Err(error) = self.keep_earlier_periods(&mut rules) {
            // Not known: refuse, rather than move a period under a claim.
            let message = format!("cannot read or record the rotations' calendar changes: {error}");
            return self.fail(message, Vec::new(), None);
        }
        for warning in compiled.diagnostics.iter().filter(|d| !d.is_error()) {
            tracing::warn!(diagnostic = %warning, "challenge rules warning");
        }
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        *status = status_of(&rules, status.reloads + 1, status.failures, None);
        tracing::info!(
            content_hash = %rules.info.content_hash,
            goals = rules.goals().len(),
            warnings = compiled.diagnostics.len(),
            "challenge rules reloaded"
        );
        self.current.store(Arc::new(rules));
        ReloadOutcome::Swapped
    }

    /// A reload that removes goals players hold rows for loses their progress and unclaimed
    /// rewards (and events for them would be acknowledged as matching nothing): refused.
    fn removed_goals_in_use(&self, next: &RuleSet, hash: &str) -> Option<ReloadOutcome> {
        let in_use = self.in_use.get()?;
        let current = self.current.load();
        let removed: Vec<GoalId> = current
            .goals()
            .iter()
            .filter(|goal| next.goal(goal.id.as_str()).is_none())
            .map(|goal| goal.id.clone())
            .collect();
        if removed.is_empty() {
            return None;
        }
        let held = match in_use(&removed) {
            Ok(held) if held.is_empty() => return None,
            Ok(held) => held,
            // Not known: refuse, and read the same files again on the next change.
            Err(error) => {
                let message = format!(
                    "cannot check whether players hold progress on the removed goal(s) {}: {error}",
                    list(&removed)
                );
                return Some(self.fail(message, Vec::new(), None));
            }
        };
        let diagnostics = held
            .iter()
            .map(|goal| {
                let challenge = current
                    .goal(goal.as_str())
                    .map(|g| g.challenge_id.to_string())
                    .unwrap_or_default();
                Diagnostic::new(
                    Code::RemovedGoalInUse,
                    format!(
                        "goal `{goal}` of challenge `{challenge}` was removed, but players hold progress on it"
                    ),
                )
                .with_hint(format!(
                    "keep it in the file and retire it instead: `retired: {}` stops it counting and being offered, and its completed rewards stay claimable for the claim grace; delete it after that",
                    Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
                ))
            })
            .collect();
        Some(self.fail(
            format!("{} removed goal(s) still in use", held.len()),
            diagnostics,
            Some(hash.to_string()),
        ))
    }

    fn fail(
        &self,
        message: String,
        diagnostics: Vec<Diagnostic>,
        failed_hash: Option<String>,
    ) -> ReloadOutcome {
        for diagnostic in diagnostics.iter().filter(|d| d.is_error()) {
            tracing::error!(diagnostic = %diagnostic, "challenge rules reload rejected");
        }
        let failure = ReloadFailure {
            at: Utc::now(),
            message,
            diagnostics,
        };
        tracing::error!(error = %failure.message, "challenge rules reload failed; keeping the rules in use");
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        status.failures += 1;
        status.last_error = Some(failure.clone());
        status.failed_hash = failed_hash;
        ReloadOutcome::Failed(failure)
    }

    /// Watches the files and reloads after changes settle for `debounce` (see [`crate::watch`]).
    /// Dropping the watcher stops watching.
    pub fn watch(self: &Arc<Self>, debounce: Duration) -> Result<RuleWatcher, notify::Error> {
        crate::watch::watch(self, debounce)
    }
}

fn status_of(
    rules: &RuleSet,
    reloads: u64,
    failures: u64,
    last_error: Option<ReloadFailure>,
) -> ReloadStatus {
    ReloadStatus {
        content_hash: rules.info.content_hash.clone(),
        loaded_at: rules.info.loaded_at,
        files: rules.info.files.clone(),
        challenges: rules.challenges().len(),
        goals: rules.goals().len(),
        reloads,
        failures,
        last_error,
        failed_hash: None,
    }
}

fn list(goals: &[GoalId]) -> String {
    goals
        .iter()
        .map(|g| format!("`{g}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
