//! A player's archived history replayed, for explain and support's timeline: each event with
//! what it does under today's rules and, when it was applied under older rules that are
//! recorded, what it did under those.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use engine::simulate::EventResult;
use engine::{Event, RuleSet, UserId};

use super::Context;
use crate::usecases::error::{Error, ErrorCode};

/// Rule sets older than the current one a history is replayed under.
const OLDER_RULE_SETS: usize = 3;

/// The recorded rule sets a history is read against (their files are part of each).
pub const RECORDED_RULE_SETS: i64 = 100;

/// A player's replayed history, oldest first.
pub struct History {
    pub events: Vec<Event>,
    /// Per event: the content hash of the rules it was applied under (`None`: archived before
    /// rule-set versions were recorded).
    pub under: Vec<Option<String>>,
    /// Per event: what it does under today's rules, the player's history replayed from the start.
    pub now: Vec<EventResult>,
    /// Per event: what it did under the rules it was applied under, when those are older than
    /// today's, recorded, and among the newest [`OLDER_RULE_SETS`] the history names.
    pub then: Vec<Option<EventResult>>,
    /// The recorded rule sets the events name, newest first: (hash, loaded at).
    pub rule_sets: Vec<(String, DateTime<Utc>)>,
}

/// The player's last `limit` archived events, replayed. A row that cannot be read back is left
/// out, and a repeated id counts once, as in replay. `recorded`: the recorded rule sets when
/// the caller has read them already (the newest [`RECORDED_RULE_SETS`]); else they are read
/// when the events name older ones.
pub async fn replay(
    ctx: &Context,
    user: &UserId,
    rules: &Arc<RuleSet>,
    limit: i64,
    recorded: Option<&[store::RecordedRuleSet]>,
) -> Result<History, Error> {
    let archived = ctx.archive.player_archive(user, limit).await?;
    let (events, under): (Vec<Event>, Vec<Option<String>>) = store::first_deliveries(&archived)
        .filter_map(|row| Some((row.to_event().ok()?, row.rule_set.clone())))
        .unzip();
    let current = rules.info.content_hash.clone();
    let named: std::collections::HashSet<&String> = under.iter().flatten().collect();
    let recorded: Vec<store::RecordedRuleSet> = match recorded {
        _ if !named.iter().any(|h| **h != current) => Vec::new(),
        Some(given) => (given.iter())
            .filter(|r| named.contains(&r.content_hash))
            .cloned()
            .collect(),
        None => (ctx.archive.rule_sets(RECORDED_RULE_SETS).await?.into_iter())
            .filter(|r| named.contains(&r.content_hash))
            .collect(),
    };
    let rule_sets = recorded
        .iter()
        .map(|r| (r.content_hash.clone(), r.loaded_at))
        .collect();
    let rules = rules.clone();
    tokio::task::spawn_blocking(move || {
        let now = engine::simulate::simulate(&rules, &events);
        let mut older: Vec<(String, Vec<Option<EventResult>>)> = Vec::new();
        for recorded in recorded
            .iter()
            .filter(|r| r.content_hash != current)
            .take(OLDER_RULE_SETS)
        {
            if let Some(old) = recorded_rules(recorded) {
                let results = engine::simulate::simulate(&old, &events);
                older.push((
                    recorded.content_hash.clone(),
                    results.into_iter().map(Some).collect(),
                ));
            }
        }
        let then = (under.iter().enumerate())
            .map(|(at, hash)| {
                let hash = hash.as_ref().filter(|hash| **hash != current)?;
                let (_, results) = older.iter_mut().find(|(h, _)| h == hash)?;
                results.get_mut(at)?.take()
            })
            .collect();
        History {
            events,
            under,
            now,
            then,
            rule_sets,
        }
    })
    .await
    .map_err(|err| {
        Error::new(
            ErrorCode::Internal,
            format!("replaying the history failed: {err}"),
        )
    })
}

/// Compiled recorded rule sets, by content hash: the same hash is the same files, so a rule
/// set compiled once serves every later explain and timeline (the newest few are kept).
static COMPILED: Mutex<Vec<(String, Arc<RuleSet>)>> = Mutex::new(Vec::new());
const COMPILED_KEPT: usize = 8;

/// A recorded rule set compiled again from its files (`None` when they no longer compile, say
/// with an engine that changed since).
fn recorded_rules(recorded: &store::RecordedRuleSet) -> Option<Arc<RuleSet>> {
    let cached = |hash: &str| {
        let kept = COMPILED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.iter().find(|(h, _)| h == hash).map(|(_, r)| r.clone())
    };
    if let Some(rules) = cached(&recorded.content_hash) {
        return Some(rules);
    }
    let files: Vec<serde_json::Value> = serde_json::from_str(&recorded.files).ok()?;
    let files = (files.iter())
        .map(|f| {
            Some(engine::SourceFile::new(
                f["name"].as_str()?,
                f["text"].as_str()?,
            ))
        })
        .collect::<Option<Vec<_>>>()?;
    let compiled = engine::compile(&engine::Sources {
        files,
        unreadable: Vec::new(),
    });
    let rules = Arc::new(compiled.trial_rules()?);
    let mut kept = COMPILED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if kept.len() >= COMPILED_KEPT {
        kept.remove(0);
    }
    kept.push((recorded.content_hash.clone(), rules.clone()));
    Some(rules)
}
