DROP INDEX event_archive_user;
