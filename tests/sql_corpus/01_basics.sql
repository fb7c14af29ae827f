-- a leading comment line
# a hash comment
CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(200), b VARBINARY(20)) ENGINE=InnoDB; -- trailing comment
INSERT INTO t VALUES (1, 'semi;colon', NULL),(2,'it''s','x'), (3, "dq \" and ; inside", 0x41);
   INSERT INTO t VALUES (4, 'back\\slash\'quote', NULL);
INSERT INTO t VALUES (5, 'multi
line; string
', NULL);
SELECT 1--1 AS a, 2 - -1 AS b, 10/2 AS c;
/* block comment ; with semicolon */ SELECT /*! 42 + */ 3;
/*!40101 SET @saved_cs_client = @@character_set_client */;
/*M!100100 SELECT 'mariadb only' */;
SELECT `id` FROM t WHERE s <> '#not a comment' AND s <> '-- nor this';
SELECT 1 /* inline
   multi-line comment */ + 1;
SELECT 'a' 'b'
  , "c";
SELECT 'unicode ✓ ünï; çødé';
