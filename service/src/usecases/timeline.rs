//! Support's timeline of one player: what happened to them, newest first. Their archived
//! events with what each did, the rule sets deployed meanwhile, their claims with each
//! intent's state, and support's actions on them.

use chrono::{DateTime, Utc};
use engine::simulate::EventResult;
use engine::{Event, UserId};
use store::{AuditEntry, RewardIntent};

use super::Context;
use crate::usecases::error::Error;

/// The archived events replayed for a timeline (the player's latest), as explain replays.
const HISTORY: i64 = 5_000;

/// The recorded rule sets a timeline shows, at most (the newest).
const RULE_SETS: usize = 20;

/// At most this many entries (the API's `limit`).
pub const MAX_ENTRIES: usize = 1_000;

/// One thing that happened to the player.
pub enum Entry {
    /// An archived event, with what it does under today's rules (`now`) and, when it was
    /// applied under older recorded rules, what it did then.
    Event {
        event: Event,
        applied_under: Option<String>,
        now: EventResult,
        then: Option<EventResult>,
    },
    /// A rule set began to be applied (the time its process loaded it).
    Rules {
        at: DateTime<Utc>,
        content_hash: String,
    },
    /// A claim, with its intent as it stands and its goal's challenge (`None`: the goal is
    /// no longer in the rules).
    Claim {
        intent: RewardIntent,
        challenge_id: Option<String>,
    },
    /// A support action on the player, from the audit log.
    Support(AuditEntry),
}

impl Entry {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Entry::Event { event, .. } => event.timestamp,
            Entry::Rules { at, .. } => *at,
            Entry::Claim { intent, .. } => intent.created_at,
            Entry::Support(entry) => entry.at,
        }
    }
}

/// A player's timeline.
pub struct Timeline {
    /// The content hash of the rules in use now.
    pub content_hash: String,
    /// Archived events of the player that were read (0: the player is not archived, or has
    /// no events in the archive's window).
    pub archived_events: usize,
    /// Newest first.
    pub entries: Vec<Entry>,
}

/// The newest `limit` things that happened to `user`.
pub async fn timeline(ctx: &Context, user: &UserId, limit: usize) -> Result<Timeline, Error> {
    let rules = ctx.rules.current();
    let wanted = i64::try_from(limit).unwrap_or(i64::MAX);
    let (claims, support, mut rule_sets) = tokio::try_join!(
        ctx.ledger.player_intents(user, wanted),
        ctx.support.audit_entries(Some(user), None, wanted),
        ctx.archive.rule_sets(super::history::RECORDED_RULE_SETS),
    )?;
    // Read once: the history replays under them, the timeline shows the newest.
    let history = super::history::replay(ctx, user, &rules, HISTORY, Some(&rule_sets)).await?;
    rule_sets.truncate(RULE_SETS);
    let archived_events = history.events.len();
    let mut entries: Vec<Entry> = Vec::with_capacity(archived_events + claims.len());
    let events = (history.events.into_iter().zip(history.under))
        .zip(history.now.into_iter().zip(history.then))
        .map(|((event, applied_under), (now, then))| Entry::Event {
            event,
            applied_under,
            now,
            then,
        });
    // Events keep the order they were applied in; the rest fall in by time.
    entries.extend(events);
    entries.extend(claims.into_iter().map(|intent| Entry::Claim {
        challenge_id:
            (rules.goal(intent.key.goal_id.as_str())).map(|goal| goal.challenge_id.to_string()),
        intent,
    }));
    entries.extend(support.into_iter().map(Entry::Support));
    entries.sort_by_key(Entry::at);
    entries.reverse();
    entries.truncate(limit);
    // The rule sets deployed since the oldest entry shown, and the one in force at it (all of
    // them when there is no entry). `rule_sets` is newest first.
    let oldest = entries.last().map(Entry::at);
    let shown = match oldest {
        None => rule_sets.len(),
        Some(oldest) => (rule_sets.iter())
            .position(|r| r.loaded_at <= oldest)
            .map_or(rule_sets.len(), |in_force| in_force + 1),
    };
    entries.extend(rule_sets.into_iter().take(shown).map(|r| Entry::Rules {
        at: r.loaded_at,
        content_hash: r.content_hash,
    }));
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.at()));
    Ok(Timeline {
        content_hash: rules.info.content_hash.clone(),
        archived_events,
        entries,
    })
}
