"""The splitter sends exactly what the `mariadb` client sends: compared through the general log."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runner.mariadb_server import MariaDBServer, find_binary
from runner.sqlsplit import split_sql

CORPUS = sorted((Path(__file__).parent / "sql_corpus").glob("*.sql"))


def _logged(admin, thread_ids: set[int] | None, exclude: int) -> list[str]:
    with admin.cursor() as cur:
        cur.execute("SELECT thread_id, argument FROM mysql.general_log WHERE command_type = 'Query'")
        rows = cur.fetchall()
    out = []
    for thread, argument in rows:
        if thread == exclude or (thread_ids is not None and thread not in thread_ids):
            continue
        out.append(argument.decode() if isinstance(argument, bytes) else argument)
    return out


@pytest.fixture()
def logging_admin(mariadb: MariaDBServer):
    admin = mariadb.connect()
    with admin.cursor() as cur:
        cur.execute("SET GLOBAL log_output = 'TABLE'")
        cur.execute("SET GLOBAL general_log = 1")
    yield admin
    with admin.cursor() as cur:
        cur.execute("SET GLOBAL general_log = 0")
    admin.close()


def _fresh(admin, name: str) -> None:
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}`")


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_runner_sends_what_the_client_sends(path: Path, mariadb: MariaDBServer, logging_admin) -> None:
    admin = logging_admin
    admin_id = admin.thread_id()

    _fresh(admin, "diff_client")
    with admin.cursor() as cur:
        cur.execute("TRUNCATE mysql.general_log")
    with path.open("rb") as stdin:
        subprocess.run(
            [
                find_binary("mariadb", "mysql"),
                "--no-defaults",
                f"--socket={mariadb.socket}",
                "-uroot",
                "diff_client",
            ],
            stdin=stdin,
            check=True,
            capture_output=True,
        )
    from_client = _logged(admin, None, admin_id)

    _fresh(admin, "diff_runner")
    runner = mariadb.connect("diff_runner")
    with admin.cursor() as cur:
        cur.execute("TRUNCATE mysql.general_log")
    with runner.cursor() as cur:
        for statement in split_sql(path.read_text(encoding="utf-8"), path.name):
            cur.execute(statement.text)
            while cur.nextset():
                pass
    from_runner = _logged(admin, {runner.thread_id()}, admin_id)
    runner.close()

    assert from_client, "the client ran nothing: the comparison would prove nothing"
    assert from_runner == from_client
