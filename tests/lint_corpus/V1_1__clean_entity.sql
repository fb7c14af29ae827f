-- expect: none
CREATE TABLE IF NOT EXISTS entity (id INT PRIMARY KEY, gene_id INT, status VARCHAR(16));
