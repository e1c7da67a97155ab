-- Nothing was changed (see the .up.sql).
SELECT 1;
