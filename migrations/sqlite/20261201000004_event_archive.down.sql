DROP TABLE event_archive;
