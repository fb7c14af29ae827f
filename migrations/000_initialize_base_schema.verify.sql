-- Both foreign keys must exist: a guarded ALTER that silently skips one is a failed migration.
-- (key_column_usage, not table_constraints: MariaDB shows the latter only to users with more than SELECT.)
SELECT COUNT(DISTINCT constraint_name) = 2 FROM information_schema.key_column_usage
 WHERE table_schema = DATABASE() AND table_name = 'entity' AND referenced_table_name IS NOT NULL;
