"""The least any Python engine on pymysql pays for deploycheck's round trips, as a benchmark row.

    python bench/pymysql_floor.py SOCKET|HOST:PORT:USER:PASSWORD DATABASE MIGRATIONS_DIR

Per migration it sends what `deploycheck migrate` sends: a session reset (a fresh session, as
a new client process gets), one packet with autocommit off and the "did not finish" row, each
statement on its own, then one packet with the "applied" row and a COMMIT. It leaves out
everything else: no profile, no checksums, no lock, no ledger read, no client-exact splitting
(the tiny benchmark's files split on ";\\n"). What deploycheck takes beyond this row is its own
overhead; what this row takes beyond a peer is the protocol's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pymysql
from pymysql.constants import CLIENT

COM_RESET_CONNECTION = 0x1F


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
    for path in files:
        version = int(path.name[1:].split("__")[0])
        conn._execute_command(COM_RESET_CONNECTION, b"")
        conn._read_ok_packet()
        batch(conn, ["SET autocommit = 0", f"INSERT INTO floor_history VALUES ({version}, 0)", "COMMIT"])
        for statement in path.read_text().split(";\n"):
            if statement.strip():
                conn.query(statement)
        batch(conn, [f"UPDATE floor_history SET success = 1 WHERE version = {version}", "COMMIT"])
    conn.close()


def batch(conn: pymysql.Connection, statements: list[str]) -> None:
    conn.query(";\n".join(statements))
    while conn.next_result():
        pass


if __name__ == "__main__":
    main()
