-- The calendar each rotation follows (`every`, reset time, time zone), and since when: a
-- change of it on a live challenge takes effect at the next boundary of the periods in force,
-- the same for every replica and across restarts (engine/src/calendar_changes.rs). One row
-- per subject and change; the first is in force since the epoch.
CREATE TABLE rotation_calendars (
    subject        VARCHAR(210) NOT NULL, -- 'challenge/<id>' or 'goal/<id>'
    calendar       VARCHAR(100) NOT NULL, -- 'weekly 04:00 America/New_York'
    effective_from TIMESTAMPTZ NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (subject, effective_from)
);
