-- Both foreign keys must exist: a guarded ALTER that silently skips one is a failed migration.
SELECT COUNT(*) = 2 FROM information_schema.table_constraints
 WHERE table_schema = DATABASE() AND table_name = 'entity' AND constraint_type = 'FOREIGN KEY';
