-- expect: rename:2 after-ddl:3 rename:3
ALTER TABLE review RENAME TO gene_review;
RENAME TABLE gene_review TO gene_reviews;
