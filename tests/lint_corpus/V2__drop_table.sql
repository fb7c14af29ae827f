-- expect: drop-table:2
DROP TABLE IF EXISTS old_gene_cache;
