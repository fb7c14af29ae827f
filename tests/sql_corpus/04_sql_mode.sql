-- The client reads quotes as the server's sql_mode says, and reads the mode again after
-- every statement: the rest of a line follows the statement that changed it.
SELECT 'escaped \' quote; still the string' AS a;
SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES'); SELECT 'b\'; SELECT 'c';
SELECT "d\"; SELECT 'it''s';
SELECT 'a backslash ends this line\
'; SELECT 'e';
DELIMITER //
SELECT 'f\'//
DELIMITER ;
SET sql_mode = 'ANSI_QUOTES';
SELECT 'g\'' AS "h\"; SELECT 'i';
SET sql_mode = ''; SELECT "j\""; SELECT 'k\'; SELECT 1';
