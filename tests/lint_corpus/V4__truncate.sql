-- expect: truncate:2
TRUNCATE TABLE entity;
