CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100));
DELIMITER //
CREATE PROCEDURE add_note(IN n VARCHAR(100))
BEGIN
  -- a comment inside the body; with a semicolon
  INSERT INTO audit (note) VALUES (n);
  SELECT 'done; really' AS msg;
END //
DELIMITER $$
CREATE TRIGGER audit_bi BEFORE INSERT ON audit FOR EACH ROW
BEGIN
  IF NEW.note = '$$' THEN SET NEW.note = 'dollars'; END IF;
END$$
CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC
BEGIN
  RETURN x * 2;
END $$
delimiter ;
CALL add_note('first');
SELECT twice(21);
DELIMITER ;;
CREATE PROCEDURE p2() BEGIN SELECT 1; SELECT 2; END;;
DELIMITER ;
CALL p2();
INSERT INTO audit (note) VALUES ('$$');
