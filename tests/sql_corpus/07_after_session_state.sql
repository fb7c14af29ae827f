-- Run by a client process of its own, this file sees none of the previous file's session.
CREATE TABLE seen AS
  SELECT @leaked AS leaked, @@SESSION.time_zone AS tz, @@SESSION.foreign_key_checks AS fk,
         @@SESSION.sql_mode LIKE '%STRICT_TRANS_TABLES%' AS strict_mode;
