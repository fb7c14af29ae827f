-- Defaults come from the database, not the server: a function's return type, a view over it.
CREATE FUNCTION label(i INT) RETURNS VARCHAR(32) DETERMINISTIC RETURN CONCAT('n', i);
CREATE TABLE plain (id INT PRIMARY KEY, s VARCHAR(32));
CREATE VIEW labelled AS SELECT label(id) AS l, s FROM plain;
