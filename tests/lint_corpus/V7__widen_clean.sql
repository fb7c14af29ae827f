-- expect: none
ALTER TABLE gene MODIFY symbol VARCHAR(300) NOT NULL, MODIFY hits BIGINT;
