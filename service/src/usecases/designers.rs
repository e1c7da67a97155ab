//! The designers' tools: lint a file's text, simulate events against it or the deployed rules,
//! replay an edit over the event archive, and the deployed rules at a glance. Nothing here
//! writes: a file is compiled in memory, events go to fresh players.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::simulate::EventResult;
use engine::{Compiled, Diagnostic, Event, RuleSet, SourceFile, Sources};
use store::ArchiveWindow;

use super::Context;
use super::error::{Error, ErrorCode};
use super::replay::{Quiet, Replayed};

/// Most events one simulation may carry.
pub const MAX_SIMULATED_EVENTS: usize = 10_000;

/// Longest one simulation may run; it stops between events after it.
const SIMULATE_TIME_LIMIT: Duration = Duration::from_secs(10);

/// Most archived events a replay of an edit reads; more is the CLI's job (`service replay`).
const MAX_REPLAY_EVENTS: u64 = 1_000_000;

/// The designers' heavy work, one at a time per service (one service per process in a
/// deployment; tests run several in one process, each with its own).
#[derive(Debug)]
pub struct Exclusive {
    /// One simulation at a time: each keeps a core busy while it runs, and players' requests
    /// share those cores.
    simulations: tokio::sync::Semaphore,
    /// One replay at a time: each holds its archive in memory (about 0.5 GB per million
    /// events) and keeps both cores busy while it runs.
    pub(super) replays: tokio::sync::Semaphore,
}

impl Default for Exclusive {
    fn default() -> Self {
        Self {
            simulations: tokio::sync::Semaphore::new(1),
            replays: tokio::sync::Semaphore::new(1),
        }
    }
}

/// A challenge file's text as a designer sends it.
#[derive(Debug, Clone)]
pub struct Draft {
    pub text: String,
    /// `.yaml`, `.yml` or `.json` (`.json` reads legacy JSON); `None`: guessed from the text.
    pub file_name: Option<String>,
    /// Compile it with the other deployed files (the one of the same name replaced).
    pub with_deployed: bool,
}

/// A file's diagnostics (and its rules when it compiles).
pub async fn lint(ctx: &Context, draft: Draft) -> Result<Compiled, Error> {
    compile(ctx, draft).await
}

/// What a simulation found: the draft's diagnostics (none for the deployed rules), and each
/// event's trace (none when the draft does not compile).
#[derive(Debug)]
pub struct Simulation {
    pub diagnostics: Vec<Diagnostic>,
    pub results: Vec<EventResult>,
}

/// `events` in order, one fresh player per user id, under the draft or the deployed rules.
pub async fn simulate(
    ctx: &Context,
    draft: Option<Draft>,
    events: Vec<Event>,
) -> Result<Simulation, Error> {
    let (rules, diagnostics) = match draft {
        None => (Some(ctx.rules.current()), Vec::new()),
        Some(draft) => trial(ctx, draft).await?,
    };
    let Some(rules) = rules else {
        return Ok(Simulation {
            diagnostics,
            results: Vec::new(),
        });
    };
    let Ok(_running) = ctx.exclusive.simulations.try_acquire() else {
        return Err(Error::new(
            ErrorCode::RateLimited,
            "another simulation is running on this service; try again when it ends",
        ));
    };
    let deadline = Instant::now() + SIMULATE_TIME_LIMIT;
    let results = tokio::task::spawn_blocking(move || {
        engine::simulate::simulate_until(&rules, &events, deadline)
    })
    .await
    .map_err(|err| Error::new(ErrorCode::Internal, format!("the simulation failed: {err}")))?
    .map_err(|out| {
        Error::new(
            ErrorCode::ValidationFailed,
            format!(
                "{out} (the limit is {} s): simulate fewer events at a time",
                SIMULATE_TIME_LIMIT.as_secs()
            ),
        )
    })?;
    Ok(Simulation {
        diagnostics,
        results,
    })
}

/// An edit replayed: its diagnostics, and the comparison with the deployed rules over the
/// archive (none when the edit does not compile).
#[derive(Debug)]
pub struct EditReplay {
    pub diagnostics: Vec<Diagnostic>,
    pub replayed: Option<Replayed>,
}

/// The deployed files with one edited (`draft`, compiled with them), replayed against the
/// deployed rules over the archive of `window`.
pub async fn replay_edit(
    ctx: &Context,
    draft: Draft,
    window: ArchiveWindow,
) -> Result<EditReplay, Error> {
    let (after, diagnostics) = trial(ctx, draft).await?;
    let Some(after) = after else {
        return Ok(EditReplay {
            diagnostics,
            replayed: None,
        });
    };
    let events = ctx.archive.count_archive(&window).await?;
    if events > MAX_REPLAY_EVENTS {
        return Err(Error::new(
            ErrorCode::ValidationFailed,
            format!(
                "{events} archived events in this window; the console replays at most \
                 {MAX_REPLAY_EVENTS}: narrow it with from and to, or run `service replay`"
            ),
        ));
    }
    let Ok(_running) = ctx.exclusive.replays.try_acquire() else {
        return Err(Error::new(
            ErrorCode::RateLimited,
            "another replay is running on this service; try again when it ends",
        ));
    };
    let before: Arc<RuleSet> = ctx.rules.current();
    let archive = ctx.archive.as_ref();
    let replayed = super::replay::replay(archive, window, before, after, Arc::new(Quiet)).await?;
    Ok(EditReplay {
        diagnostics,
        replayed: Some(replayed),
    })
}

/// The deployed rules with their files' text (as on disk now: a file changed since the load
/// still shows, and the watcher reloads it soon).
#[derive(Debug)]
pub struct Deployed {
    pub rules: Arc<RuleSet>,
    /// Each file's name and text.
    pub files: Vec<(String, String)>,
}

pub async fn deployed(ctx: &Context) -> Deployed {
    let rules = ctx.rules.current();
    let mut files = Vec::new();
    for path in &rules.info.files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
        files.push((name, text));
    }
    Deployed { rules, files }
}

/// A draft's rules fit to simulate, replay or dry-run a backfill (see `Compiled::trial_rules`), if any, and its
/// diagnostics.
pub async fn trial(
    ctx: &Context,
    draft: Draft,
) -> Result<(Option<Arc<RuleSet>>, Vec<Diagnostic>), Error> {
    let mut compiled = compile(ctx, draft).await?;
    let diagnostics = std::mem::take(&mut compiled.diagnostics);
    Ok((compiled.trial_rules().map(Arc::new), diagnostics))
}

/// Compiles a draft, alone or with the deployed files, off the async threads: rule tests run as
/// part of it.
async fn compile(ctx: &Context, draft: Draft) -> Result<Compiled, Error> {
    let deployed: Vec<PathBuf> = if draft.with_deployed {
        ctx.rules.current().info.files.clone()
    } else {
        Vec::new()
    };
    let text = draft.text;
    let name = match draft.file_name.as_deref() {
        Some(name) => {
            let plain = std::path::Path::new(name)
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml") || n.ends_with(".json"));
            match plain {
                Some(plain) => plain.to_string(),
                None => {
                    return Err(Error::new(
                        ErrorCode::ValidationFailed,
                        format!(
                            "fileName `{name}` must be a file name ending in .yaml, .yml or .json"
                        ),
                    ));
                }
            }
        }
        None if is_legacy_json(&text) => "challenges.json".to_string(),
        None => "challenges.yaml".to_string(),
    };
    tokio::task::spawn_blocking(move || {
        let mut files = Vec::with_capacity(deployed.len() + 1);
        let mut unreadable = Vec::new();
        for path in deployed {
            if path.file_name().and_then(|n| n.to_str()) == Some(name.as_str()) {
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(text) => files.push(SourceFile::new(path, text)),
                Err(err) => unreadable.push(
                    engine::Diagnostic::new(
                        engine::Code::UnreadableFile,
                        format!("cannot read the deployed file: {err}"),
                    )
                    .at(path, None),
                ),
            }
        }
        files.push(SourceFile::new(name, text));
        engine::compile(&Sources { files, unreadable })
    })
    .await
    .map_err(|err| Error::new(ErrorCode::Internal, format!("compiling failed: {err}")))
}

/// A JSON object without the DSL's `version`: the reference implementation's format.
fn is_legacy_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
        && serde_json::from_str::<serde_json::Value>(text).is_ok_and(|value| {
            value
                .as_object()
                .is_some_and(|o| !o.contains_key("version"))
        })
}
