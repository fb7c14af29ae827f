-- expect: delete-without-where:3 update-without-where:4
DELETE FROM entity WHERE gene_id IS NULL;
DELETE FROM entity;
UPDATE gene SET note = 'it''s reviewed; (really)';
UPDATE gene SET note = NULL WHERE id = 3;
