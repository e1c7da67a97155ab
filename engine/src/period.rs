//! Global rotation periods (UTC): daily from 00:00, weekly from Monday 00:00, monthly from the 1st.

use chrono::{DateTime, Datelike, Days, Months, NaiveTime, TimeZone, Utc};

pub use crate::model::Period;

impl Period {
    /// Start of the period that contains `at`.
    pub fn start_of(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let day = at.date_naive();
        let start_day = match self {
            Period::Daily => day,
            Period::Weekly => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Period::Monthly => day.with_day(1).unwrap_or(day),
        };
        Utc.from_utc_datetime(&start_day.and_time(NaiveTime::MIN))
    }

    /// Start of the period after the one that contains `at` (the `expires_at` of a row).
    pub fn next_start(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let start = self.start_of(at);
        match self {
            Period::Daily => start + Days::new(1),
            Period::Weekly => start + Days::new(7),
            Period::Monthly => start + Months::new(1),
        }
    }

    /// The most distinct UTC days one period can hold (for `count: days` sanity checks).
    pub fn max_days(self) -> i64 {
        match self {
            Period::Daily => 1,
            Period::Weekly => 7,
            Period::Monthly => 31,
        }
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
}
