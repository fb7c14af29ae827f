"""Backup verification and exact restore preview against `gzip -t`, on the same file, in the same run.

    python bench/bench_backups.py [--mb 250] [--repeat 3] [--work DIR]

Builds a real mariadb-dump of a table of the given size (the generator of bench_migrate.py
with a string that looks like a row separator, `),(`, in one row of a thousand; loaded into
a throwaway mariadbd), compresses it with `gzip -6`, then times whole processes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_migrate import Measure, deploycheck, fresh_db, make_large, mariadb_client, run

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
    source.unlink()
    return target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="deploycheck-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    dump = build_dump(work, args.mb)
    inflated = int(
        subprocess.run(["gzip", "-l", str(dump)], capture_output=True, text=True).stdout.split()[5]
    )
    rows: dict[str, list[Measure]] = {}
    for _ in range(args.repeat):  # interleaved, so both see the same page cache and load
        rows.setdefault("`gzip -t`", []).append(run(["gzip", "-t", str(dump)]))
        rows.setdefault("deploycheck backups verify", []).append(
            run(deploycheck("backups", "verify", str(dump)))
        )
        rows.setdefault("deploycheck backups preview --json", []).append(
            run(deploycheck("backups", "preview", "--json", str(dump)))
        )
    baseline = statistics.median(m.seconds for m in rows["`gzip -t`"])
    print(
        f"\n{dump.stat().st_size / 1e6:.0f} MB gzip -6 of a {inflated / 1e6:.0f} MB mariadb-dump, "
        f"median of {args.repeat}:\n"
    )
    print("| command | median s | runs s | vs gzip -t | peak RSS MB |")
    print("|---|---:|---|---:|---:|")
    for label, measures in rows.items():
        med = statistics.median(m.seconds for m in measures)
        runs = ", ".join(f"{m.seconds:.2f}" for m in measures)
        print(
            f"| {label} | {med:.2f} | {runs} | {med / baseline:.2f}x | {max(m.max_rss_mb for m in measures):.0f} |"
        )


if __name__ == "__main__":
    main()
