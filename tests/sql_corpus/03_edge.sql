   
SET @x = 'tab	inside';
SELECT @x;;
SELECT 1 \g
SELECT 2; SELECT 3;
SELECT '\\' AS bs, '\'' AS q, "\"" AS dq, `select` FROM (SELECT 1 AS `select`) AS d;
SELECT 'ends with backslash-newline \
continues';
CREATE TABLE `we;ird``name` (`a``b` INT);
INSERT INTO `we;ird``name` VALUES (1);
SELECT 1 + /* c1 */ /* c2 */ 2;
SELECT 3 # trailing hash ; not a terminator
;
--no space comment at statement start
SELECT 4
