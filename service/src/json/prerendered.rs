//! The list and one-challenge answers, written from parts rendered once per rule set.
//!
//! `GET /v1/challenges` is the route players call most. A goal's name, description,
//! requirement, reward and prerequisites depend only on the rules, so they are serialized (and
//! escaped) once per rule set; a request writes only the player's part of each goal. The bytes
//! are exactly what serializing [`ChallengeJson`] gives, which the tests hold them to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use chrono::{DateTime, Utc};
use engine::progress::GoalView;
use engine::{ChallengeId, CompiledChallenge, CompiledGoal, GoalId, RuleSet};
use serde::Serialize;

use super::{RequirementJson, RewardJson, RewardPartJson, time};
use crate::usecases::PlayerRows;
use crate::usecases::challenges::PlayerChallenges;

/// The rules' part of a goal, in [`crate::views::GoalJson`]'s field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GoalHead<'a> {
    goal_id: &'a str,
    name: &'a str,
    description: &'a str,
    requirement: RequirementJson,
    reward: Option<RewardJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rewards: Option<Vec<RewardPartJson>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    auto_claim: bool,
    prerequisites: Vec<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
}

/// The player's part of a goal, following [`GoalHead`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GoalTail {
    progress: i64,
    target: i64,
    status: &'static str,
    locked: bool,
    completed_at: String,
    claimed_at: String,
    is_active: bool,
    expires_at: String,
    expires_in_seconds: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    opens_at: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChallengeHead<'a> {
    challenge_id: &'a str,
    name: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
}

/// An object's serialization without its closing brace, ready for more fields.
fn open_object(value: &impl Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    bytes.pop();
    bytes
}

/// One rule set's static parts.
pub struct Rendered {
    rules: Weak<RuleSet>,
    /// The locales the texts were picked for (`engine::locale::preferences`).
    locales: Vec<String>,
    /// `{"goalId":…,"prerequisites":[…]` per goal.
    goals: HashMap<GoalId, Vec<u8>>,
    /// `{"challengeId":…,"description":…,"goals":[` per challenge.
    challenges: HashMap<ChallengeId, Vec<u8>>,
}

impl Rendered {
    fn of(rules: &Arc<RuleSet>, locales: &[String]) -> Self {
        let goals = rules
            .challenges()
            .iter()
            .flat_map(|c| rules.goals_of(c))
            .map(|goal| {
                let head = GoalHead {
                    goal_id: goal.id.as_str(),
                    name: goal.name_in(locales),
                    description: goal.description_in(locales),
                    requirement: RequirementJson::of(goal),
                    reward: RewardJson::headline(&goal.rewards),
                    rewards: RewardPartJson::list(&goal.rewards),
                    auto_claim: goal.auto_claim,
                    prerequisites: goal.requires.iter().map(|id| id.as_str()).collect(),
                    tags: &goal.tags,
                };
                (goal.id.clone(), open_object(&head))
            })
            .collect();
        let challenges = rules
            .challenges()
            .iter()
            .map(|c| {
                let mut head = open_object(&ChallengeHead {
                    challenge_id: c.id.as_str(),
                    name: c.name_in(locales),
                    description: c.description_in(locales),
                    tags: &c.tags,
                });
                head.extend_from_slice(b",\"goals\":[");
                (c.id.clone(), head)
            })
            .collect();
        Self {
            rules: Arc::downgrade(rules),
            locales: locales.to_vec(),
            goals,
            challenges,
        }
    }

    /// Appends one challenge as [`crate::views::ChallengeJson`] serializes.
    pub fn write_challenge(
        &self,
        out: &mut Vec<u8>,
        rules: &RuleSet,
        challenge: &CompiledChallenge,
        progress: &PlayerRows,
        now: DateTime<Utc>,
        active_only: bool,
    ) {
        match self.challenges.get(&challenge.id) {
            Some(head) => out.extend_from_slice(head),
            None => return,
        }
        let shown = rules.goals_of(challenge).filter(|g| g.is_shown(now));
        let mut written = 0;
        for goal in shown {
            let view = progress.view(goal);
            if active_only && !view.is_active {
                continue;
            }
            if written > 0 {
                out.push(b',');
            }
            written += 1;
            let locked = progress.is_locked(rules, goal);
            self.write_goal(out, goal, &view, locked, now);
        }
        out.extend_from_slice(b"]}");
    }

    fn write_goal(
        &self,
        out: &mut Vec<u8>,
        goal: &CompiledGoal,
        view: &GoalView,
        locked: bool,
        now: DateTime<Utc>,
    ) {
        let Some(head) = self.goals.get(&goal.id) else {
            return;
        };
        out.extend_from_slice(head);
        let tail = GoalTail {
            progress: view.progress,
            target: goal.target,
            status: view.status.as_str(),
            locked,
            completed_at: time(view.completed_at),
            claimed_at: time(view.claimed_at),
            is_active: view.is_active,
            expires_at: time(view.expires_at),
            expires_in_seconds: view
                .expires_at
                .map_or(0, |t| (t - now).num_seconds().max(0)),
            opens_at: view.opens_at.map(|t| time(Some(t))),
        };
        let start = out.len();
        // Serializing plain numbers, booleans and ASCII strings into a Vec cannot fail.
        if serde_json::to_writer(&mut *out, &tail).is_ok() {
            // `{` of the tail becomes the comma after the head.
            out[start] = b',';
        }
    }
}

/// The rendered parts of the rule set in force, one per set of locales players asked for,
/// rebuilt when the rules change.
#[derive(Default)]
pub struct RenderCache {
    current: Mutex<Vec<Arc<Rendered>>>,
}

/// How many sets of locales are kept rendered; a rule set in more languages than this many
/// players' preferences renders the rarest again when asked.
const RENDERED_LOCALE_SETS: usize = 32;

impl RenderCache {
    /// The list answer `{"challenges": [...]}`: the bytes serializing its
    /// `crate::views::ChallengeJson`s would give.
    pub fn list(&self, view: &PlayerChallenges) -> Vec<u8> {
        let rendered = self.for_rules(&view.rules, &view.locales);
        let mut out = Vec::with_capacity(16 * 1024);
        out.extend_from_slice(b"{\"challenges\":[");
        for (n, challenge) in view.challenges().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            rendered.write_challenge(
                &mut out,
                &view.rules,
                challenge,
                &view.progress,
                view.now,
                view.active_only,
            );
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// One challenge's answer (the view's first).
    pub fn challenge(&self, view: &PlayerChallenges) -> Vec<u8> {
        let rendered = self.for_rules(&view.rules, &view.locales);
        let mut out = Vec::with_capacity(4 * 1024);
        if let Some(challenge) = view.challenges().next() {
            rendered.write_challenge(
                &mut out,
                &view.rules,
                challenge,
                &view.progress,
                view.now,
                view.active_only,
            );
        }
        out
    }

    pub fn for_rules(&self, rules: &Arc<RuleSet>, locales: &[String]) -> Arc<Rendered> {
        // A `Weak` keeps its allocation, so a live one pointing at `rules` is this rule set.
        let this = Arc::downgrade(rules);
        let cached = |current: &mut Vec<Arc<Rendered>>| {
            current.retain(|rendered| Weak::ptr_eq(&rendered.rules, &this));
            let at = current.iter().position(|r| r.locales == locales)?;
            let rendered = current.remove(at);
            current.push(rendered.clone());
            Some(rendered)
        };
        if let Some(rendered) = cached(&mut self.current.lock().unwrap_or_else(|e| e.into_inner()))
        {
            return rendered;
        }
        // Rendered without the lock: other readers go on meanwhile.
        let rendered = Arc::new(Rendered::of(rules, locales));
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(other) = cached(&mut current) {
            return other;
        }
        if current.len() >= RENDERED_LOCALE_SETS {
            current.remove(0);
        }
        current.push(rendered.clone());
        rendered
    }
}

impl std::fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RenderCache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::challenge_json;
    use chrono::TimeZone;
    use engine::{SourceFile, Sources, Status, UserId};
    use store::ProgressRow;

    /// Names that need escaping, prerequisites, both reward kinds, a `when`, rotation.
    const RULES: &str = r#"
version: 1
challenges:
  - id: odd
    name: "Quotes \" and \\ backslash, tab\t, é, 🎄, \u0001"
    description: "line one\nline two </script>"
    rotation: { every: daily }
    goals:
      - { id: a, name: "A \"first\"", description: "d\\e", on: stat, stat: kills, target: 3, reward: { wallet: GOLD, amount: 5 } }
      - { id: b, name: B, on: stat, stat: "kills", target: 2, requires: [a], when: 'event.additional.mode == "ranked"', reward: { item: "sword\"1", quantity: 2 } }
      - { id: c, name: C, on: login, target: 1 }
  - id: plain
    name: Plain
    goals:
      - { id: d, name: D, on: stat, stat: wins, target: 10, assign: manual }
"#;

    fn rule_set(files: Vec<SourceFile>) -> Arc<RuleSet> {
        let compiled = engine::compile(&Sources {
            files,
            unreadable: Vec::new(),
        });
        assert!(
            compiled
                .diagnostics
                .iter()
                .all(|d| d.severity != engine::Severity::Error),
            "{:?}",
            compiled.diagnostics
        );
        Arc::new(compiled.rules.expect("rules"))
    }

    /// Rows in every state a goal can show, cycling over the goals.
    fn rows(rules: &RuleSet, now: DateTime<Utc>) -> Vec<ProgressRow> {
        let user = UserId::new("p");
        let goals: Vec<&CompiledGoal> = rules
            .challenges()
            .iter()
            .flat_map(|c| rules.goals_of(c))
            .collect();
        goals
            .iter()
            .enumerate()
            .filter(|(n, _)| n % 5 != 4)
            .map(|(n, goal)| {
                let mut row =
                    ProgressRow::assigned(&user, "demo", goal, now - chrono::Duration::hours(1));
                let s = &mut row.state;
                match n % 4 {
                    0 => s.progress = 1,
                    1 => {
                        s.progress = goal.target;
                        s.status = Status::Completed;
                        s.completed_at = Some(now - chrono::Duration::minutes(5));
                    }
                    2 => {
                        s.progress = goal.target;
                        s.status = Status::Claimed;
                        s.completed_at = Some(now - chrono::Duration::minutes(9));
                        s.claimed_at = Some(now - chrono::Duration::minutes(2));
                    }
                    _ => s.is_active = false,
                }
                row
            })
            .collect()
    }

    fn assert_same_bytes(rules: &Arc<RuleSet>) {
        assert_same_bytes_in(rules, &[]);
    }

    fn assert_same_bytes_in(rules: &Arc<RuleSet>, locales: &[String]) {
        let now = Utc
            .with_ymd_and_hms(2026, 12, 15, 13, 14, 15)
            .single()
            .expect("time");
        let progress = PlayerRows::from_rows(rows(rules, now), now);
        let cache = RenderCache::default();
        let rendered = cache.for_rules(rules, locales);
        for challenge in rules.challenges() {
            let mut fast = Vec::new();
            rendered.write_challenge(&mut fast, rules, challenge, &progress, now, false);
            let reference =
                serde_json::to_vec(&challenge_json(rules, challenge, &progress, now, locales))
                    .expect("json");
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&reference),
                "challenge {}",
                challenge.id
            );
        }
    }

    #[test]
    fn rendered_answers_are_the_serialized_views_byte_for_byte() {
        assert_same_bytes(&rule_set(vec![SourceFile::new("odd.yaml", RULES)]));
    }

    #[test]
    fn the_example_and_benchmark_rules_render_as_serialized() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for dir in ["challenges", "bench/rest/challenges"] {
            let sources = engine::read_sources(&[root.join(dir)]).expect("readable");
            assert_same_bytes(&rule_set(sources.files));
        }
    }

    #[test]
    fn localized_answers_render_as_serialized_and_each_set_of_locales_apart() {
        let rules = rule_set(vec![SourceFile::new(
            "localized.yaml",
            r#"
version: 1
default_locale: en
challenges:
  - id: weekend
    name: { en: "Weekend \"Ranked\"", de: Ranglisten-Wochenende }
    description: { en: Win three., de: Gewinne drei. }
    goals:
      - { id: w, name: { en: Win 3, de: Gewinne 3 }, on: login, target: 1 }
"#,
        )]);
        assert_eq!(rules.locales, ["de", "en"]);
        for locales in [
            vec![],
            vec!["de".to_string()],
            vec!["en".to_string(), "de".to_string()],
        ] {
            assert_same_bytes_in(&rules, &locales);
        }
        let cache = RenderCache::default();
        let german = cache.for_rules(&rules, &["de".to_string()]);
        let head = &german.challenges[&ChallengeId::new("weekend")];
        assert!(String::from_utf8_lossy(head).contains("Ranglisten-Wochenende"));
        let english = cache.for_rules(&rules, &[]);
        assert!(!Arc::ptr_eq(&german, &english));
        assert!(Arc::ptr_eq(
            &german,
            &cache.for_rules(&rules, &["de".to_string()])
        ));
    }

    #[test]
    fn a_new_rule_set_is_rendered_anew() {
        let cache = RenderCache::default();
        let first = rule_set(vec![SourceFile::new("odd.yaml", RULES)]);
        let again = cache.for_rules(&first, &[]);
        assert!(Arc::ptr_eq(&again, &cache.for_rules(&first, &[])));
        let edited = rule_set(vec![SourceFile::new(
            "odd.yaml",
            RULES.replace("name: Plain", "name: Renamed"),
        )]);
        let renamed = cache.for_rules(&edited, &[]);
        assert!(!Arc::ptr_eq(&again, &renamed));
        let head = &renamed.challenges[&ChallengeId::new("plain")];
        assert!(String::from_utf8_lossy(head).contains("Renamed"));
    }
}
