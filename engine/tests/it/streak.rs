//! `count: streak`: consecutive UTC days with a matching event. A day without one breaks it:
//! the list shows 0 from the day after the gap, and the next event starts a new streak at 1.

use engine::{Skip, Status};

use crate::progress::{feed, shown};
use crate::support::{login, rules, t};

const STREAK: &str = r#"
version: 1
challenges:
  - id: c
    name: C
    goals:
      - { id: streak, name: Seven days in a row, on: login, count: streak, target: 3, assign: auto }
"#;

#[test]
fn a_streak_counts_consecutive_days_and_a_gap_starts_it_again() {
    let r = rules(STREAK);
    let mut s = None;
    let day1 = t("2026-05-01T10:00:00Z");
    assert_eq!(feed(&r, "streak", &mut s, &login(day1), day1), None);
    let late = t("2026-05-01T23:00:00Z");
    assert_eq!(
        feed(&r, "streak", &mut s, &login(late), late),
        Some(Skip::SameDay)
    );
    let day2 = t("2026-05-02T00:30:00Z");
    feed(&r, "streak", &mut s, &login(day2), day2);
    assert_eq!(shown(&r, "streak", &s, day2), (2, Status::InProgress));
    // Day 3 is not over: the streak still stands.
    let day3 = t("2026-05-03T23:59:00Z");
    assert_eq!(shown(&r, "streak", &s, day3), (2, Status::InProgress));
    // Day 3 passed without a login: broken.
    let day4 = t("2026-05-04T00:01:00Z");
    assert_eq!(shown(&r, "streak", &s, day4), (0, Status::NotStarted));
    feed(&r, "streak", &mut s, &login(day4), day4);
    assert_eq!(shown(&r, "streak", &s, day4), (1, Status::InProgress));
    for day in ["2026-05-05T08:00:00Z", "2026-05-06T21:00:00Z"] {
        feed(&r, "streak", &mut s, &login(t(day)), t(day));
    }
    let later = t("2026-05-20T00:00:00Z");
    assert_eq!(
        shown(&r, "streak", &s, later),
        (3, Status::Completed),
        "a completed streak stays completed"
    );
}

#[test]
fn an_event_of_an_earlier_day_neither_extends_nor_breaks_the_streak() {
    let r = rules(STREAK);
    let mut s = None;
    for day in ["2026-05-01T10:00:00Z", "2026-05-02T10:00:00Z"] {
        feed(&r, "streak", &mut s, &login(t(day)), t(day));
    }
    // Sent late: it happened on day 1.
    let now = t("2026-05-02T11:00:00Z");
    let old = login(t("2026-05-01T12:00:00Z"));
    assert_eq!(feed(&r, "streak", &mut s, &old, now), Some(Skip::SameDay));
    assert_eq!(shown(&r, "streak", &s, now), (2, Status::InProgress));
}
