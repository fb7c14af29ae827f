-- expect: after-ddl:3
CREATE TABLE IF NOT EXISTS audit (id INT PRIMARY KEY, note VARCHAR(64));
INSERT INTO audit VALUES (1, 'created');
