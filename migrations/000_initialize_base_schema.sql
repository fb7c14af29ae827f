-- The sample application's base schema (a small clinical-genetics style catalogue).
CREATE TABLE IF NOT EXISTS gene (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  symbol VARCHAR(32) NOT NULL UNIQUE,
  name VARCHAR(255) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation};

CREATE TABLE IF NOT EXISTS disease (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation};

CREATE TABLE IF NOT EXISTS entity (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  gene_id INT UNSIGNED NOT NULL,
  disease_id INT UNSIGNED NOT NULL,
  inheritance VARCHAR(32) NOT NULL,
  CONSTRAINT fk_entity_gene FOREIGN KEY (gene_id) REFERENCES gene (id),
  CONSTRAINT fk_entity_disease FOREIGN KEY (disease_id) REFERENCES disease (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation};

INSERT INTO gene (symbol, name) VALUES
  ('ARID1B', 'AT-rich interaction domain 1B'),
  ('SCN2A', 'sodium voltage-gated channel alpha subunit 2'),
  ('MECP2', 'methyl-CpG binding protein 2');
INSERT INTO disease (name) VALUES ('Coffin-Siris syndrome'), ('Developmental and epileptic encephalopathy'),
  ('Rett syndrome');
INSERT INTO entity (gene_id, disease_id, inheritance) VALUES (1, 1, 'AD'), (2, 2, 'AD'), (3, 3, 'XLD');
