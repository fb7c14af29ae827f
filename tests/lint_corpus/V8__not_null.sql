-- expect: not-null-without-default:2 after-ddl:3
ALTER TABLE entity ADD COLUMN source VARCHAR(32) NOT NULL;
ALTER TABLE entity ADD COLUMN origin VARCHAR(32) NOT NULL DEFAULT 'curated';
