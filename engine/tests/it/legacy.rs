//! The reference implementation's `challenges.json` loads to the same rule set as its YAML twin.

use std::path::Path;

use engine::{CompiledGoal, RuleSet, SourceFile, Sources, compile};

fn load(name: &str) -> RuleSet {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/legacy")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    let compiled = compile(&Sources {
        files: vec![SourceFile::new(name, text)],
        unreadable: Vec::new(),
    });
    assert!(
        compiled.diagnostics.is_empty(),
        "{name}: {:#?}",
        compiled.diagnostics
    );
    compiled.rules.expect("rules")
}

/// Everything about a goal that decides behaviour or what players see.
fn behaviour(goal: &CompiledGoal) -> String {
    format!(
        "{} {} {} {:?} {:?} {:?} relative={} target={} {:?} {:?} {:?} {:?} {:?}",
        goal.id,
        goal.challenge_id,
        goal.name,
        goal.description,
        goal.on,
        goal.stats,
        goal.relative,
        goal.target,
        goal.count,
        goal.assign,
        goal.rewards,
        goal.requires,
        goal.rotation,
    )
}

#[test]
fn legacy_json_and_its_yaml_twin_compile_to_the_same_rules() {
    let json = load("challenges.json");
    let yaml = load("challenges.yaml");
    let describe =
        |rules: &RuleSet| -> Vec<String> { rules.goals().iter().map(behaviour).collect() };
    assert_eq!(describe(&json), describe(&yaml));
    let challenge = |rules: &RuleSet| -> Vec<(String, String, String)> {
        rules
            .challenges()
            .iter()
            .map(|c| (c.id.to_string(), c.name.clone(), c.description.clone()))
            .collect()
    };
    assert_eq!(challenge(&json), challenge(&yaml));
    assert_eq!(json.goals().len(), 3);
}

#[test]
fn conversion_prints_yaml_that_compiles_to_the_same_rules() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy/challenges.json");
    let text = std::fs::read_to_string(&path).expect("fixture");
    let yaml = engine::source::legacy::convert_to_yaml(SourceFile::new("challenges.json", text))
        .expect("converts");
    let compiled = compile(&Sources {
        files: vec![SourceFile::new("converted.yaml", yaml.clone())],
        unreadable: Vec::new(),
    });
    assert!(
        compiled.diagnostics.is_empty(),
        "{yaml}\n{:#?}",
        compiled.diagnostics
    );
    let converted = compiled.rules.expect("rules");
    let twin = load("challenges.yaml");
    let describe =
        |rules: &RuleSet| -> Vec<String> { rules.goals().iter().map(behaviour).collect() };
    assert_eq!(describe(&converted), describe(&twin));
}

/// The reference refuses a rotating statistic goal whose progress is absolute (or unset, which
/// it reads as absolute) at start-up; a file that fails there must not quietly mean something
/// else here.
#[test]
fn a_rotating_absolute_goal_is_an_error_with_a_hint() {
    for mode in [r#""progressMode": "absolute","#, ""] {
        let text = format!(
            r#"{{"challenges": [{{"challengeId": "c", "name": "C", "goals": [{{
                "goalId": "daily-kills", "name": "K", "eventSource": "statistic",
                "requirement": {{"statCode": "kills", "targetValue": 5, {mode} "operator": ">="}},
                "reward": {{"type": "WALLET", "rewardId": "GOLD", "quantity": 1}},
                "rotation": {{"enabled": true, "type": "global", "schedule": "daily"}}
            }}]}}]}}"#
        );
        let compiled = compile(&Sources {
            files: vec![SourceFile::new("challenges.json", text)],
            unreadable: Vec::new(),
        });
        let error = compiled
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .unwrap_or_else(|| panic!("`{mode}`: no error: {:#?}", compiled.diagnostics));
        assert!(
            error
                .message
                .contains("rotation requires progressMode 'relative'"),
            "{error:?}"
        );
        assert!(
            error
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("\"progressMode\": \"relative\""))
        );
        assert!(error.pos.is_some(), "the error points at the goal");
    }
}
