//! A change of a rotation's calendar (`every`, `timezone` or `rotation.at`) on a live
//! challenge takes effect at the next boundary of the periods in force: the period running
//! when the change is deployed keeps its start and end, so no claim's period (and transaction
//! id) moves under it. The first period under the new calendar runs from that boundary to the
//! new calendar's next one.
//!
//! Which calendar was in force, and since when, is recorded outside the engine (the store's
//! `rotation_calendars`, one row per subject and change): [`plan`] turns the recorded history
//! and the rules being loaded into the rows to record and the earlier periods each rotation
//! keeps, the same for every replica and across restarts.

use std::sync::Arc;

use chrono::{DateTime, NaiveTime, Utc};

use crate::model::Period;
use crate::period::Calendar;
use crate::ruleset::{EarlierPeriods, Rotation, RuleSet};

/// One recorded calendar of a subject (`challenge/<id>` or `goal/<id>`): `calendar` as
/// [`key`] writes it, in force from `effective_from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCalendar {
    pub subject: String,
    pub calendar: String,
    pub effective_from: DateTime<Utc>,
}

/// What loading a rule set does about calendar changes: rows to record, and the earlier
/// periods each changed rotation keeps until its change takes effect.
#[derive(Debug, Default, PartialEq)]
pub struct CalendarPlan {
    pub record: Vec<RecordedCalendar>,
    pub earlier: Vec<(String, EarlierPeriods)>,
    /// Changes recorded for later that the files no longer ask for: `(subject, now)`, the
    /// subject's rows after `now` are to be deleted.
    pub withdraw: Vec<(String, DateTime<Utc>)>,
}

/// A rotation of a rule set being loaded: its subject, its calendar's key, and the goals it
/// rotates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotating {
    pub subject: String,
    pub key: String,
    pub goals: Vec<crate::ids::GoalId>,
}

/// Answers, for the rotations of a rule set being loaded, the earlier periods each keeps (the
/// store's side: read the history, [`plan`], record).
pub type CalendarHistory =
    Arc<dyn Fn(&[Rotating]) -> Result<Vec<(String, EarlierPeriods)>, String> + Send + Sync>;

/// A rotation's calendar in one line: `weekly 04:00 America/New_York`.
pub fn key(every: Period, calendar: Calendar) -> String {
    format!(
        "{} {} {}",
        every.as_str(),
        calendar.reset_at(),
        calendar.timezone()
    )
}

/// The rotation [`key`] wrote.
pub fn parse_key(text: &str) -> Option<(Period, Calendar)> {
    let mut parts = text.split(' ');
    let every = match parts.next()? {
        "daily" => Period::Daily,
        "weekly" => Period::Weekly,
        "monthly" => Period::Monthly,
        _ => return None,
    };
    let day_start = NaiveTime::parse_from_str(parts.next()?, "%H:%M").ok()?;
    let tz = parts.next()?.parse().ok()?;
    parts
        .next()
        .is_none()
        .then_some((every, Calendar { tz, day_start }))
}

/// Decides, at `now`, what the rotations `wanted` (`(subject, key)`) keep of the recorded
/// `history`:
/// - never recorded: a new rotation's calendar is in force since ever; one that already ran
///   (`ran`: players hold rows of its goals) ran on UTC days from midnight, as every rotation
///   did before calendars were recorded, so that is recorded as in force since ever, and
///   another calendar is a change;
/// - the calendar in force: kept, with the change that brought it in (for replays of earlier
///   events); a change recorded for later is withdrawn (the files were put back);
/// - the calendar a change recorded for later brings: that change is kept;
/// - another calendar: recorded to take effect at the end of the period in force now (a
///   different change recorded for later is withdrawn), and until then the rotation keeps the
///   periods in force.
///
/// A row repeating the calendar of the row before it (two replicas recording one change on
/// either side of a boundary) changes nothing.
pub fn plan(
    wanted: &[(String, String)],
    history: &[RecordedCalendar],
    ran: &dyn Fn(&str) -> bool,
    now: DateTime<Utc>,
) -> CalendarPlan {
    let mut out = CalendarPlan::default();
    for (subject, wanted_key) in wanted {
        let mut rows: Vec<RecordedCalendar> = (history.iter())
            .filter(|row| &row.subject == subject)
            .cloned()
            .collect();
        rows.sort_by_key(|row| row.effective_from);
        rows.dedup_by(|later, earlier| later.calendar == earlier.calendar);
        if rows.first().is_none_or(|first| first.effective_from > now) {
            let Some((every, _)) = parse_key(wanted_key) else {
                continue;
            };
            let seed = RecordedCalendar {
                subject: subject.clone(),
                calendar: if ran(subject) {
                    key(every, Calendar::UTC)
                } else {
                    wanted_key.clone()
                },
                effective_from: DateTime::<Utc>::UNIX_EPOCH,
            };
            out.record.push(seed.clone());
            rows.insert(0, seed);
            rows.dedup_by(|later, earlier| later.calendar == earlier.calendar);
        }
        let Some(position) = rows.iter().rposition(|row| row.effective_from <= now) else {
            continue;
        };
        let in_force = &rows[position];
        let pending = rows.get(position + 1);
        let earlier_of = |row: &RecordedCalendar, until| {
            parse_key(&row.calendar).map(|(every, calendar)| EarlierPeriods {
                every,
                calendar,
                until,
            })
        };
        if &in_force.calendar == wanted_key {
            if pending.is_some() {
                out.withdraw.push((subject.clone(), now));
            }
            let before = position.checked_sub(1).and_then(|i| rows.get(i));
            if let Some(earlier) = before.and_then(|row| earlier_of(row, in_force.effective_from)) {
                out.earlier.push((subject.clone(), earlier));
            }
            continue;
        }
        if let Some(change) = pending.filter(|change| &change.calendar == wanted_key) {
            if let Some(earlier) = earlier_of(in_force, change.effective_from) {
                out.earlier.push((subject.clone(), earlier));
            }
            continue;
        }
        if pending.is_some() {
            out.withdraw.push((subject.clone(), now));
        }
        // Unreadable (written by a later version?): the new calendar from now on.
        let until = parse_key(&in_force.calendar)
            .map_or(now, |(every, calendar)| every.next_start_in(calendar, now));
        out.record.push(RecordedCalendar {
            subject: subject.clone(),
            calendar: wanted_key.clone(),
            effective_from: until,
        });
        if let Some(earlier) = earlier_of(in_force, until) {
            out.earlier.push((subject.clone(), earlier));
        }
    }
    out
}

impl RuleSet {
    /// Every rotation of the rule set as `(subject, key)`: `challenge/<id>` for a challenge's
    /// own, `goal/<id>` for each rotating goal's.
    pub fn rotation_calendars(&self) -> Vec<Rotating> {
        let challenges = (self.challenges.iter()).filter_map(|c| {
            Some(Rotating {
                subject: format!("challenge/{}", c.id),
                key: c.rotation?.key(),
                goals: self.goals_of(c).map(|g| g.id.clone()).collect(),
            })
        });
        let goals = (self.goals.iter()).filter_map(|g| {
            Some(Rotating {
                subject: format!("goal/{}", g.id),
                key: g.rotation?.key(),
                goals: vec![g.id.clone()],
            })
        });
        challenges.chain(goals).collect()
    }

    /// Gives each rotation named in `earlier` the periods it keeps until its change.
    pub fn keep_earlier_periods(&mut self, earlier: &[(String, EarlierPeriods)]) {
        let find = |subject: &str| earlier.iter().find(|(s, _)| s == subject).map(|(_, e)| *e);
        let keep = |rotation: &mut Option<Rotation>, subject: String| {
            if let (Some(rotation), Some(periods)) = (rotation.as_mut(), find(&subject)) {
                rotation.earlier = Some(periods);
            }
        };
        for challenge in &mut self.challenges {
            keep(
                &mut challenge.rotation,
                format!("challenge/{}", challenge.id),
            );
        }
        for goal in &mut self.goals {
            keep(&mut goal.rotation, format!("goal/{}", goal.id));
            // The goal's days follow its rotation's calendar, and so its change.
            if let Some(periods) = goal.rotation.and_then(|r| r.earlier) {
                goal.schedule.earlier = Some((periods.calendar, periods.until));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    fn row(calendar: &str, from: DateTime<Utc>) -> RecordedCalendar {
        RecordedCalendar {
            subject: "goal/g".into(),
            calendar: calendar.into(),
            effective_from: from,
        }
    }

    fn want(calendar: &str) -> Vec<(String, String)> {
        vec![("goal/g".to_string(), calendar.to_string())]
    }

    #[test]
    fn keys_read_back() {
        let calendar = Calendar {
            tz: chrono_tz::America::New_York,
            day_start: NaiveTime::from_hms_opt(4, 0, 0).expect("time"),
        };
        let written = key(Period::Weekly, calendar);
        assert_eq!(written, "weekly 04:00 America/New_York");
        assert_eq!(parse_key(&written), Some((Period::Weekly, calendar)));
        assert_eq!(parse_key("weekly 04:00"), None);
        assert_eq!(parse_key("hourly 04:00 UTC"), None);
    }

    #[test]
    fn a_first_calendar_is_in_force_since_ever() {
        let now = t("2026-06-10T12:00:00Z");
        let plan = plan(&want("daily 00:00 UTC"), &[], &|_| true, now);
        assert_eq!(
            plan.record,
            vec![row("daily 00:00 UTC", DateTime::<Utc>::UNIX_EPOCH)]
        );
        assert!(plan.earlier.is_empty());
    }

    /// Before calendars were recorded, every rotation ran on UTC days from midnight: a
    /// rotation first recorded with another calendar (a live challenge given a `timezone` in
    /// the deploy that brings this) keeps the UTC period in force, like any change.
    #[test]
    fn a_first_recorded_calendar_other_than_utc_midnight_waits_like_a_change() {
        let now = t("2026-06-10T12:00:00Z");
        let plan = plan(&want("daily 04:00 America/New_York"), &[], &|_| true, now);
        let until = t("2026-06-11T00:00:00Z");
        assert_eq!(
            plan.record,
            vec![
                row("daily 00:00 UTC", DateTime::<Utc>::UNIX_EPOCH),
                row("daily 04:00 America/New_York", until)
            ]
        );
        assert_eq!(plan.earlier[0].1.until, until);
    }

    /// A rotation no player holds rows of is new: its calendar is in force from the start.
    #[test]
    fn a_new_rotation_starts_on_its_own_calendar() {
        let now = t("2026-06-10T12:00:00Z");
        let plan = plan(&want("daily 04:00 America/New_York"), &[], &|_| false, now);
        assert_eq!(
            plan.record,
            vec![row(
                "daily 04:00 America/New_York",
                DateTime::<Utc>::UNIX_EPOCH
            )]
        );
        assert!(plan.earlier.is_empty());
    }

    /// Files put back before a change took effect: the change is withdrawn, so a process
    /// loading after its time does not put it in force.
    #[test]
    fn a_change_put_back_before_it_took_effect_is_withdrawn() {
        let history = [
            row("daily 00:00 UTC", DateTime::<Utc>::UNIX_EPOCH),
            row("daily 04:00 America/New_York", t("2026-06-11T00:00:00Z")),
        ];
        let now = t("2026-06-10T14:00:00Z");
        let plan = plan(&want("daily 00:00 UTC"), &history, &|_| true, now);
        assert_eq!(plan.withdraw, vec![("goal/g".to_string(), now)]);
        assert!(plan.earlier.is_empty() && plan.record.is_empty());
    }

    /// Two replicas that loaded the same change on either side of a boundary recorded it
    /// twice: the later row changes nothing (no period starts at it).
    #[test]
    fn the_same_calendar_recorded_twice_is_one_change() {
        let history = [
            row("daily 00:00 UTC", DateTime::<Utc>::UNIX_EPOCH),
            row("daily 04:00 America/New_York", t("2026-06-11T00:00:00Z")),
            row("daily 04:00 America/New_York", t("2026-06-12T00:00:00Z")),
        ];
        let wanted = want("daily 04:00 America/New_York");
        for now in [
            "2026-06-11T00:00:01Z",
            "2026-06-12T02:00:00Z",
            "2026-06-20T00:00:00Z",
        ] {
            let plan = plan(&wanted, &history, &|_| true, t(now));
            assert!(plan.record.is_empty(), "{now}");
            assert_eq!(plan.earlier[0].1.until, t("2026-06-11T00:00:00Z"), "{now}");
            assert_eq!(plan.earlier[0].1.calendar, Calendar::UTC, "{now}");
        }
        // Still pending, and loaded again: the recorded change is kept, not recorded anew.
        let pending = plan(&wanted, &history[..2], &|_| true, t("2026-06-10T23:59:59Z"));
        assert!(pending.record.is_empty());
        assert_eq!(pending.earlier[0].1.until, t("2026-06-11T00:00:00Z"));
    }

    #[test]
    fn a_change_waits_for_the_end_of_the_period_in_force() {
        let now = t("2026-06-10T12:00:00Z");
        let history = [row("daily 00:00 UTC", DateTime::<Utc>::UNIX_EPOCH)];
        let plan = plan(
            &want("daily 04:00 America/New_York"),
            &history,
            &|_| true,
            now,
        );
        let until = t("2026-06-11T00:00:00Z");
        assert_eq!(
            plan.record,
            vec![row("daily 04:00 America/New_York", until)]
        );
        assert_eq!(plan.earlier[0].1.until, until);
        assert_eq!(plan.earlier[0].1.every, Period::Daily);
    }

    #[test]
    fn a_replica_loading_the_change_later_in_the_period_agrees() {
        let history = [
            row("daily 00:00 UTC", DateTime::<Utc>::UNIX_EPOCH),
            row("daily 04:00 America/New_York", t("2026-06-11T00:00:00Z")),
        ];
        let later = t("2026-06-10T20:00:00Z");
        let plan = plan(
            &want("daily 04:00 America/New_York"),
            &history,
            &|_| true,
            later,
        );
        assert!(
            plan.record.is_empty(),
            "the change recorded is the one kept"
        );
        assert_eq!(plan.earlier[0].1.until, t("2026-06-11T00:00:00Z"));
        // After the change took effect, it is kept for replays of earlier events.
        let after = t("2026-06-12T00:00:00Z");
        let plan = super::plan(
            &want("daily 04:00 America/New_York"),
            &history,
            &|_| true,
            after,
        );
        assert!(plan.record.is_empty());
        assert_eq!(plan.earlier[0].1.until, t("2026-06-11T00:00:00Z"));
    }

    #[test]
    fn rotations_answer_the_earlier_periods_until_the_change() {
        let new_york = Calendar {
            tz: chrono_tz::America::New_York,
            day_start: NaiveTime::from_hms_opt(4, 0, 0).expect("time"),
        };
        let rotation = Rotation {
            every: Period::Daily,
            reset_progress: true,
            allow_reselection: false,
            calendar: new_york,
            earlier: Some(EarlierPeriods {
                every: Period::Daily,
                calendar: Calendar::UTC,
                until: t("2026-06-11T00:00:00Z"),
            }),
        };
        // Before: the UTC day, whole.
        let now = t("2026-06-10T12:00:00Z");
        assert_eq!(rotation.start_of(now), t("2026-06-10T00:00:00Z"));
        assert_eq!(rotation.next_start(now), t("2026-06-11T00:00:00Z"));
        // Then a bridge to the first 04:00 in New York (08:00 UTC in June).
        let bridge = t("2026-06-11T03:00:00Z");
        assert_eq!(rotation.start_of(bridge), t("2026-06-11T00:00:00Z"));
        assert_eq!(rotation.next_start(bridge), t("2026-06-11T08:00:00Z"));
        // Then New York days.
        let after = t("2026-06-11T09:00:00Z");
        assert_eq!(rotation.start_of(after), t("2026-06-11T08:00:00Z"));
        assert_eq!(rotation.next_start(after), t("2026-06-12T08:00:00Z"));
    }
}
