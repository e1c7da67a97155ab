//! From a positioned JSON tree to the file model, reporting every unknown key and every bad
//! value with its position: each goal and test is decoded on its own, so one broken goal does
//! not hide the problems of the next.

use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::serde_words::describe_serde_error;
use super::{ChallengeOrigin, Document, child};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::model::{
    ChallengeDef, ChallengeFile, Expectation, GivenDetail, GoalDef, RewardDef, RotationDef,
    ScheduleDef, TestDef, TestStep, known_keys,
};

struct KnownKeys {
    file: Vec<String>,
    challenge: Vec<String>,
    schedule: Vec<String>,
    rotation: Vec<String>,
    goal: Vec<String>,
    reward: Vec<String>,
    test: Vec<String>,
    step: Vec<String>,
    expectation: Vec<String>,
    given: Vec<String>,
}

fn keys() -> &'static KnownKeys {
    static KEYS: OnceLock<KnownKeys> = OnceLock::new();
    KEYS.get_or_init(|| KnownKeys {
        file: known_keys::<ChallengeFile>(),
        challenge: known_keys::<ChallengeDef>(),
        schedule: known_keys::<ScheduleDef>(),
        rotation: known_keys::<RotationDef>(),
        goal: known_keys::<GoalDef>(),
        reward: known_keys::<RewardDef>(),
        test: known_keys::<TestDef>(),
        step: known_keys::<TestStep>(),
        expectation: known_keys::<Expectation>(),
        given: known_keys::<GivenDetail>(),
    })
}

/// Decodes a YAML document into the model. Broken challenges, goals and tests are left out
/// (each with its diagnostics), so later stages still check the rest.
pub(crate) fn decode_document(
    mut root: Value,
    doc: &Document,
    diagnostics: &mut Vec<Diagnostic>,
) -> (ChallengeFile, Vec<ChallengeOrigin>) {
    let mut out = ChallengeFile {
        version: 1,
        default_locale: None,
        stats: Default::default(),
        challenges: Vec::new(),
    };
    let mut origins = Vec::new();
    if !root.is_object() {
        diagnostics.push(
            Diagnostic::new(
                Code::InvalidValue,
                "a challenge file is a mapping with `version` and `challenges`",
            )
            .at(doc.path(), doc.value_pos("")),
        );
        return (out, origins);
    }
    let k = keys();
    strip_unknown(&mut root, "", &k.file, "challenge file", doc, diagnostics);
    if let Some(version) = root.get("version") {
        match version.as_u64() {
            Some(1) => {}
            _ => diagnostics.push(
                Diagnostic::new(
                    Code::UnsupportedVersion,
                    format!("unsupported version {version}; this engine reads version 1"),
                )
                .at(doc.path(), doc.value_pos("/version"))
                .with_hint("write `version: 1`"),
            ),
        }
    }
    match root.get("default_locale") {
        None => {}
        Some(Value::String(locale)) => out.default_locale = Some(locale.clone()),
        Some(_) => diagnostics.push(
            Diagnostic::new(
                Code::InvalidValue,
                "`default_locale` must be a language tag such as `en` or `pt-BR`",
            )
            .at(doc.path(), doc.value_pos("/default_locale")),
        ),
    }
    if let Some(stats) = root.get_mut("stats").map(Value::take)
        && let Some(stats) = deserialize(stats, "/stats", doc, diagnostics)
    {
        out.stats = stats;
    }
    let Some(challenges) = root.get_mut("challenges") else {
        return (out, origins);
    };
    let Some(challenges) = challenges.as_array_mut() else {
        diagnostics.push(
            Diagnostic::new(Code::InvalidValue, "`challenges` must be a list")
                .at(doc.path(), doc.value_pos("/challenges")),
        );
        return (out, origins);
    };
    for (index, challenge) in challenges.iter_mut().enumerate() {
        let pointer = format!("/challenges/{index}");
        if let Some((decoded, origin)) = decode_challenge(challenge, &pointer, doc, diagnostics) {
            out.challenges.push(decoded);
            origins.push(origin);
        }
    }
    (out, origins)
}

fn decode_challenge(
    challenge: &mut Value,
    pointer: &str,
    doc: &Document,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(ChallengeDef, ChallengeOrigin)> {
    let k = keys();
    if !strip_unknown(
        challenge,
        pointer,
        &k.challenge,
        "challenge",
        doc,
        diagnostics,
    ) {
        return None;
    }
    strip_nested(
        challenge,
        pointer,
        "schedule",
        &k.schedule,
        doc,
        diagnostics,
    );
    strip_nested(
        challenge,
        pointer,
        "rotation",
        &k.rotation,
        doc,
        diagnostics,
    );
    let goals = take_list(challenge, pointer, "goals", doc, diagnostics);
    let tests = take_list(challenge, pointer, "tests", doc, diagnostics);

    let mut origin = ChallengeOrigin {
        pointer: pointer.to_string(),
        broken: false,
        goals: Vec::new(),
        tests: Vec::new(),
        declared_goals: goals.len(),
        undecoded_goals: Vec::new(),
    };
    let mut decoded_goals = Vec::new();
    for (index, mut goal) in goals.into_iter().enumerate() {
        let goal_pointer = format!("{pointer}/goals/{index}");
        if !strip_unknown(&mut goal, &goal_pointer, &k.goal, "goal", doc, diagnostics) {
            continue;
        }
        strip_nested(
            &mut goal,
            &goal_pointer,
            "reward",
            &k.reward,
            doc,
            diagnostics,
        );
        strip_nested(
            &mut goal,
            &goal_pointer,
            "rotation",
            &k.rotation,
            doc,
            diagnostics,
        );
        let id = goal.get("id").and_then(Value::as_str).map(str::to_string);
        match decode_goal(goal, &goal_pointer, doc, diagnostics) {
            Some(goal) => {
                decoded_goals.push(goal);
                origin.goals.push(goal_pointer);
            }
            None => origin.undecoded_goals.extend(id),
        }
    }

    let mut decoded_tests = Vec::new();
    for (index, mut test) in tests.into_iter().enumerate() {
        let test_pointer = format!("{pointer}/tests/{index}");
        if let Some(test) = decode_test(&mut test, &test_pointer, doc, diagnostics) {
            decoded_tests.push(test);
            origin.tests.push(test_pointer);
        }
    }

    // A wrong key of the challenge (its `schedule`, `rotation`, …) is reported and left out,
    // and the rest compiled, so its other mistakes show in the same pass; the challenge is
    // marked, so what the missing key would have changed (its tests) is not reported too.
    let (mut header, set_aside) =
        decode_by_keys::<ChallengeDef>(challenge.take(), pointer, doc, diagnostics)?;
    origin.broken = !set_aside.is_empty();
    header.goals = decoded_goals;
    header.tests = decoded_tests;
    Some((header, origin))
}

fn decode_test(
    test: &mut Value,
    pointer: &str,
    doc: &Document,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<TestDef> {
    let k = keys();
    if !strip_unknown(test, pointer, &k.test, "test", doc, diagnostics) {
        return None;
    }
    if let Some(Value::Array(steps)) = test.get_mut("events") {
        for (index, step) in steps.iter_mut().enumerate() {
            let step_pointer = format!("{pointer}/events/{index}");
            strip_unknown(step, &step_pointer, &k.step, "test event", doc, diagnostics);
        }
    }
    for (field, known, what) in [
        ("expect", &k.expectation, "expectation"),
        ("given", &k.given, "given state"),
    ] {
        if let Some(Value::Object(entries)) = test.get_mut(field) {
            for (goal, entry) in entries.iter_mut() {
                if entry.is_object() {
                    let entry_pointer = child(&child(pointer, field), goal);
                    strip_unknown(entry, &entry_pointer, known, what, doc, diagnostics);
                }
            }
        }
    }
    deserialize::<TestDef>(test.take(), pointer, doc, diagnostics)
}

/// Removes `list` from `parent` and returns its items (reporting a non-list value).
fn take_list(
    parent: &mut Value,
    pointer: &str,
    field: &str,
    doc: &Document,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Value> {
    let Some(object) = parent.as_object_mut() else {
        return Vec::new();
    };
    match object.remove(field) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            let field_pointer = child(pointer, field);
            diagnostics.push(
                Diagnostic::new(Code::InvalidValue, format!("`{field}` must be a list"))
                    .at(doc.path(), doc.value_pos(&field_pointer)),
            );
            Vec::new()
        }
    }
}

fn strip_nested(
    parent: &mut Value,
    pointer: &str,
    field: &str,
    known: &[String],
    doc: &Document,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if let Some(nested) = parent.get_mut(field)
        && nested.is_object()
    {
        strip_unknown(
            nested,
            &child(pointer, field),
            known,
            field,
            doc,
            diagnostics,
        );
    }
}

/// Reports and removes the keys of `value` that `known` does not list. Returns false (after a
/// diagnostic) when `value` is not a mapping at all.
fn strip_unknown(
    value: &mut Value,
    pointer: &str,
    known: &[String],
    what: &str,
    doc: &Document,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let Some(object) = value.as_object_mut() else {
        diagnostics.push(
            Diagnostic::new(Code::InvalidValue, format!("a {what} must be a mapping"))
                .at(doc.path(), doc.value_pos(pointer)),
        );
        return false;
    };
    let unknown: Vec<String> = object
        .keys()
        .filter(|key| !known.iter().any(|k| k == *key))
        .cloned()
        .collect();
    for key in unknown {
        object.remove(&key);
        let mut diagnostic =
            Diagnostic::new(Code::UnknownKey, format!("unknown key `{key}` in {what}"))
                .at(doc.path(), doc.key_pos(&child(pointer, &key)));
        diagnostic = match did_you_mean(&key, known.iter().map(String::as_str)) {
            Some(suggestion) => diagnostic.with_hint(format!("did you mean `{suggestion}`?")),
            None => diagnostic.with_hint(format!("known keys: {}", known.join(", "))),
        };
        diagnostics.push(diagnostic);
    }
    true
}

/// Decodes a goal, reporting every key that does not decode, not only the first: each such key
/// is reported and set aside, and the rest decoded again, so a goal's mistakes show in one pass.
/// `None` when any key did not decode; the goal's own checks that need none of those keys (its
/// target) are reported too.
fn decode_goal(
    goal: Value,
    pointer: &str,
    doc: &Document,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<GoalDef> {
    let (decoded, set_aside) = decode_by_keys::<GoalDef>(goal, pointer, doc, diagnostics)?;
    if set_aside.is_empty() {
        return Some(decoded);
    }
    // The goal's own checks that need none of the keys set aside.
    if !set_aside.iter().any(|key| key == "target")
        && let Some(message) = crate::compile::invalid_target(decoded.target)
    {
        diagnostics.push(
            Diagnostic::new(Code::InvalidTarget, message)
                .at(doc.path(), doc.value_pos(&child(pointer, "target"))),
        );
    }
    None
}

/// Deserializes a mapping into `T` one wrong key at a time: each key serde refuses is
/// reported and set aside, and the rest tried again, so one mistake does not hide the next.
/// Answers what decoded without the keys set aside, and those keys; `None` when even that
/// does not decode (a required key was wrong).
fn decode_by_keys<T: DeserializeOwned>(
    mut value: Value,
    pointer: &str,
    doc: &Document,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(T, Vec<String>)> {
    let mut set_aside: Vec<String> = Vec::new();
    loop {
        let Some(fields) = value.as_object_mut() else {
            return deserialize::<T>(value, pointer, doc, diagnostics).map(|t| (t, Vec::new()));
        };
        let attempt = Value::Object(fields.clone());
        match serde_path_to_error::deserialize::<_, T>(attempt) {
            Ok(decoded) => return Some((decoded, set_aside)),
            Err(err) => {
                let key = match err.path().iter().next() {
                    Some(serde_path_to_error::Segment::Map { key }) => Some(key.clone()),
                    _ => None,
                };
                let inner = err.inner().to_string();
                // A key set aside is missing now: already reported.
                let missing_set_aside = inner
                    .strip_prefix("missing field `")
                    .map(|rest| rest.trim_end_matches('`'))
                    .is_some_and(|name| set_aside.iter().any(|key| key == name));
                if !missing_set_aside {
                    let at = pointer_at(pointer, err.path());
                    diagnostics.push(describe_serde_error(&inner, &at, doc));
                }
                match key {
                    Some(key)
                        if !missing_set_aside
                            && set_aside.len() < 16
                            && fields.remove(key.as_str()).is_some() =>
                    {
                        set_aside.push(key);
                    }
                    _ => return None,
                }
            }
        }
    }
}

/// Deserializes `value` into `T`, mapping a failure to a positioned diagnostic.
pub(super) fn deserialize<T: DeserializeOwned>(
    value: Value,
    pointer: &str,
    doc: &Document,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(decoded) => Some(decoded),
        Err(err) => {
            let at = pointer_at(pointer, err.path());
            diagnostics.push(describe_serde_error(&err.inner().to_string(), &at, doc));
            None
        }
    }
}

/// The JSON pointer, below `pointer`, of where serde stopped.
fn pointer_at(pointer: &str, path: &serde_path_to_error::Path) -> String {
    let mut at = pointer.to_string();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => at = child(&at, &index.to_string()),
            serde_path_to_error::Segment::Map { key } => at = child(&at, key),
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {}
        }
    }
    at
}
