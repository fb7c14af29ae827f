-- expect: drop-column:2
ALTER TABLE entity DROP COLUMN status;
