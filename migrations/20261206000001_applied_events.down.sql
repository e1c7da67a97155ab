DROP TABLE IF EXISTS applied_events;
