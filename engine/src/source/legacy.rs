//! The reference implementation's `challenges.json` format, read into the same model as YAML
//! (see the DSL reference, "Legacy JSON"), and printed back as YAML by `lint --convert`.

use serde::Deserialize;
use serde_json::Value;

use super::decode::deserialize;
use super::{ChallengeOrigin, Document};
use crate::diagnostic::{Code, Diagnostic};
use crate::model::{
    Assign, ChallengeDef, ChallengeFile, CountMode, EventKind, GoalDef, OneOrMany, Period,
    RewardDef, RotationDef,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LegacyChallenge {
    challenge_id: String,
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LegacyGoal {
    goal_id: String,
    name: String,
    #[serde(default)]
    description: String,
    event_source: LegacyEventSource,
    #[serde(default)]
    default_assigned: bool,
    requirement: LegacyRequirement,
    reward: LegacyReward,
    #[serde(default)]
    prerequisites: Vec<String>,
    #[serde(default)]
    rotation: Option<LegacyRotation>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum LegacyEventSource {
    Login,
    Statistic,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LegacyRequirement {
    stat_code: String,
    #[serde(default = "default_operator")]
    operator: String,
    target_value: i64,
    #[serde(default)]
    progress_mode: Option<LegacyProgressMode>,
}

fn default_operator() -> String {
    ">=".to_string()
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum LegacyProgressMode {
    Absolute,
    Relative,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LegacyReward {
    #[serde(rename = "type")]
    kind: LegacyRewardType,
    reward_id: String,
    quantity: i64,
}

#[derive(Deserialize, Clone, Copy)]
enum LegacyRewardType {
    #[serde(rename = "ITEM")]
    Item,
    #[serde(rename = "WALLET")]
    Wallet,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LegacyRotation {
    enabled: bool,
    #[serde(default, rename = "type")]
    _kind: Option<LegacyRotationType>,
    schedule: Period,
    #[serde(default)]
    on_expiry: Option<LegacyOnExpiry>,
}

#[derive(Deserialize)]
enum LegacyRotationType {
    #[serde(rename = "global")]
    Global,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LegacyOnExpiry {
    #[serde(default = "yes")]
    reset_progress: bool,
    #[serde(default)]
    allow_reselection: bool,
}

fn yes() -> bool {
    true
}

/// Decodes a legacy `challenges.json` tree; broken goals are reported and left out.
pub(super) fn decode(
    root: &Value,
    doc: &Document,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(ChallengeFile, Vec<ChallengeOrigin>)> {
    let Some(challenges) = root.get("challenges").and_then(Value::as_array) else {
        diagnostics.push(
            Diagnostic::new(
                Code::InvalidValue,
                "a legacy challenges.json holds {\"challenges\": [...]}",
            )
            .at(doc.path(), doc.value_pos("")),
        );
        return None;
    };
    if let Some(object) = root.as_object() {
        for key in object.keys().filter(|key| *key != "challenges") {
            diagnostics.push(
                Diagnostic::new(Code::UnknownKey, format!("unknown key `{key}`"))
                    .at(doc.path(), doc.key_pos(&format!("/{key}"))),
            );
        }
    }
    let mut file = ChallengeFile {
        default_locale: None,
        stats: Default::default(),
        version: 1,
        challenges: Vec::new(),
    };
    let mut origins = Vec::new();
    for (index, challenge) in challenges.iter().enumerate() {
        let pointer = format!("/challenges/{index}");
        let mut header = challenge.clone();
        let goals = header
            .as_object_mut()
            .and_then(|object| object.remove("goals"))
            .unwrap_or(Value::Array(Vec::new()));
        let Some(legacy) = deserialize::<LegacyChallenge>(header, &pointer, doc, diagnostics)
        else {
            continue;
        };
        let mut origin = ChallengeOrigin {
            pointer: pointer.clone(),
            broken: false,
            goals: Vec::new(),
            tests: Vec::new(),
            declared_goals: goals.as_array().map_or(0, Vec::len),
            undecoded_goals: Vec::new(),
        };
        let mut converted = ChallengeDef {
            id: legacy.challenge_id,
            name: legacy.name.into(),
            description: legacy.description.into(),
            schedule: None,
            rotation: None,
            timezone: None,
            tags: Vec::new(),
            goals: Vec::new(),
            tests: Vec::new(),
        };
        let goals = match goals {
            Value::Array(goals) => goals,
            _ => {
                diagnostics.push(
                    Diagnostic::new(Code::InvalidValue, "`goals` must be a list")
                        .at(doc.path(), doc.value_pos(&format!("{pointer}/goals"))),
                );
                Vec::new()
            }
        };
        for (goal_index, goal) in goals.into_iter().enumerate() {
            let goal_pointer = format!("{pointer}/goals/{goal_index}");
            let Some(goal) = deserialize::<LegacyGoal>(goal, &goal_pointer, doc, diagnostics)
            else {
                continue;
            };
            if goal.requirement.operator != ">=" {
                diagnostics.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        format!(
                            "operator `{}` is not supported; the reference format knows only `>=`",
                            goal.requirement.operator
                        ),
                    )
                    .at(
                        doc.path(),
                        doc.value_pos(&format!("{goal_pointer}/requirement/operator")),
                    ),
                );
                continue;
            }
            let rotates = goal.rotation.as_ref().is_some_and(|r| r.enabled);
            if rotates
                && matches!(goal.event_source, LegacyEventSource::Statistic)
                && goal.requirement.progress_mode != Some(LegacyProgressMode::Relative)
            {
                // The reference refuses this at start-up; reading it as relative here would
                // make one file mean two things.
                let at = if goal.requirement.progress_mode.is_some() {
                    format!("{goal_pointer}/requirement/progressMode")
                } else {
                    format!("{goal_pointer}/requirement")
                };
                diagnostics.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        format!(
                            "goal `{}`: rotation requires progressMode 'relative' (absolute, the default, counts the stat's lifetime value, which a period cannot reset)",
                            goal.goal_id
                        ),
                    )
                    .with_hint(r#"add "progressMode": "relative" to the requirement, as the reference implementation demands"#)
                    .at(doc.path(), doc.value_pos(&at)),
                );
                continue;
            }
            converted.goals.push(convert_goal(goal));
            origin.goals.push(goal_pointer);
        }
        file.challenges.push(converted);
        origins.push(origin);
    }
    Some((file, origins))
}

fn convert_goal(goal: LegacyGoal) -> GoalDef {
    let (on, relative) = match goal.event_source {
        LegacyEventSource::Login => (EventKind::Login, None),
        LegacyEventSource::Statistic => (
            EventKind::Stat,
            (goal.requirement.progress_mode == Some(LegacyProgressMode::Relative)).then_some(true),
        ),
    };
    let reward = match goal.reward.kind {
        LegacyRewardType::Wallet => RewardDef {
            wallet: Some(goal.reward.reward_id),
            amount: Some(goal.reward.quantity),
            item: None,
            quantity: None,
            one_of: None,
            weight: None,
        },
        LegacyRewardType::Item => RewardDef {
            wallet: None,
            amount: None,
            item: Some(goal.reward.reward_id),
            quantity: Some(goal.reward.quantity),
            one_of: None,
            weight: None,
        },
    };
    let rotation = goal.rotation.filter(|r| r.enabled).map(|r| {
        let on_expiry = r.on_expiry.unwrap_or(LegacyOnExpiry {
            reset_progress: true,
            allow_reselection: false,
        });
        RotationDef {
            every: r.schedule,
            at: None,
            reset_progress: on_expiry.reset_progress,
            allow_reselection: on_expiry.allow_reselection,
        }
    });
    GoalDef {
        id: goal.goal_id,
        name: goal.name.into(),
        description: goal.description.into(),
        tags: Vec::new(),
        on,
        stat: Some(OneOrMany::One(goal.requirement.stat_code)),
        when: None,
        count: match on {
            EventKind::Login => Some(CountMode::Events),
            EventKind::Stat => Some(CountMode::Value),
        },
        relative,
        amount: None,
        progress: None,
        target: goal.requirement.target_value,
        assign: if goal.default_assigned {
            Assign::Default
        } else {
            Assign::Manual
        },
        reward: Some(reward),
        rewards: None,
        claim: None,
        requires: goal.prerequisites,
        rotation,
        retired: None,
    }
}

/// Converts a legacy `challenges.json` into the equivalent YAML challenge file, or the
/// diagnostics that prevent it.
pub fn convert_to_yaml(file: super::SourceFile) -> Result<String, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let parsed = super::parse_file(std::sync::Arc::new(file), &mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    let Some(parsed) = parsed else {
        return Err(diagnostics);
    };
    let yaml = yaml_serde::to_string(&parsed.model).map_err(|err| {
        vec![Diagnostic::new(
            Code::InvalidValue,
            format!("cannot write YAML: {err}"),
        )]
    })?;
    Ok(format!(
        "# Converted from the reference implementation's challenges.json by `service lint --convert`.\n{yaml}"
    ))
}
