//! When a goal counts: its rotation (periods in the challenge's calendar, and the earlier
//! periods a calendar change keeps until its time) and its schedule (a window, some days of
//! the week, the claim grace after it).

use chrono::{DateTime, Datelike, Utc};

use crate::model::Period;
use crate::period::Calendar;

/// Rotation of a goal (global periods, in the challenge's calendar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub every: Period,
    pub reset_progress: bool,
    pub allow_reselection: bool,
    /// The time zone and reset time its periods start at.
    pub calendar: Calendar,
    /// The periods in force before a change of `every`, `timezone` or `at` takes effect
    /// (see `calendar_changes`): none when it never changed.
    pub earlier: Option<EarlierPeriods>,
}

/// A rotation's periods before a change of its calendar, up to the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlierPeriods {
    pub every: Period,
    pub calendar: Calendar,
    /// When the change takes effect: a boundary of these periods.
    pub until: DateTime<Utc>,
}

impl Rotation {
    /// Start of the period that holds `at`.
    pub fn start_of(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        match self.earlier {
            Some(earlier) if at < earlier.until => earlier.every.start_in(earlier.calendar, at),
            // The first period after a change starts at the change.
            Some(earlier) => self.every.start_in(self.calendar, at).max(earlier.until),
            None => self.every.start_in(self.calendar, at),
        }
    }

    /// Start of the period after the one that holds `at` (when the current one ends).
    pub fn next_start(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        match self.earlier {
            Some(earlier) if at < earlier.until => {
                (earlier.every.next_start_in(earlier.calendar, at)).min(earlier.until)
            }
            _ => self.every.next_start_in(self.calendar, at),
        }
    }

    /// Its calendar in one line, as recorded (`weekly 04:00 America/New_York`).
    pub fn key(&self) -> String {
        crate::calendar_changes::key(self.every, self.calendar)
    }
}

/// Days of the week, as a set (bit 0 Monday … bit 6 Sunday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Weekdays(u8);

impl Weekdays {
    /// Every day.
    pub const ALL: Weekdays = Weekdays(0b111_1111);

    pub fn of(days: impl IntoIterator<Item = chrono::Weekday>) -> Self {
        Weekdays(
            days.into_iter()
                .fold(0, |set, day| set | 1 << day.num_days_from_monday()),
        )
    }

    pub fn contains(self, day: chrono::Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    pub fn is_all(self) -> bool {
        self == Weekdays::ALL
    }

    /// The days in the set, Monday first.
    pub fn iter(self) -> impl Iterator<Item = chrono::Weekday> {
        (0..7u8)
            .filter(move |bit| self.0 & (1 << bit) != 0)
            .filter_map(|bit| chrono::Weekday::try_from(bit).ok())
    }
}

/// A time window; either end may be open; optionally only some days of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// After `end`, completed rewards stay claimable this long.
    pub claim_grace: chrono::Duration,
    /// The days events count on (`schedule.days`), in `calendar`'s days.
    pub days: Weekdays,
    /// Where the goal's days begin: the challenge's time zone and the reset time.
    pub calendar: Calendar,
    /// The calendar before a change of the rotation's, and when the change takes effect:
    /// days follow it until then, like the periods (see `calendar_changes`).
    pub earlier: Option<(Calendar, DateTime<Utc>)>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            start: None,
            end: None,
            claim_grace: chrono::Duration::zero(),
            days: Weekdays::ALL,
            calendar: Calendar::UTC,
            earlier: None,
        }
    }
}

/// The claim grace of a schedule that names none.
pub const DEFAULT_CLAIM_GRACE: chrono::Duration = chrono::Duration::days(7);

impl Schedule {
    /// Whether `at` is inside the window (start inclusive, end exclusive) and on one of its
    /// days: events count.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start.is_none_or(|start| at >= start)
            && self.end.is_none_or(|end| at < end)
            && self.on_day(at)
    }

    /// The calendar the goal's days follow at `at`.
    pub fn calendar_at(&self, at: DateTime<Utc>) -> Calendar {
        match self.earlier {
            Some((calendar, until)) if at < until => calendar,
            _ => self.calendar,
        }
    }

    /// The goal's day that holds `at`.
    pub fn day_of(&self, at: DateTime<Utc>) -> chrono::NaiveDate {
        self.calendar_at(at).day_of(at)
    }

    /// The first day after `day` that is one of the schedule's days (the next a streak needs).
    pub fn next_day_after(&self, day: chrono::NaiveDate) -> Option<chrono::NaiveDate> {
        (day.iter_days().skip(1).take(7)).find(|d| self.days.contains(d.weekday()))
    }

    /// When the run of the schedule's days that holds `now` ends (none: every day counts, or
    /// `now` is on none of them).
    pub fn window_end(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.days.is_all() || !self.on_day(now) {
            return None;
        }
        let calendar = self.calendar_at(now);
        let today = calendar.day_of(now);
        let closed =
            (today.iter_days().skip(1).take(7)).find(|d| !self.days.contains(d.weekday()))?;
        Some(calendar.day_starts(closed))
    }

    /// When events next count, while the schedule's days leave `now` out (none: open now,
    /// or never again).
    pub fn opens_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.days.is_all() || self.on_day(now) {
            return None;
        }
        let opens = (self.calendar_at(now)).day_starts(self.next_day_after(self.day_of(now))?);
        self.end.is_none_or(|end| opens < end).then_some(opens)
    }

    /// Whether `at` falls on one of the schedule's days (every day when it names none).
    pub fn on_day(&self, at: DateTime<Utc>) -> bool {
        self.days.is_all() || self.days.contains(self.day_of(at).weekday())
    }

    /// Whether the challenge can be read and its rewards claimed at `at`: inside the window,
    /// or within the claim grace after its end.
    pub fn claimable(&self, at: DateTime<Utc>) -> bool {
        self.start.is_none_or(|start| at >= start)
            && self.end.is_none_or(|end| at < end + self.claim_grace)
    }
}
