ALTER TABLE event_archive DROP COLUMN rule_set;
DROP TABLE rule_sets;
