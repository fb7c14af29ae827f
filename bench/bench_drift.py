"""Drift on a SysNDD-sized schema against the client applying the same files, in the same run.

    python bench/bench_drift.py [--repeat 5] [--work DIR]

50 numbered migrations build about 60 tables (columns of many types, indexes, foreign keys,
check constraints), 10 views and 10 procedures, with a few rows each. The target gets them
once; then, interleaved:
- the client: `for f in *.sql; do mariadb db < "$f"; done` into an empty database on a running
  server (one process per file, as deploy scripts do);
- `deploycheck drift`, whose scratch server is that same running server, and
- `deploycheck drift` with `scratch: local`, which also starts (and removes) a throwaway mariadbd.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_migrate import deploycheck, drop_db, fresh_db, mariadb_client, run, scratch_login, work_dir

from runner.sandbox.mariadb import MariaDBServer


def make_migrations(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for n in range(50):
        parts = []
        for t in range(n * 6 // 5, (n + 1) * 6 // 5):  # 60 tables over 50 files
            parent = (
                f", parent_id INT UNSIGNED NULL, CONSTRAINT fk_t{t:02d} FOREIGN KEY (parent_id) REFERENCES t{t - 1:02d} (id) ON DELETE SET NULL"
                if t
                else ""
            )
            parts.append(
                f"CREATE TABLE t{t:02d} (\n"
                "  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,\n"
                "  symbol VARCHAR(64) NOT NULL,\n"
                "  note TEXT NULL,\n"
                "  score DECIMAL(10,3) NOT NULL DEFAULT 0,\n"
                "  status ENUM('draft','review','public') NOT NULL DEFAULT 'draft',\n"
                "  updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,\n"
                f"  UNIQUE KEY uq_t{t:02d}_symbol (symbol), KEY ix_t{t:02d}_status (status, updated_at),\n"
                f"  CONSTRAINT chk_t{t:02d}_score CHECK (score >= 0){parent}\n"
                ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n"
                f"INSERT INTO t{t:02d} (symbol, note) VALUES ('a{t}', 'it''s one; (really)'), ('b{t}', NULL);\n"
            )
        if n % 5 == 4:
            v = n // 5
            parts.append(
                f"CREATE VIEW v{v:02d} AS SELECT id, symbol, status FROM t{v * 6:02d} WHERE status <> 'draft';\n"
                "DELIMITER //\n"
                f"CREATE PROCEDURE p{v:02d}(IN wanted VARCHAR(16))\nBEGIN\n"
                f"  SELECT COUNT(*) FROM t{v * 6:02d} WHERE status = wanted;\nEND //\nDELIMITER ;\n"
            )
        path = folder / f"{n:03d}_step_{n}.sql"
        path.write_text("".join(parts))
        files.append(path)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    with work_dir(args.work) as work:
        files = make_migrations(work / "migrations")
        with MariaDBServer(work / "server") as server:
            target = fresh_db(server, "sysndd")
            base = {
                "database": {"socket": str(server.socket), "user": "root", "name": target},
                "migrations": {"dir": str(work / "migrations"), "naming": "numbered"},
            }
            migrate_profile = work / "migrate.yml"
            migrate_profile.write_text(yaml.safe_dump(base))
            run(deploycheck("migrate", "--quiet", "--profile", str(migrate_profile)))
            provided = work / "drift-provided.yml"
            provided.write_text(
                yaml.safe_dump(
                    {
                        **base,
                        "scratch": scratch_login(server),
                    }
                )
            )
            local = work / "drift-local.yml"
            local.write_text(yaml.safe_dump(base))
            client = "client: one `mariadb db < f` per file, empty database"
            rows: dict[str, list[float]] = {}
            for _ in range(args.repeat):
                db = fresh_db(server, "client_apply")
                script = "; ".join(f"{' '.join(mariadb_client(server, db))} < {f}" for f in files)
                rows.setdefault(client, []).append(run(["sh", "-c", script]).seconds)
                drop_db(server, db)
                rows.setdefault("deploycheck drift (the running server as scratch)", []).append(
                    run(deploycheck("drift", "--profile", str(provided))).seconds
                )
                rows.setdefault("deploycheck drift (scratch: local, started and removed)", []).append(
                    run(deploycheck("drift", "--profile", str(local))).seconds
                )
        baseline = statistics.median(rows[client])
        print(f"\n50 migrations, 60 tables, 10 views, 10 procedures; median of {args.repeat}:\n")
        print("| command | median s | runs s | vs client |")
        print("|---|---:|---|---:|")
        for label, times in rows.items():
            med = statistics.median(times)
            print(f"| {label} | {med:.2f} | {', '.join(f'{t:.2f}' for t in times)} | {med / baseline:.2f}x |")


if __name__ == "__main__":
    main()
