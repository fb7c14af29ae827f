-- A migration that changes its session and never restores it, as real update files do.
SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO';
SET SESSION time_zone = '+05:00';
SET @leaked = 42;
SET foreign_key_checks = 0;
CREATE TABLE lenient (id INT PRIMARY KEY);
