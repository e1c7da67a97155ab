//! A challenge's calendar: `timezone:` moves every day boundary to local time, `rotation.at`
//! to a reset hour; daylight-saving days are 23 and 25 hours; `schedule.days` opens events
//! only on some days of the week, and the days between neither count nor break a streak.

use engine::progress::view;
use engine::{Skip, Status};

use crate::progress::{feed, shown};
use crate::support::{login, rules, stat, t};

const NEW_YORK: &str = r#"
version: 1
challenges:
  - id: ny
    name: New York days
    timezone: America/New_York
    goals:
      - { id: streak, name: S, on: login, count: streak, target: 5, assign: auto }
      - { id: days, name: D, on: login, count: days, target: 5, assign: auto }
  - id: ny-daily
    name: New York daily, reset at 04:00
    timezone: America/New_York
    rotation: { every: daily, at: "04:00" }
    goals:
      - { id: daily-kills, name: K, on: stat, stat: kills, count: sum, target: 100, assign: auto }
      - { id: daily-days, name: DD, on: login, count: days, target: 1, assign: auto }
"#;

#[test]
fn days_follow_the_challenge_time_zone() {
    let r = rules(NEW_YORK);
    let mut s = None;
    // 10:00 on May 1st and 21:00 on May 2nd in New York: two days in a row there, while in
    // UTC (14:00 May 1st, 01:00 May 3rd) a day lies between them.
    for at in ["2026-05-01T10:00:00-04:00", "2026-05-02T21:00:00-04:00"] {
        assert_eq!(feed(&r, "streak", &mut s, &login(t(at)), t(at)), None);
    }
    assert_eq!(
        shown(&r, "streak", &s, t("2026-05-03T02:00:00Z")),
        (2, Status::InProgress)
    );
    // 23:59 on May 3rd in New York is still the day after the last login.
    assert_eq!(
        shown(&r, "streak", &s, t("2026-05-04T03:59:00Z")),
        (2, Status::InProgress)
    );
    // From 00:00 May 4th New York time (04:00 UTC), May 3rd passed without one: broken.
    assert_eq!(
        shown(&r, "streak", &s, t("2026-05-04T04:00:00Z")),
        (0, Status::NotStarted)
    );
}

#[test]
fn a_reset_hour_moves_the_period_and_the_day() {
    let r = rules(NEW_YORK);
    let mut s = None;
    // 03:30 local on Jan 6th belongs to the day that started at 04:00 on Jan 5th.
    let before = t("2026-01-06T03:30:00-05:00");
    feed(
        &r,
        "daily-kills",
        &mut s,
        &stat("kills", 60, 60, before),
        before,
    );
    let goal = r.goal("daily-kills").expect("goal");
    assert_eq!(
        view(goal, s.as_ref(), before).expires_at,
        Some(t("2026-01-06T04:00:00-05:00"))
    );
    let after = t("2026-01-06T04:00:00-05:00");
    assert_eq!(
        shown(&r, "daily-kills", &s, after),
        (0, Status::NotStarted),
        "reset at 04:00"
    );
    feed(
        &r,
        "daily-kills",
        &mut s,
        &stat("kills", 90, 30, after),
        after,
    );
    assert_eq!(
        shown(&r, "daily-kills", &s, after),
        (30, Status::InProgress)
    );
    assert_eq!(
        s.as_ref().and_then(|s| s.expires_at),
        Some(t("2026-01-07T04:00:00-05:00"))
    );

    // A challenge with a reset hour counts its days from it too: 23:00 and 03:59 the night
    // after are one day there, two days where days start at midnight.
    let evening = t("2026-01-05T23:00:00-05:00");
    let night = t("2026-01-06T03:59:00-05:00");
    let mut midnight_days = None;
    feed(&r, "days", &mut midnight_days, &login(evening), evening);
    assert_eq!(
        feed(&r, "days", &mut midnight_days, &login(night), night),
        None
    );
    let mut reset_days = None;
    feed(&r, "daily-days", &mut reset_days, &login(evening), evening);
    assert_eq!(
        shown(&r, "daily-days", &reset_days, night),
        (1, Status::Completed)
    );
    assert_eq!(
        feed(&r, "daily-days", &mut reset_days, &login(night), night),
        Some(Skip::AlreadyCompleted)
    );
}

#[test]
fn the_spring_forward_day_is_one_day_of_23_hours() {
    // 2026-03-08: at 02:00 New York's clocks jump to 03:00.
    let r = rules(NEW_YORK);
    let goal = r.goal("daily-kills").expect("goal");
    let at = t("2026-03-08T12:00:00Z");
    let mut s = None;
    feed(&r, "daily-kills", &mut s, &stat("kills", 10, 10, at), at);
    let start = t("2026-03-08T04:00:00-04:00");
    let end = view(goal, s.as_ref(), at).expires_at.expect("rotating");
    assert_eq!(end, t("2026-03-09T04:00:00-04:00"));
    // The day before holds the jump: from 04:00 EST to 04:00 EDT.
    let saturday = t("2026-03-07T12:00:00Z");
    let mut s2 = None;
    feed(
        &r,
        "daily-kills",
        &mut s2,
        &stat("kills", 10, 10, saturday),
        saturday,
    );
    let saturday_end = view(goal, s2.as_ref(), saturday)
        .expires_at
        .expect("rotating");
    assert_eq!(saturday_end, start);
    assert_eq!(
        (saturday_end - t("2026-03-07T04:00:00-05:00")).num_hours(),
        23
    );

    // `count: days` (midnight boundaries): 00:30 and 23:30 on the 8th are one day, 22 hours
    // apart on the wall clock but 22 real hours too, since the day is 23 long.
    let mut d = None;
    let early = t("2026-03-08T00:30:00-05:00");
    let late = t("2026-03-08T23:30:00-04:00");
    assert_eq!((late - early).num_hours(), 22);
    feed(&r, "days", &mut d, &login(early), early);
    assert_eq!(
        feed(&r, "days", &mut d, &login(late), late),
        Some(Skip::SameDay)
    );
}

#[test]
fn the_fall_back_day_is_one_day_of_25_hours() {
    // 2026-11-01: at 02:00 EDT the clocks go back to 01:00 EST.
    let r = rules(NEW_YORK);
    let mut d = None;
    let early = t("2026-11-01T00:10:00-04:00");
    let late = t("2026-11-01T23:50:00-05:00");
    assert_eq!((late - early).num_minutes(), 24 * 60 + 40, "a 25-hour day");
    feed(&r, "days", &mut d, &login(early), early);
    assert_eq!(
        feed(&r, "days", &mut d, &login(late), late),
        Some(Skip::SameDay)
    );
    let next = t("2026-11-02T00:10:00-05:00");
    assert_eq!(feed(&r, "days", &mut d, &login(next), next), None);
    assert_eq!(shown(&r, "days", &d, next), (2, Status::InProgress));
}

const WEEKENDS: &str = r#"
version: 1
challenges:
  - id: weekend
    name: Weekend warrior
    timezone: Europe/Berlin
    schedule: { days: [sat, sun] }
    goals:
      - { id: weekend-streak, name: W, on: login, count: streak, target: 4, assign: auto }
      - { id: weekend-wins, name: WW, on: stat, stat: wins, count: sum, target: 3, assign: auto }
"#;

#[test]
fn a_weekend_window_counts_only_on_its_days_and_weekdays_do_not_break_a_streak() {
    let r = rules(WEEKENDS);
    let mut s = None;
    // 2026-05-02 is a Saturday.
    for at in ["2026-05-02T10:00:00+02:00", "2026-05-03T23:00:00+02:00"] {
        assert_eq!(
            feed(&r, "weekend-streak", &mut s, &login(t(at)), t(at)),
            None
        );
    }
    // Monday to Friday: events do not count, and the streak stands.
    let friday = t("2026-05-08T20:00:00+02:00");
    assert_eq!(
        feed(&r, "weekend-streak", &mut s, &login(friday), friday),
        Some(Skip::OutsideSchedule)
    );
    assert_eq!(
        shown(&r, "weekend-streak", &s, friday),
        (2, Status::InProgress)
    );
    let saturday = t("2026-05-09T09:00:00+02:00");
    feed(&r, "weekend-streak", &mut s, &login(saturday), saturday);
    assert_eq!(
        shown(&r, "weekend-streak", &s, saturday),
        (3, Status::InProgress)
    );
    // A whole weekend day missed (Sunday) breaks it on the next Saturday.
    let next_saturday = t("2026-05-16T09:00:00+02:00");
    assert_eq!(
        shown(&r, "weekend-streak", &s, next_saturday),
        (0, Status::NotStarted)
    );
}

#[test]
fn a_closed_window_says_when_it_opens_and_an_open_one_when_it_closes() {
    let r = rules(WEEKENDS);
    let goal = r.goal("weekend-wins").expect("goal");
    let wednesday = t("2026-05-06T12:00:00Z");
    let closed = view(goal, None, wednesday);
    assert_eq!(closed.opens_at, Some(t("2026-05-09T00:00:00+02:00")));
    let sunday = t("2026-05-10T12:00:00Z");
    let open = view(goal, None, sunday);
    assert_eq!(open.opens_at, None);
    assert_eq!(
        open.expires_at,
        Some(t("2026-05-11T00:00:00+02:00")),
        "Monday, Berlin time"
    );
}
