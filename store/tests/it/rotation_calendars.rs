//! Recorded rotation calendars, against both stores: what `engine::calendar_changes` reads to
//! keep a changed rotation's periods until their next boundary. Rows read back by subject in
//! time order; recording a subject's row for the same time again replaces it.

use chrono::{DateTime, Utc};
use engine::calendar_changes::RecordedCalendar;

use crate::support::{TestDb, test_now};

conformance!(calendars_read_back_in_order_and_a_rerecord_replaces);

fn row(subject: &str, calendar: &str, from: DateTime<Utc>) -> RecordedCalendar {
    RecordedCalendar {
        subject: subject.into(),
        calendar: calendar.into(),
        effective_from: from,
    }
}

async fn calendars_read_back_in_order_and_a_rerecord_replaces(db: &TestDb) {
    let store = db.store().await;
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    let change = "2026-06-11T00:00:00Z".parse().expect("time");
    store
        .record_rotation_calendars(
            &[],
            &[
                row("goal/g", "daily 04:00 America/New_York", change),
                row("goal/g", "daily 00:00 UTC", epoch),
                row("challenge/c", "weekly 00:00 UTC", epoch),
            ],
            test_now(),
        )
        .await
        .expect("record");
    let subjects = ["goal/g".to_string(), "goal/other".to_string()];
    let read = store.rotation_calendars(&subjects).await.expect("read");
    assert_eq!(
        read,
        [
            row("goal/g", "daily 00:00 UTC", epoch),
            row("goal/g", "daily 04:00 America/New_York", change)
        ]
    );
    // Another deployment records another calendar for the same boundary: the last wins.
    store
        .record_rotation_calendars(
            &[],
            &[row("goal/g", "daily 05:00 Asia/Tokyo", change)],
            test_now(),
        )
        .await
        .expect("record again");
    let read = store.rotation_calendars(&subjects).await.expect("read");
    assert_eq!(read[1], row("goal/g", "daily 05:00 Asia/Tokyo", change));
    assert_eq!(read.len(), 2);
    // Withdrawn: the rows after a time go, the one in force stays.
    store
        .record_rotation_calendars(&[("goal/g".to_string(), test_now())], &[], test_now())
        .await
        .expect("withdraw");
    let read = store.rotation_calendars(&subjects).await.expect("read");
    assert_eq!(read, [row("goal/g", "daily 00:00 UTC", epoch)]);
}
