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
    let pointer = child(challenge, "timezone");
    if let Ok(tz) = text.trim().parse::<Tz>() {
        if let Some(hint) = without_daylight_saving(tz) {
            let d = ctx
                .at_value(
                    doc,
                    &pointer,
                    Code::RotationInconsistent,
                    format!("`{text}` is a fixed offset from UTC, without the daylight-saving changes of the places that use it: their days move an hour against it for half the year"),
                )
                .with_hint(hint);
            ctx.report(d);
        }
        return tz;
    }
    let d = ctx
        .at_value(
            doc,
            &pointer,
            Code::InvalidValue,
            format!("`{text}` is not a time zone"),
        )
        .with_hint(zone_hint(text));
    ctx.report(d);
    Tz::UTC
}

/// How to name the zone meant by `text`, which is not an IANA name.
fn zone_hint(text: &str) -> String {
    let wanted = text.trim().to_ascii_lowercase().replace(' ', "_");
    let offset = wanted.starts_with("utc+")
        || wanted.starts_with("utc-")
        || wanted.starts_with("gmt+")
        || wanted.starts_with("gmt-")
        || wanted.starts_with('+')
        || (wanted.starts_with('-') && wanted.len() > 1);
    if offset {
        return "an offset is not a time zone: write the zone of the place (`Asia/Tokyo`, `Europe/Berlin`), which also follows its daylight-saving changes".to_string();
    }
    // The same name in another case or with spaces, or a city alone (`tokyo`, `New York`).
    let same = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .find(|name| {
            let name = name.to_ascii_lowercase();
            name == wanted || name.rsplit('/').next() == Some(wanted.as_str())
        });
    let close =
        same.or_else(|| did_you_mean(text, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())));
    match close {
        Some(name) => format!("did you mean `{name}`?"),
        None => "write an IANA time zone name such as `America/New_York`, `Europe/Berlin` or `Asia/Tokyo`; `UTC` is the default".to_string(),
    }
}

/// A hint when `tz` is one of the legacy zones with a fixed offset (`EST`, `MST`, `HST`,
/// `Etc/GMT+5`): the place meant almost certainly changes its clocks.
fn without_daylight_saving(tz: Tz) -> Option<String> {
    let name = tz.name();
    let place = match name {
        "EST" => "`America/New_York`",
        "MST" => "`America/Denver` (or `America/Phoenix`, which keeps one offset all year)",
        "HST" => "`Pacific/Honolulu`",
        _ if name.starts_with("Etc/")
            && !matches!(name, "Etc/UTC" | "Etc/UCT" | "Etc/Universal" | "Etc/Zulu") =>
        {
            "the zone of the place, e.g. `Europe/Berlin`"
        }
        _ => return None,
    };
    Some(format!("write the zone of the place instead: {place}"))
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
