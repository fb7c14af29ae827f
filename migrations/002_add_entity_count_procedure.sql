-- A stored procedure needs its own delimiter: its body holds semicolons.
DELIMITER //
CREATE PROCEDURE entity_count_by_inheritance(IN mode VARCHAR(32))
BEGIN
  SELECT inheritance, COUNT(*) AS entities
    FROM entity
   WHERE mode IS NULL OR inheritance = mode
   GROUP BY inheritance;
END //
DELIMITER ;
