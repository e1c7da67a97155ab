-- The calendar each rotation follows, and since when (see the PostgreSQL migration).
CREATE TABLE rotation_calendars (
    subject        TEXT NOT NULL,
    calendar       TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    recorded_at    TEXT NOT NULL,
    PRIMARY KEY (subject, effective_from)
);
