-- expect: none
CREATE TABLE IF NOT EXISTS gene (id INT PRIMARY KEY, symbol VARCHAR(255) NOT NULL, note TEXT, hits INT);
