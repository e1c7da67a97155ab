DROP TABLE rotation_calendars;
