//! A challenge's calendar as written: `timezone:` (an IANA name), `rotation.at:` (the reset
//! time) and `schedule.days:`, each checked with a hint in designers' words.

use chrono::NaiveTime;
use chrono_tz::Tz;

use super::Context;
use crate::diagnostic::{Code, did_you_mean};
use crate::model::DayName;
use crate::period::Calendar;
use crate::ruleset::Weekdays;
use crate::source::child;

/// The challenge's time zone (UTC when it names none or an unknown one, which is reported).
pub(super) fn timezone(ctx: &mut Context, doc: usize, challenge: &str, text: Option<&str>) -> Tz {
    let Some(text) = text else {
        return Tz::UTC;
    };
    if let Ok(tz) = text.trim().parse::<Tz>() {
        return tz;
    }
    let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    let hint = match did_you_mean(text, names) {
        Some(name) => format!("did you mean `{name}`?"),
        None => "write an IANA time zone name such as `America/New_York`, `Europe/Berlin` or `Asia/Tokyo`; `UTC` is the default".to_string(),
    };
    let d = ctx
        .at_value(
            doc,
            &child(challenge, "timezone"),
            Code::InvalidValue,
            format!("`{text}` is not a time zone"),
        )
        .with_hint(hint);
    ctx.report(d);
    Tz::UTC
}

/// The reset time of a rotation (`at: "04:00"`), midnight when absent or wrong (reported).
pub(super) fn reset_time(
    ctx: &mut Context,
    doc: usize,
    rotation: &str,
    text: Option<&str>,
) -> NaiveTime {
    let Some(text) = text else {
        return NaiveTime::MIN;
    };
    if let Some(time) = parse_time_of_day(text) {
        return time;
    }
    let d = ctx
        .at_value(
            doc,
            &child(rotation, "at"),
            Code::InvalidValue,
            format!("`at` must be a time of day like \"04:00\", not \"{text}\""),
        )
        .with_hint("hours 00 to 23 and minutes 00 to 59, in the challenge's `timezone`");
    ctx.report(d);
    NaiveTime::MIN
}

/// `HH:MM`, 00:00 to 23:59.
fn parse_time_of_day(text: &str) -> Option<NaiveTime> {
    let (hours, minutes) = text.trim().split_once(':')?;
    if minutes.len() != 2 || hours.is_empty() || hours.len() > 2 {
        return None;
    }
    NaiveTime::from_hms_opt(hours.parse().ok()?, minutes.parse().ok()?, 0)
}

/// The days a schedule names (every day when it names none).
pub(super) fn weekdays(days: &[DayName]) -> Weekdays {
    if days.is_empty() {
        Weekdays::ALL
    } else {
        Weekdays::of(days.iter().map(|d| d.weekday()))
    }
}

/// The calendar a goal's days follow: the challenge's zone, from its rotation's reset time.
pub(super) fn of(tz: Tz, rotation: Option<crate::ruleset::Rotation>) -> Calendar {
    rotation.map_or(
        Calendar {
            tz,
            day_start: NaiveTime::MIN,
        },
        |r| r.calendar,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day() {
        assert_eq!(parse_time_of_day("04:00"), NaiveTime::from_hms_opt(4, 0, 0));
        assert_eq!(parse_time_of_day("4:30"), NaiveTime::from_hms_opt(4, 30, 0));
        assert_eq!(
            parse_time_of_day("23:59"),
            NaiveTime::from_hms_opt(23, 59, 0)
        );
        for wrong in ["24:00", "4", "04:60", "04:0", "four", "", "04:00:00"] {
            assert_eq!(parse_time_of_day(wrong), None, "{wrong}");
        }
    }
}
