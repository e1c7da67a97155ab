//! Where a challenge's days and rotation periods begin: a time zone (IANA; default UTC) and a
//! reset time of day (default 00:00), so a day is 23 or 25 hours long on a daylight-saving
//! change. Weeks start Monday, months on the 1st, both at the reset time.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

pub use crate::model::Period;

/// A challenge's calendar: the time zone its days are counted in and the local time each
/// day (and so each period) starts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Calendar {
    pub tz: Tz,
    /// The local time a day starts at (`rotation.at`).
    pub day_start: NaiveTime,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar::UTC
    }
}

impl Calendar {
    /// Days from 00:00 UTC.
    pub const UTC: Calendar = Calendar {
        tz: Tz::UTC,
        day_start: NaiveTime::MIN,
    };

    /// The instant day `date` starts: its reset time, local. A reset time the clocks skip
    /// (02:30 on a spring-forward night) starts the day when the clocks jump; one they pass
    /// twice (01:30 on a fall-back night) the first time.
    pub fn day_starts(self, date: NaiveDate) -> DateTime<Utc> {
        let local = date.and_time(self.day_start);
        if let Some(at) = self.tz.from_local_datetime(&local).earliest() {
            return at.with_timezone(&Utc);
        }
        // In a gap: the first local minute after it that exists (reset times are whole minutes,
        // and so are the ends of gaps).
        let mut probe = local;
        for _ in 0..24 * 60 {
            probe += chrono::Duration::minutes(1);
            if let Some(at) = self.tz.from_local_datetime(&probe).earliest() {
                return at.with_timezone(&Utc);
            }
        }
        Utc.from_utc_datetime(&local)
    }

    /// The challenge day that holds `at`: the last day whose start is not after it.
    pub fn day_of(self, at: DateTime<Utc>) -> NaiveDate {
        let local = at.with_timezone(&self.tz).naive_local();
        let guess = (local - (self.day_start - NaiveTime::MIN)).date();
        if self.day_starts(guess) > at {
            return guess.pred_opt().unwrap_or(guess);
        }
        match guess.succ_opt() {
            Some(next) if self.day_starts(next) <= at => next,
            _ => guess,
        }
    }

    /// The IANA name of the time zone.
    pub fn timezone(self) -> &'static str {
        self.tz.name()
    }

    /// The reset time as written, `HH:MM`.
    pub fn reset_at(self) -> String {
        self.day_start.format("%H:%M").to_string()
    }
}

impl Period {
    /// The first day of the period that holds day `day`.
    fn first_day(self, day: NaiveDate) -> NaiveDate {
        match self {
            Period::Daily => day,
            Period::Weekly => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Period::Monthly => day.with_day(1).unwrap_or(day),
        }
    }

    fn after(self, first_day: NaiveDate) -> NaiveDate {
        match self {
            Period::Daily => first_day + Days::new(1),
            Period::Weekly => first_day + Days::new(7),
            Period::Monthly => first_day + Months::new(1),
        }
    }

    /// Start of the period that contains `at`, in `calendar`.
    pub fn start_in(self, calendar: Calendar, at: DateTime<Utc>) -> DateTime<Utc> {
        calendar.day_starts(self.first_day(calendar.day_of(at)))
    }

    /// Start of the period after the one that contains `at`, in `calendar`.
    pub fn next_start_in(self, calendar: Calendar, at: DateTime<Utc>) -> DateTime<Utc> {
        calendar.day_starts(self.after(self.first_day(calendar.day_of(at))))
    }

    /// Start of the UTC period that contains `at`.
    pub fn start_of(self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.start_in(Calendar::UTC, at)
    }

    /// Start of the UTC period after the one that contains `at`.
    pub fn next_start(self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.next_start_in(Calendar::UTC, at)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    fn new_york(at: &str) -> Calendar {
        Calendar {
            tz: chrono_tz::America::New_York,
            day_start: at.parse().expect("time of day"),
        }
    }

    #[test]
    fn daily() {
        assert_eq!(
            Period::Daily.start_of(t("2026-03-04T13:00:00Z")),
            t("2026-03-04T00:00:00Z")
        );
        assert_eq!(
            Period::Daily.next_start(t("2026-03-04T23:59:59Z")),
            t("2026-03-05T00:00:00Z")
        );
    }

    #[test]
    fn weekly_starts_monday() {
        // 2026-03-04 is a Wednesday; 2026-03-02 the Monday before.
        assert_eq!(
            Period::Weekly.start_of(t("2026-03-04T13:00:00Z")),
            t("2026-03-02T00:00:00Z")
        );
        assert_eq!(
            Period::Weekly.start_of(t("2026-03-02T00:00:00Z")),
            t("2026-03-02T00:00:00Z")
        );
        assert_eq!(
            Period::Weekly.start_of(t("2026-03-08T23:59:00Z")),
            t("2026-03-02T00:00:00Z")
        );
        assert_eq!(
            Period::Weekly.next_start(t("2026-03-08T23:59:00Z")),
            t("2026-03-09T00:00:00Z")
        );
    }

    #[test]
    fn monthly() {
        assert_eq!(
            Period::Monthly.start_of(t("2026-02-28T10:00:00Z")),
            t("2026-02-01T00:00:00Z")
        );
        assert_eq!(
            Period::Monthly.next_start(t("2026-12-31T10:00:00Z")),
            t("2027-01-01T00:00:00Z")
        );
    }

    #[test]
    fn a_time_zone_moves_the_day_boundary() {
        // 00:00 in New York is 05:00 UTC in winter.
        let ny = new_york("00:00");
        assert_eq!(
            ny.day_of(t("2026-01-06T04:59:59Z")).to_string(),
            "2026-01-05"
        );
        assert_eq!(
            ny.day_of(t("2026-01-06T05:00:00Z")).to_string(),
            "2026-01-06"
        );
        assert_eq!(
            Period::Daily.next_start_in(ny, t("2026-01-06T03:00:00Z")),
            t("2026-01-06T05:00:00Z")
        );
    }

    #[test]
    fn a_reset_time_moves_every_period_boundary() {
        let ny = new_york("04:00");
        // 2026-01-05 04:00 EST is 09:00 UTC; a Monday, so also the week's start.
        assert_eq!(
            Period::Daily.start_in(ny, t("2026-01-05T08:59:00Z")),
            t("2026-01-04T09:00:00Z")
        );
        assert_eq!(
            Period::Weekly.start_in(ny, t("2026-01-05T09:00:00Z")),
            t("2026-01-05T09:00:00Z")
        );
        assert_eq!(
            Period::Weekly.start_in(ny, t("2026-01-05T08:59:00Z")),
            t("2025-12-29T09:00:00Z")
        );
        assert_eq!(
            Period::Monthly.next_start_in(ny, t("2026-01-20T00:00:00Z")),
            t("2026-02-01T09:00:00Z")
        );
    }

    #[test]
    fn the_spring_forward_day_is_23_hours() {
        // 2026-03-08 at 02:00 New York's clocks go from EST to EDT. With a 04:00 reset, the
        // day from Saturday 04:00 EST to Sunday 04:00 EDT holds the jump.
        let ny = new_york("04:00");
        let start = Period::Daily.start_in(ny, t("2026-03-08T06:00:00Z"));
        let end = Period::Daily.next_start_in(ny, t("2026-03-08T06:00:00Z"));
        assert_eq!(start, t("2026-03-07T09:00:00Z"));
        assert_eq!(end, t("2026-03-08T08:00:00Z"));
        assert_eq!((end - start).num_hours(), 23);
        // The next day is 24 hours again.
        let after = Period::Daily.next_start_in(ny, end);
        assert_eq!((after - end).num_hours(), 24);
    }

    #[test]
    fn the_fall_back_day_is_25_hours() {
        // 2026-11-01: from 02:00 EDT back to 01:00 EST.
        let ny = new_york("00:00");
        let start = Period::Daily.start_in(ny, t("2026-11-01T12:00:00Z"));
        let end = Period::Daily.next_start_in(ny, t("2026-11-01T12:00:00Z"));
        assert_eq!(start, t("2026-11-01T04:00:00Z"));
        assert_eq!(end, t("2026-11-02T05:00:00Z"));
        assert_eq!((end - start).num_hours(), 25);
    }

    #[test]
    fn a_reset_time_the_clocks_skip_starts_the_day_when_they_jump() {
        let ny = new_york("02:30");
        // 02:30 does not exist on 2026-03-08: the day starts at 03:00 EDT (07:00 UTC).
        assert_eq!(
            ny.day_starts("2026-03-08".parse().expect("date")),
            t("2026-03-08T07:00:00Z")
        );
        assert_eq!(
            ny.day_of(t("2026-03-08T06:59:00Z")).to_string(),
            "2026-03-07"
        );
        assert_eq!(
            ny.day_of(t("2026-03-08T07:00:00Z")).to_string(),
            "2026-03-08"
        );
    }

    #[test]
    fn a_reset_time_the_clocks_pass_twice_starts_the_day_the_first_time() {
        let ny = new_york("01:30");
        // 01:30 happens at 05:30 UTC (EDT) and 06:30 UTC (EST) on 2026-11-01.
        assert_eq!(
            ny.day_starts("2026-11-01".parse().expect("date")),
            t("2026-11-01T05:30:00Z")
        );
        // Between the two, the day does not go back.
        assert_eq!(
            ny.day_of(t("2026-11-01T06:10:00Z")).to_string(),
            "2026-11-01"
        );
    }
}
