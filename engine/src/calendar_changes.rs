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
}

/// Answers, for the rotations of a rule set being loaded (`(subject, key)`), the earlier
/// periods each keeps (the store's side: read the history, [`plan`], record).
pub type CalendarHistory =
    Arc<dyn Fn(&[(String, String)]) -> Result<Vec<(String, EarlierPeriods)>, String> + Send + Sync>;

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
/// - never recorded: recorded as in force since ever;
/// - the calendar in force: kept, with the change that brought it in (for replays of earlier
///   events);
/// - another calendar: recorded to take effect at the end of the period in force now, and
///   until then the rotation keeps the periods in force.
///
/// A change recorded for later that the files no longer ask for is left alone: what is in
/// force is what counts.
pub fn plan(
    wanted: &[(String, String)],
    history: &[RecordedCalendar],
    now: DateTime<Utc>,
) -> CalendarPlan {
    let mut out = CalendarPlan::default();
    for (subject, wanted_key) in wanted {
        let mut rows: Vec<&RecordedCalendar> = history
            .iter()
            .filter(|row| &row.subject == subject)
            .collect();
        rows.sort_by_key(|row| row.effective_from);
        let Some(position) = rows.iter().rposition(|row| row.effective_from <= now) else {
            out.record.push(RecordedCalendar {
                subject: subject.clone(),
                calendar: wanted_key.clone(),
                effective_from: DateTime::<Utc>::UNIX_EPOCH,
            });
            continue;
        };
        let in_force = rows[position];
        if &in_force.calendar == wanted_key {
            let before = position.checked_sub(1).and_then(|i| rows.get(i));
            if let Some((every, calendar)) = before.and_then(|row| parse_key(&row.calendar)) {
                out.earlier.push((
                    subject.clone(),
                    EarlierPeriods {
                        every,
                        calendar,
                        until: in_force.effective_from,
                    },
                ));
            }
            continue;
        }
        let Some((every, calendar)) = parse_key(&in_force.calendar) else {
            // Unreadable (written by a later version?): the new calendar from now on.
            out.record.push(RecordedCalendar {
                subject: subject.clone(),
                calendar: wanted_key.clone(),
                effective_from: now,
            });
            continue;
        };
        let until = every.next_start_in(calendar, now);
        out.record.push(RecordedCalendar {
            subject: subject.clone(),
            calendar: wanted_key.clone(),
            effective_from: until,
        });
        out.earlier.push((
            subject.clone(),
            EarlierPeriods {
                every,
                calendar,
                until,
            },
        ));
    }
    out
}

impl RuleSet {
    /// Every rotation of the rule set as `(subject, key)`: `challenge/<id>` for a challenge's
    /// own, `goal/<id>` for each rotating goal's.
    pub fn rotation_calendars(&self) -> Vec<(String, String)> {
        let challenges = (self.challenges.iter())
            .filter_map(|c| Some((format!("challenge/{}", c.id), c.rotation?)));
        let goals =
            (self.goals.iter()).filter_map(|g| Some((format!("goal/{}", g.id), g.rotation?)));
        challenges
            .chain(goals)
            .map(|(subject, rotation)| (subject, rotation.key()))
            .collect()
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
        let plan = plan(&want("daily 00:00 UTC"), &[], now);
        assert_eq!(
            plan.record,
            vec![row("daily 00:00 UTC", DateTime::<Utc>::UNIX_EPOCH)]
        );
        assert!(plan.earlier.is_empty());
    }

    #[test]
    fn a_change_waits_for_the_end_of_the_period_in_force() {
        let now = t("2026-06-10T12:00:00Z");
        let history = [row("daily 00:00 UTC", DateTime::<Utc>::UNIX_EPOCH)];
        let plan = plan(&want("daily 04:00 America/New_York"), &history, now);
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
        let plan = plan(&want("daily 04:00 America/New_York"), &history, later);
        assert_eq!(
            plan.record,
            vec![row(
                "daily 04:00 America/New_York",
                t("2026-06-11T00:00:00Z")
            )]
        );
        assert_eq!(plan.earlier[0].1.until, t("2026-06-11T00:00:00Z"));
        // After the change took effect, it is kept for replays of earlier events.
        let after = t("2026-06-12T00:00:00Z");
        let plan = super::plan(&want("daily 04:00 America/New_York"), &history, after);
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
