-- expect: narrowing-type:2 after-ddl:3 narrowing-type:3 narrowing-type:4
ALTER TABLE gene MODIFY symbol VARCHAR(100) NOT NULL;
ALTER TABLE gene MODIFY hits TINYINT;
ALTER TABLE gene MODIFY note VARCHAR(500);
