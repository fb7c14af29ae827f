CREATE TABLE IF NOT EXISTS about_content (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  section VARCHAR(64) NOT NULL UNIQUE,
  body TEXT NOT NULL,
  updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation};

INSERT INTO about_content (section, body) VALUES
  ('intro', 'A curated catalogue of gene–disease relationships; it''s reviewed weekly.'),
  ('contact', 'Write to curators@example.org; we answer within two days.');
