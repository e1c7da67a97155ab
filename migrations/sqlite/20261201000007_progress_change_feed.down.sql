-- Nothing was added (see the .up.sql).
SELECT 1;
