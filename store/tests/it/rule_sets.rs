//! Rule-set versions, against both stores: every rule set events are applied under is recorded
//! once with its files, and each archived event names the rule set it was applied under, in
//! order even when one batch spans a reload.

use std::sync::Arc;

use engine::{RuleSet, SourceFile, Sources, UserId, compile};
use store::ArchiveWindow;

use crate::support::{RULES, TestDb, stat_event, test_now};

conformance!(each_archived_event_names_the_rules_it_was_applied_under);

fn rule_set(text: &str) -> Arc<RuleSet> {
    let compiled = compile(&Sources {
        files: vec![SourceFile::new("rules.yaml", text)],
        unreadable: Vec::new(),
    });
    Arc::new(compiled.rules.expect("test rules compile"))
}

async fn each_archived_event_names_the_rules_it_was_applied_under(db: &TestDb) {
    let store = db.store().await;
    let old = rule_set(RULES);
    let new = rule_set(&format!("{RULES}\n# the fix\n"));
    assert_ne!(old.info.content_hash, new.info.content_hash);
    let pending = |id: &str, rules: &Arc<RuleSet>| store::PendingEvent {
        rules: rules.clone(),
        event: stat_event(id, "u1", "kills", 1, test_now()),
        goals: vec![engine::GoalId::new("auto-counter")],
        archive: true,
    };
    // A batch across a reload (and back): three runs of rule sets.
    let batch = vec![
        pending("a1", &old),
        pending("a2", &old),
        pending("b1", &new),
        pending("a3", &old),
    ];
    store.apply_events(&batch, test_now()).await.expect("batch");
    store
        .apply_events(&[pending("b2", &new)], test_now())
        .await
        .expect("batch");

    let events = (store.read_archive(&ArchiveWindow::default(), 0, 100).await).expect("read");
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.event_id.as_str(), e.rule_set.as_deref().unwrap_or("none")))
        .collect();
    let (o, n) = (
        old.info.content_hash.as_str(),
        new.info.content_hash.as_str(),
    );
    assert_eq!(
        seen,
        [("a1", o), ("a2", o), ("b1", n), ("a3", o), ("b2", n)]
    );
    let recent = (store.player_archive(&UserId::new("u1"), 2).await).expect("recent");
    assert_eq!(recent[1].rule_set.as_deref(), Some(n));

    let recorded = store.rule_sets(10).await.expect("rule sets");
    let mut hashes: Vec<&str> = recorded.iter().map(|r| r.content_hash.as_str()).collect();
    hashes.sort_unstable();
    let mut expected = vec![o, n];
    expected.sort_unstable();
    assert_eq!(hashes, expected, "each recorded once");
    let fixed = recorded
        .iter()
        .find(|r| r.content_hash == n)
        .expect("the fix");
    let files: serde_json::Value = serde_json::from_str(&fixed.files).expect("JSON");
    assert_eq!(files[0]["name"], "rules.yaml");
    assert!(files[0]["text"].as_str().unwrap().ends_with("# the fix\n"));
    // PostgreSQL keeps microseconds.
    let off = (fixed.loaded_at - new.info.loaded_at).num_microseconds();
    assert!(off.is_some_and(|us| us.abs() < 1), "{off:?}");
}
