-- expect: not-idempotent:2
CREATE TABLE panel (id INT PRIMARY KEY);
