//! Helpers: compile rule sets from inline YAML, build events, parse times.

use chrono::{DateTime, Utc};
use engine::{Event, EventData, EventKind, RuleSet, SourceFile, Sources, UserId, compile};

pub fn rules(yaml: &str) -> RuleSet {
    let compiled = compile(&Sources {
        files: vec![SourceFile::new("inline.yaml", yaml)],
        unreadable: Vec::new(),
    });
    match compiled.rules {
        Some(rules) => rules,
        None => panic!("rules do not compile: {:#?}", compiled.diagnostics),
    }
}

pub fn t(text: &str) -> DateTime<Utc> {
    text.parse().expect("RFC 3339 time")
}

pub fn stat(code: &str, value: i64, inc: i64, at: DateTime<Utc>) -> Event {
    Event::new(EventData {
        id: format!("{code}-{value}-{at}"),
        kind: EventKind::Stat,
        user_id: UserId::new("player-1"),
        namespace: "test".into(),
        timestamp: at,
        sent_at: None,
        stat_code: Some(code.into()),
        value,
        inc,
        additional: Default::default(),
    })
}

pub fn login(at: DateTime<Utc>) -> Event {
    Event::new(EventData {
        id: format!("login-{at}"),
        kind: EventKind::Login,
        user_id: UserId::new("player-1"),
        namespace: "test".into(),
        timestamp: at,
        sent_at: None,
        stat_code: None,
        value: 0,
        inc: 0,
        additional: Default::default(),
    })
}
