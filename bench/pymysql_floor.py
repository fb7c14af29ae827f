"""The least any Python engine on pymysql pays for deploycheck's round trips, as a benchmark row.

    python bench/pymysql_floor.py SOCKET|HOST:PORT:USER:PASSWORD DATABASE MIGRATIONS_DIR

Per migration it sends what `deploycheck migrate` sends for a migration that starts with DDL:
in one round trip (runner.migrations.engine.fresh_session, the same code) the previous
migration's "applied" row, this one's "did not finish" row and a COMMIT, a session reset (a
fresh session, as a new client process gets), the database selected again and autocommit off; then each statement on its own. It leaves out
everything else: no profile, no checksums, no lock, no ledger read, no client-exact splitting
(the tiny benchmark's files split on ";\\n"). What deploycheck takes beyond this row is its own
overhead; what this row takes beyond a peer is the protocol's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pymysql
from pymysql.constants import CLIENT

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from runner.migrations.engine import fresh_session


def main() -> None:
    where, database, directory = sys.argv[1:4]
    if where.startswith("/"):
        login: dict[str, object] = {"unix_socket": where, "user": "root"}
    else:
        host, port, user, password = where.split(":", 3)
        login = {"host": host, "port": int(port), "user": user, "password": password}
    conn = pymysql.connect(**login, database=database, autocommit=False, client_flag=CLIENT.MULTI_STATEMENTS)
    conn.query("CREATE TABLE floor_history (version INT PRIMARY KEY, success TINYINT NOT NULL)")
    files = sorted(Path(directory).glob("V*__*.sql"), key=lambda p: int(p.name[1:].split("__")[0]))
    previous = None
    for path in files:
        version = int(path.name[1:].split("__")[0])
        finish = [f"UPDATE floor_history SET success = 1 WHERE version = {previous}"] if previous else []
        fresh_session(
            conn,
            [*finish, f"INSERT INTO floor_history VALUES ({version}, 0)", "COMMIT"],
            database,
            ["SET autocommit = 0"],
        )
        for statement in path.read_text().split(";\n"):
            if statement.strip():
                conn.query(statement)
        previous = version
    if previous is not None:
        batch(conn, [f"UPDATE floor_history SET success = 1 WHERE version = {previous}", "COMMIT"])
    conn.close()


def batch(conn: pymysql.Connection, statements: list[str]) -> None:
    conn.query(";\n".join(statements))
    while conn.next_result():
        pass


if __name__ == "__main__":
    main()
