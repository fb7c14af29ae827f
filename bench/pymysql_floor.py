"""The least any Python engine on pymysql pays for deploycheck's round trips, as a benchmark row.

    python bench/pymysql_floor.py SOCKET DATABASE MIGRATIONS_DIR

Per migration it sends what `deploycheck migrate` sends: one packet with the previous
migration's "applied" row, a "did not finish" row and a COMMIT, then each statement on its
own. It leaves out everything else: no profile, no checksums, no lock, no ledger read, no
client-exact splitting (the tiny benchmark's files split on ";\\n"). What deploycheck takes
beyond this row is its own overhead; what this row takes beyond a peer is the protocol's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pymysql
from pymysql.constants import CLIENT


def main() -> None:
    socket, database, directory = sys.argv[1:4]
    conn = pymysql.connect(
        unix_socket=socket,
        user="root",
        database=database,
        autocommit=False,
        client_flag=CLIENT.MULTI_STATEMENTS,
    )
    conn.query("CREATE TABLE floor_history (version INT PRIMARY KEY, success TINYINT NOT NULL)")
    files = sorted(Path(directory).glob("V*__*.sql"), key=lambda p: int(p.name[1:].split("__")[0]))
    previous = None
    for path in files:
        version = int(path.name[1:].split("__")[0])
        finish = [f"UPDATE floor_history SET success = 1 WHERE version = {previous}"] if previous else []
        conn.query(";\n".join([*finish, f"INSERT INTO floor_history VALUES ({version}, 0)", "COMMIT"]))
        while conn.next_result():
            pass
        for statement in path.read_text().split(";\n"):
            if statement.strip():
                conn.query(statement)
        previous = version
    if previous is not None:
        conn.query(f"UPDATE floor_history SET success = 1 WHERE version = {previous}")
    conn.commit()
    conn.close()


if __name__ == "__main__":
    main()
