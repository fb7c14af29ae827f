"""The splitter sends exactly what the `mariadb` client sends: compared through the general log."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runner.backups.dump import find_binary
from runner.migrations.sqlsplit import Quoting, split_lines
from runner.sandbox.mariadb import MariaDBServer

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
    from_client, from_runner = _both_logs(path, mariadb, logging_admin)
    assert from_client, "the client ran nothing: the comparison would prove nothing"
    assert from_runner == from_client


def test_runner_reads_quotes_as_the_server_global_sql_mode_says(
    tmp_path: Path, mariadb: MariaDBServer, logging_admin
) -> None:
    """The mode a session starts with comes in the handshake, before any statement ran."""
    path = tmp_path / "global_mode.sql"
    path.write_text("SELECT 'a\\'; SELECT 'b';\nSELECT \"c\\\"; SELECT 'd';\n")
    with logging_admin.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.sql_mode")
        (before,) = cur.fetchone()
        cur.execute("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')")
    try:
        from_client, from_runner = _both_logs(path, mariadb, logging_admin)
    finally:
        with logging_admin.cursor() as cur:
            cur.execute("SET GLOBAL sql_mode = %s", (before,))
    assert from_client == ["SELECT 'a\\'", "SELECT 'b'", 'SELECT "c\\"', "SELECT 'd'"]
    assert from_runner == from_client


def _both_logs(path: Path, mariadb: MariaDBServer, admin) -> tuple[list[str], list[str]]:
    """What the server logged from `mariadb < path`, and from the runner's statements of it."""
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
        # As the engine does: the splitter follows the quoting the server reports after each statement.
        lines = path.read_text(encoding="utf-8").split("\n")
        for statement in split_lines(
            lines, path.name, lambda: Quoting.from_server_status(runner.server_status)
        ):
            cur.execute(statement.text)
            while cur.nextset():
                pass
    from_runner = _logged(admin, {runner.thread_id()}, admin_id)
    runner.close()
    return from_client, from_runner
