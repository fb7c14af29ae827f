-- expect: drop-column:3=column unused since 2.3
-- deploycheck: allow drop-column (column unused since 2.3)
ALTER TABLE gene DROP COLUMN note;
