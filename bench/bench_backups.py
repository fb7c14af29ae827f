"""Backup verification and exact restore preview against `gzip -t`, on the same files, in the same run.

    python bench/bench_backups.py [--mb 250] [--text-rows 2000000] [--repeat 3] [--work DIR]
    python bench/bench_backups.py --drill [--mb 250] [--repeat 3] [--work DIR]
    python bench/bench_backups.py --drill --rehearse [--mb 250] [--repeat 3] [--work DIR]

Two real mariadb-dumps, each loaded into a throwaway mariadbd, dumped and compressed with
`gzip -6`, then timed as whole processes:
- mixed: a table of the given size from the generator of bench_migrate.py, with a string
  that looks like a row separator, `),(`, in one row of a thousand;
- text: the hard case for the row count, ordinary free text in every row: `--text-rows`
  rows whose TEXT value is REPEAT(CONCAT('x;y),(z ''q'' \\ ', n), 3), so every row holds
  `),(`, escaped quotes and escaped backslashes;
- text, one line per INSERT: the same rows in the layout of MySQL's mysqldump (every
  statement's rows on its INSERT line), rewritten from the text dump: no MySQL server here.

--drill restores the mixed dump; --drill --rehearse restores the same kind of dump with its
migration ledger at V1 and then applies pending migrations that work on the big table
(REHEARSED below), against the client doing the same by hand.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_migrate import (
    Measure,
    deploycheck,
    drop_db,
    fresh_db,
    make_large,
    mariadb_client,
    print_table,
    profile_for,
    run,
    scratch_login,
    server_version,
    work_dir,
)

from runner.backups.dump import find_binary
from runner.sandbox.mariadb import MariaDBServer


def build_dump(work: Path, megabytes: int) -> Path:
    target = work / f"{megabytes}mb.app.sql.gz"
    if target.exists():
        return target
    source = work / "data.sql"
    make_large(source, megabytes, lookalike_share=0.001)
    with MariaDBServer(work / "server") as server:
        db = fresh_db(server, "app")
        run(mariadb_client(server, db), stdin_path=source)
        _dump_gzip(server, db, target)
    source.unlink()
    return target


def build_text_dump(work: Path, rows: int) -> Path:
    target = work / f"text{rows}.app.sql.gz"
    if target.exists():
        return target
    with MariaDBServer(work / "server-text") as server:
        db = fresh_db(server, "app")
        with server.connect(db) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT) ENGINE=InnoDB")
            cur.execute(
                "INSERT INTO notes SELECT seq, REPEAT(CONCAT('x;y),(z ''q'' \\\\ ', seq), 3) "
                f"FROM seq_1_to_{rows}"
            )
        _dump_gzip(server, db, target)
    return target


def build_one_line_dump(work: Path, text_dump: Path) -> Path:
    """The text dump with each statement's rows joined onto its INSERT line, as mysqldump
    writes them (`INSERT INTO t VALUES (1,..),(2,..);`); only the line breaks differ."""
    target = work / text_dump.name.replace(".app.", ".oneline.app.")
    if target.exists():
        return target
    data = gzip.decompress(text_dump.read_bytes())
    data = re.sub(rb"VALUES\n\(", b"VALUES (", data).replace(b"),\n(", b"),(")
    target.write_bytes(gzip.compress(data, 6))
    return target


# Pending migrations of the --rehearse dump: real work on its big table (V1 created it).
REHEARSED = {
    "V2__wider_amount.sql": "ALTER TABLE big MODIFY amount DECIMAL(14,2);\n",  # a type change: COPY
    "V3__index_name.sql": "ALTER TABLE big ADD INDEX idx_name (name);\n",  # reads and sorts every row
    "V4__tier.sql": "ALTER TABLE big ADD COLUMN tier TINYINT NULL;\nUPDATE big SET tier = id % 5;\n",
    "V5__archive.sql": "CREATE TABLE big_archive ENGINE=InnoDB AS SELECT id, name, amount FROM big WHERE tier = 0;\n",
    "V6__settings.sql": (
        "CREATE TABLE settings (name VARCHAR(64) PRIMARY KEY, value TEXT);\n"
        "INSERT INTO settings VALUES ('tiers', '5'), ('archive', 'big_archive');\n"
    ),
}


def build_ledger_dump(work: Path, megabytes: int) -> tuple[Path, Path]:
    """The mixed dump's kind of data, its table created by migration V1, which the dumped
    ledger records as applied (`deploycheck baseline`); and the migrations folder, V1 to V6."""
    target = work / f"{megabytes}mb.ledger.app.sql.gz"
    migrations = work / "rehearse-migrations"
    if target.exists() and migrations.exists():
        return target, migrations
    source = work / "data.sql"
    make_large(source, megabytes, lookalike_share=0.001)
    migrations.mkdir(exist_ok=True)
    with source.open(encoding="utf-8") as data:
        (migrations / "V1__big.sql").write_text(data.readline())  # the CREATE TABLE
    for name, sql in REHEARSED.items():
        (migrations / name).write_text(sql)
    with MariaDBServer(work / "server") as server:
        db = fresh_db(server, "app")
        run(mariadb_client(server, db), stdin_path=source)
        run(
            deploycheck(
                "baseline", "--version", "1", "--profile", str(profile_for(work, server, db, migrations))
            )
        )
        _dump_gzip(server, db, target)
    source.unlink()
    return target, migrations


def _dump_gzip(server: MariaDBServer, db: str, target: Path) -> None:
    dump = [
        find_binary("mariadb-dump", "mysqldump"),
        "--no-defaults",
        f"--socket={server.socket}",
        "-uroot",
        "--single-transaction",
        "--quick",
        "--routines",
        "--triggers",
        db,
    ]
    with target.open("wb") as out:
        dumper = subprocess.Popen(dump, stdout=subprocess.PIPE)
        subprocess.run(["gzip", "-6"], stdin=dumper.stdout, stdout=out, check=True)
        dumper.wait()


def measure(dump: Path, repeat: int) -> None:
    inflated = int(
        subprocess.run(["gzip", "-l", str(dump)], capture_output=True, text=True).stdout.split()[5]
    )
    rows: dict[str, list[Measure]] = {}
    for _ in range(repeat):  # interleaved, so all see the same page cache and load
        rows.setdefault("`gzip -t`", []).append(run(["gzip", "-t", str(dump)]))
        rows.setdefault("deploycheck backups verify", []).append(
            run(deploycheck("backups", "verify", str(dump)))
        )
        rows.setdefault("deploycheck backups preview --json", []).append(
            run(deploycheck("backups", "preview", "--json", str(dump)))
        )
    print(
        f"\n{dump.name}: {dump.stat().st_size / 1e6:.0f} MB gzip -6 of a {inflated / 1e6:.0f} MB "
        f"mariadb-dump, median of {repeat}:\n"
    )
    print_table(rows, "`gzip -t`", "vs gzip -t")


def measure_drill(work: Path, dump: Path, repeat: int) -> None:
    """`deploycheck backups drill FILE` against `gunzip -c FILE | mariadb db` into an empty
    database of the same server (the team's scratch server), interleaved."""
    rows: dict[str, list[Measure]] = {}
    restore_s: list[float] = []
    with MariaDBServer(work / "scratch") as server:
        profile = work / "drill-profile.yml"
        profile.write_text(
            f"backups: {{source: {dump.parent}}}\nscratch: {json.dumps(scratch_login(server))}\n"
        )
        for _ in range(repeat):
            db = fresh_db(server, "client_restore")
            shell = f"gunzip -c {dump} | {' '.join(mariadb_client(server, db))}"
            rows.setdefault("`gunzip -c | mariadb` (empty database)", []).append(run(["sh", "-c", shell]))
            drop_db(server, db)
            out = work / "drill.json"
            rows.setdefault("deploycheck backups drill (restore and checks)", []).append(
                run(
                    [
                        "sh",
                        "-c",
                        f"{' '.join(deploycheck('backups', 'drill', str(dump), '--json', '--profile', str(profile)))} > {out}",
                    ]
                )
            )
            report = json.loads(out.read_text())
            assert report["ok"], report["findings"]
            restore_s.append(report["restore_s"])
    client = "`gunzip -c | mariadb` (empty database)"
    baseline = statistics.median(m.seconds for m in rows[client])
    print(f"\nrestore of {dump.name} on one scratch server, median of {repeat}:\n")
    print_table(rows, client, "vs client")
    med = statistics.median(restore_s)
    print(
        f"| deploycheck's restore alone (restore_s) | {med:.2f} | {', '.join(f'{s:.2f}' for s in restore_s)} | {med / baseline:.2f}x | |"
    )


def measure_rehearsal(work: Path, dump: Path, migrations: Path, repeat: int) -> None:
    """`deploycheck backups drill FILE --rehearse` against `gunzip -c FILE | mariadb db` followed
    by one `mariadb db < file` per pending migration, into a fresh database of the same server
    each run, interleaved (the order alternates, so load drifts alike on both). The client's
    restore and its migrations are timed apart (their sum is its row), to set beside the
    drill's own `restore_s` and the sum of its migrations' `duration_s`."""
    pending = sorted(migrations.glob("V*.sql"), key=lambda p: int(p.name[1:].split("__")[0]))[1:]
    client = "client: `gunzip -c \\| mariadb`, then one `mariadb db < f` per pending migration"
    ours = "deploycheck backups drill --rehearse (restore, checks, rehearsal)"
    rows: dict[str, list[Measure]] = {client: [], ours: []}
    parts: dict[str, list[float]] = {}
    reports: list[dict] = []
    with MariaDBServer(work / "scratch") as server:
        print(f"server: mariadbd {server_version(server)}; {os.cpu_count()} cores; load {os.getloadavg()}")
        profile = work / "rehearse-profile.yml"
        never_reached = {
            "socket": str(server.socket),
            "user": "root",
            "name": "app",
        }  # names the dump's database
        profile.write_text(
            yaml.safe_dump(
                {
                    "database": never_reached,
                    "migrations": {"dir": str(migrations), "naming": "flyway"},
                    "backups": {"source": str(dump.parent)},
                    "scratch": scratch_login(server),
                }
            )
        )
        out = work / "rehearse.json"
        drill = " ".join(
            deploycheck("backups", "drill", str(dump), "--rehearse", "--json", "--profile", str(profile))
        )
        for i in range(repeat):
            for which in (client, ours) if i % 2 == 0 else (ours, client):
                if which == client:
                    db = fresh_db(server, "client_restore")
                    mariadb = " ".join(mariadb_client(server, db))
                    restored = run(["sh", "-c", f"gunzip -c {dump} | {mariadb}"])
                    migrated = run(["sh", "-c", " && ".join(f"{mariadb} < {p}" for p in pending)])
                    rows[client].append(
                        Measure(
                            restored.seconds + migrated.seconds, max(restored.max_rss_mb, migrated.max_rss_mb)
                        )
                    )
                    parts.setdefault("client restore", []).append(restored.seconds)
                    parts.setdefault("client migrations", []).append(migrated.seconds)
                    drop_db(server, db)
                else:
                    rows[ours].append(run(["sh", "-c", f"{drill} > {out}"]))
                    report = json.loads(out.read_text())
                    assert report["ok"], report
                    reports.append(report)
                    parts.setdefault("restore_s", []).append(report["restore_s"])
                    parts.setdefault("duration_s", []).append(
                        sum(m["duration_s"] for m in report["rehearsal"])
                    )
    print(f"\ndrill and rehearsal of {dump.name} on one scratch server, median of {repeat}:\n")
    print_table(rows, client, "vs client")
    print("\nthe parts, each against the client's same part:\n")
    print("| part | median s | runs s | vs client |")
    print("|---|---:|---|---:|")
    for label, key, versus in (
        ("client: restore (`gunzip -c \\| mariadb`)", "client restore", "client restore"),
        ("deploycheck: restore (`restore_s`)", "restore_s", "client restore"),
        (
            "client: the pending migrations (one `mariadb db < f` each)",
            "client migrations",
            "client migrations",
        ),
        ("deploycheck: the rehearsal (sum of `duration_s`)", "duration_s", "client migrations"),
    ):
        med = statistics.median(parts[key])
        runs = ", ".join(f"{t:.2f}" for t in parts[key])
        print(f"| {label} | {med:.2f} | {runs} | {med / statistics.median(parts[versus]):.2f}x |")
    print("\nper migration on the copy, deploycheck's `duration_s`:\n")
    print("| migration | median s | runs s | ALTER algorithm |")
    print("|---|---:|---|---|")
    for n, step in enumerate(reports[0]["rehearsal"]):
        took = [r["rehearsal"][n]["duration_s"] for r in reports]
        algorithms = ", ".join(a["algorithm"] or "not known" for a in step["alters"]) or "-"
        print(
            f"| {step['migration']} | {statistics.median(took):.2f} | {', '.join(f'{t:.2f}' for t in took)} | {algorithms} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=250)
    parser.add_argument("--text-rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--drill", action="store_true", help="restore the mixed dump: deploycheck's drill against the client"
    )
    parser.add_argument(
        "--rehearse",
        action="store_true",
        help="with --drill: the drill with the pending migrations rehearsed, against the client doing both",
    )
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    with work_dir(args.work) as work:
        if args.rehearse:
            measure_rehearsal(work, *build_ledger_dump(work, args.mb), args.repeat)
            return
        mixed = build_dump(work, args.mb)
        if args.drill:
            measure_drill(work, mixed, args.repeat)
            return
        text = build_text_dump(work, args.text_rows)
        for dump in (mixed, text, build_one_line_dump(work, text)):
            measure(dump, args.repeat)


if __name__ == "__main__":
    main()
