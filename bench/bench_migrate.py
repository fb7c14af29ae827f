"""Benchmarks of the migration engine against its peers, each measured in the same run.

    python bench/bench_migrate.py tiny   [--count 1000] [--repeat 3] [--durable] [--tcp] [--floor]
    python bench/bench_migrate.py large  [--mb 250]
    python bench/bench_migrate.py status [--count 1000] [--repeat 5]

Every tool talks to the same throwaway mariadbd over its unix socket; each run
gets a fresh database. Times are whole-process wall times; peak RSS comes from
wait4() of the child. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.backups.dump import find_binary  # noqa: E402
from runner.sandbox.mariadb import MariaDBServer  # noqa: E402


@dataclass
class Measure:
    seconds: float
    max_rss_mb: float


GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


def run(cmd: list[str], *, stdin_path: Path | None = None, env: dict[str, str] | None = None) -> Measure:
    """Run `cmd` to completion; wall time and the command's own peak RSS.

    The peak comes from GNU time, whose small process forks the command: `ru_maxrss` of a
    child started from here would be at least this process's own peak (exec keeps the
    high-water mark of the address space the child began in), not the command's."""
    if GNU_TIME is None:
        raise SystemExit("bench/ measures peak RSS with GNU time: apt-get install time")
    stdin = stdin_path.open("rb") if stdin_path else subprocess.DEVNULL
    with tempfile.NamedTemporaryFile("r", prefix="deploycheck-bench-rss-") as rss:
        started = time.perf_counter()
        proc = subprocess.run(
            [GNU_TIME, "-f", "%M", "-o", rss.name, *cmd],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        took = time.perf_counter() - started
        peak_kb = int(rss.read().split()[-1])
    if stdin_path:
        stdin.close()
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {err[-2000:]}")
    return Measure(took, peak_kb / 1024)


@contextlib.contextmanager
def work_dir(given: Path | None) -> Iterator[Path]:
    """`--work DIR` (kept, files in it reused), or a temporary folder removed at the end, also
    when the benchmark fails."""
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given.resolve()
        return
    work = Path(tempfile.mkdtemp(prefix="deploycheck-bench-"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fresh_db(server: MariaDBServer, name: str) -> str:
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    return name


def drop_db(server: MariaDBServer, name: str) -> None:
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


# --tcp: every tool logs in over TCP as this user, as production clients do (root uses the socket)
TCP_USER, TCP_PASSWORD = "bench", "Bench-Passw0rd"


def allow_tcp(server: MariaDBServer) -> None:
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER IF NOT EXISTS '{TCP_USER}'@'127.0.0.1' IDENTIFIED BY '{TCP_PASSWORD}'")
        cur.execute(f"GRANT ALL ON *.* TO '{TCP_USER}'@'127.0.0.1'")


def scratch_login(server: MariaDBServer, prefix: str = "bench_scratch_") -> dict[str, str]:
    """`scratch:` on `server` as the README asks: a user granted on `prefix` databases alone."""
    escaped = prefix.replace("_", "\\_")
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS 'bench_scratch'@'localhost'")
        cur.execute(f"GRANT ALL ON `{escaped}%`.* TO 'bench_scratch'@'localhost'")
    return {"socket": str(server.socket), "user": "bench_scratch", "prefix": prefix}


def profile_for(work: Path, server: MariaDBServer, db: str, migrations: Path, tcp: bool = False) -> Path:
    path = work / f"profile-{db}.yml"
    login = (
        {"host": "127.0.0.1", "port": server.port, "user": TCP_USER, "password": TCP_PASSWORD}
        if tcp
        else {"socket": str(server.socket), "user": "root"}
    )
    data = {
        "target": "bench",
        "database": {**login, "name": db},
        "migrations": {"dir": str(migrations), "naming": "flyway"},
    }
    path.write_text(yaml.safe_dump(data))
    return path


def deploycheck(*args: str) -> list[str]:
    return [sys.executable, "-m", "runner", *args]


def mariadb_client(server: MariaDBServer, db: str, tcp: bool = False) -> list[str]:
    login = (
        ["--protocol=TCP", "-h127.0.0.1", f"-P{server.port}", f"-u{TCP_USER}", f"-p{TCP_PASSWORD}"]
        if tcp
        else [f"--socket={server.socket}", "-uroot"]
    )
    return [find_binary("mariadb", "mysql"), "--no-defaults", *login, db]


def print_table(rows: dict[str, list[Measure]], baseline: str, versus: str, decimals: int = 2) -> None:
    """The Markdown table docs/benchmarks.md shows: medians, single runs, ratio to `baseline`, peak RSS."""
    base = statistics.median(m.seconds for m in rows[baseline])
    print(f"| command | median s | runs s | {versus} | peak RSS MB |")
    print("|---|---:|---|---:|---:|")
    for label, measures in rows.items():
        med = statistics.median(m.seconds for m in measures)
        runs = ", ".join(f"{m.seconds:.{decimals}f}" for m in measures)
        rss = max(m.max_rss_mb for m in measures)
        print(f"| {label} | {med:.{decimals}f} | {runs} | {med / base:.2f}x | {rss:.0f} |")


# -- 1,000 tiny migrations ----------------------------------------------------


def make_tiny(work: Path, count: int) -> tuple[Path, Path, Path, Path]:
    """The same migrations in each tool's layout, plus their concatenation for the client."""
    ours, dbmate, yoyo = work / "flyway", work / "dbmate", work / "yoyo"
    for folder in (ours, dbmate, yoyo):
        folder.mkdir(parents=True, exist_ok=True)
    concatenated = work / "all.sql"
    with concatenated.open("w") as everything:
        for n in range(1, count + 1):
            body = (
                f"CREATE TABLE t{n:04d} (id INT PRIMARY KEY, name VARCHAR(40)) ENGINE=InnoDB;\n"
                f"INSERT INTO t{n:04d} VALUES ({n}, 'row {n}');\n"
            )
            (ours / f"V{n}__table_{n}.sql").write_text(body)
            (dbmate / f"{n:06d}_table_{n}.sql").write_text(f"-- migrate:up\n{body}\n-- migrate:down\n")
            (yoyo / f"{n:06d}_table_{n}.sql").write_text(body)
            everything.write(body)
    return ours, dbmate, yoyo, concatenated


def bench_tiny(
    work: Path, count: int, repeat: int, durable: bool = False, floor: bool = False, tcp: bool = False
) -> None:
    """`durable`: the server's default innodb_flush_log_at_trx_commit=1 (every commit reaches the
    disk, as on a production server) instead of the test servers' 2. `floor`: add the row of
    bench/pymysql_floor.py, deploycheck's round trips without any of its work. `tcp`: every
    tool logs in over TCP as the same user, as in production."""
    ours, dbmate_dir, yoyo_dir, concatenated = make_tiny(work, count)
    dbmate = shutil.which("dbmate")
    yoyo = shutil.which("yoyo")
    client = "`cat *.sql | mariadb` (one session)"
    tools: dict[str, tuple[Callable[[MariaDBServer, str], list[str]], Path | None]] = {
        client: (lambda srv, db: mariadb_client(srv, db, tcp), concatenated),
        "deploycheck migrate": (
            lambda srv, db: deploycheck(
                "migrate", "--quiet", "--profile", str(profile_for(work, srv, db, ours, tcp))
            ),
            None,
        ),
    }
    if floor:
        tools["pymysql floor (deploycheck's round trips only)"] = (
            lambda srv, db: [
                sys.executable,
                str(ROOT / "bench" / "pymysql_floor.py"),
                f"127.0.0.1:{srv.port}:{TCP_USER}:{TCP_PASSWORD}" if tcp else str(srv.socket),
                db,
                str(ours),
            ],
            None,
        )
    if dbmate:
        tools["dbmate up"] = (
            lambda srv, db: [
                dbmate,
                "--no-dump-schema",
                "--migrations-dir",
                str(dbmate_dir),
                "--url",
                f"mysql://{TCP_USER}:{TCP_PASSWORD}@127.0.0.1:{srv.port}/{db}"
                if tcp
                else f"mysql://root@/{db}?socket={srv.socket}",
                "up",
            ],
            None,
        )
    if yoyo:
        tools["yoyo apply"] = (
            lambda srv, db: [
                yoyo,
                "apply",
                "--batch",
                "--database",
                f"mysql://root@/{db}?unix_socket={srv.socket}",
                str(yoyo_dir),
            ],
            None,
        )
    # Interleaved, and each run on a server of its own started from the same empty datadir:
    # DDL cost depends on what the server did before (dropped tables, purge, table cache),
    # so no tool may inherit another's leftovers.
    results: dict[str, list[float]] = {}
    for _ in range(repeat):
        for label, (make_cmd, stdin_path) in tools.items():
            options = ("--innodb-flush-log-at-trx-commit=1",) if durable else ()
            with MariaDBServer(work / "tiny-server", options=options, tcp=True) as server:
                if tcp:
                    allow_tcp(server)
                db = fresh_db(server, "tiny")
                results.setdefault(label, []).append(run(make_cmd(server, db), stdin_path=stdin_path).seconds)
    baseline = statistics.median(results[client])
    setting = (
        "innodb_flush_log_at_trx_commit=" + ("1" if durable else "2") + (", over TCP" if tcp else ", socket")
    )
    print(f"\n{count} tiny migrations (CREATE TABLE + INSERT each), {setting}, median of {repeat}:\n")
    print("| tool | median s | runs s | vs client |")
    print("|---|---:|---|---:|")
    for label, times in results.items():
        med = statistics.median(times)
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"| {label} | {med:.2f} | {runs} | {med / baseline:.2f}x |")


# -- one 250 MB data migration -----------------------------------------------

_WORDS = ["alpha", "beta", "it''s", "semi;colon", "back\\\\slash", "quote\\'d", "ünïcödé", "tab\\t"]
_TUPLE_LOOKALIKE = "),("


def make_large(path: Path, megabytes: int, lookalike_share: float = 0.1) -> None:
    """An extended-INSERT data migration like mysqldump writes, ~1 MB per statement."""
    rnd = random.Random(7)
    target = megabytes * 1024 * 1024
    written = 0
    row = 0
    with path.open("w", encoding="utf-8") as out:
        head = (
            "CREATE TABLE big (id INT PRIMARY KEY, name VARCHAR(64), note TEXT, "
            "amount DECIMAL(12,2), blob_col VARBINARY(64)) ENGINE=InnoDB;\n"
        )
        out.write(head)
        written += len(head)
        while written < target:
            values = []
            size = 0
            while size < 1_000_000:
                row += 1
                note = " ".join(rnd.choice(_WORDS) for _ in range(rnd.randint(3, 20)))
                if rnd.random() < lookalike_share:  # a string that looks like a row separator
                    note += " " + _TUPLE_LOOKALIKE
                value = f"({row},'name {row}','{note}',{rnd.randint(0, 10**9) / 100:.2f},0x{rnd.getrandbits(64):016x})"
                values.append(value)
                size += len(value) + 1
            line = "INSERT INTO big VALUES " + ",".join(values) + ";\n"
            out.write(line)
            written += len(line.encode())


def bench_large(server: MariaDBServer, work: Path, megabytes: int, repeat: int) -> None:
    migrations = work / "large"
    migrations.mkdir(parents=True, exist_ok=True)
    path = migrations / "V1__big_data.sql"
    if not path.exists():
        make_large(path, megabytes)
    size_mb = path.stat().st_size / 1024 / 1024
    rows: dict[str, list[Measure]] = {}
    for _i in range(repeat):
        db = fresh_db(server, "large")
        rows.setdefault("`mariadb < file`", []).append(run(mariadb_client(server, db), stdin_path=path))
        db = fresh_db(server, "large")
        profile = profile_for(work, server, db, migrations)
        rows.setdefault("deploycheck migrate", []).append(
            run(deploycheck("migrate", "--quiet", "--profile", str(profile)))
        )
        drop_db(server, db)
    print(f"\none {size_mb:.0f} MB extended-INSERT migration, median of {repeat}:\n")
    print_table(rows, "`mariadb < file`", "vs client", decimals=1)


# -- status with 1,000 applied migrations ------------------------------------


def bench_status(server: MariaDBServer, work: Path, count: int, repeat: int) -> None:
    ours, dbmate_dir, _, _ = make_tiny(work, count)
    db = fresh_db(server, "status_ours")
    profile = profile_for(work, server, db, ours)
    run(deploycheck("migrate", "--quiet", "--profile", str(profile)))
    ours_times = [run(deploycheck("status", "--profile", str(profile))).seconds for _ in range(repeat)]
    lines = [("deploycheck status", ours_times)]
    dbmate = shutil.which("dbmate")
    if dbmate:
        db = fresh_db(server, "status_dbmate")
        url = f"mysql://root@/{db}?socket={server.socket}"
        base = [dbmate, "--no-dump-schema", "--migrations-dir", str(dbmate_dir), "--url", url]
        run([*base, "up"])
        lines.append(("dbmate status (for context)", [run([*base, "status"]).seconds for _ in range(repeat)]))
    print(f"\nstatus with {count} applied migrations, whole process, median of {repeat}:\n")
    print("| command | median s | runs s |")
    print("|---|---:|---|")
    for label, times in lines:
        runs = ", ".join(f"{t:.3f}" for t in times)
        print(f"| {label} | {statistics.median(times):.3f} | {runs} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("which", choices=["tiny", "large", "status"])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--mb", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--durable", action="store_true", help="tiny: innodb_flush_log_at_trx_commit=1, the server default"
    )
    parser.add_argument(
        "--floor", action="store_true", help="tiny: add the pymysql floor row (bench/pymysql_floor.py)"
    )
    parser.add_argument("--tcp", action="store_true", help="tiny: every tool over TCP as one user")
    parser.add_argument("--work", type=Path, help="keep generated files here (default: a temp dir)")
    args = parser.parse_args()
    with work_dir(args.work) as work, MariaDBServer(work / "server", tcp=True) as server:
        print(f"server: mariadbd {server_version(server)}; {os.cpu_count()} cores; work dir {work}")
        if args.which == "tiny":
            bench_tiny(work, args.count, args.repeat, args.durable, args.floor, args.tcp)
        elif args.which == "large":
            bench_large(server, work, args.mb, args.repeat)
        else:
            bench_status(server, work, args.count, args.repeat)


def server_version(server: MariaDBServer) -> str:
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        return cur.fetchone()[0]


if __name__ == "__main__":
    main()
