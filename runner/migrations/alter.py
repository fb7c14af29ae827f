"""ALTER TABLE on a scratch copy, learning the algorithm the server runs it with.

The server says nothing about the algorithm it chose, so the statement is sent with an
ALGORITHM clause, cheapest first: INSTANT, NOCOPY (MariaDB), INPLACE. The server refuses an
algorithm it cannot use before it touches the table (ER_ALTER_OPERATION_NOT_SUPPORTED), so
the first one accepted is the one it would have chosen by default, and the statement does the
same work; when it accepts none, the statement runs as written: a COPY. An algorithm that the
statement names, or MariaDB's `alter_algorithm` of the session, is the server's choice already:
the statement then runs as written. Lint's probe and the rehearsal on a restored backup share this.
"""

from __future__ import annotations

import itertools
from typing import Any

import pymysql

from runner.migrations.sqlsplit import Statement
from runner.migrations.sqltokens import tokens

_NOT_SUPPORTED = (1845, 1846)  # ER_ALTER_OPERATION_NOT_SUPPORTED(_REASON)
_ALGORITHMS = ("DEFAULT", "INSTANT", "NOCOPY", "INPLACE", "COPY")
_PARSE_ERROR = 1064  # the clause cannot follow (ORDER BY, partition options come last)


def altered_table(statement: Statement) -> str | None:
    """The table an ALTER TABLE statement changes (its name without the schema), else None."""
    toks = list(itertools.islice(tokens(statement.text[:1000], statement.quoting), 10))
    words = [t.value if t.kind == "word" else "" for t in toks]
    at = 1
    while at < len(words) and words[at] in ("ONLINE", "IGNORE"):
        at += 1
    if not words or words[0] != "ALTER" or words[at : at + 1] != ["TABLE"]:
        return None
    at += 3 if words[at + 1 : at + 3] == ["IF", "EXISTS"] else 1
    names = toks[at : at + 3]
    if len(names) == 3 and names[1].kind == "op" and names[1].value == ".":
        names = names[2:]
    if not names or names[0].kind not in ("word", "ident"):
        return None
    return names[0].name or names[0].value


def named_algorithm(statement: Statement) -> str | None:
    """The algorithm an ALTER TABLE names itself (`ALGORITHM [=] COPY`), else None."""
    toks = [t for t in tokens(statement.text, statement.quoting) if not (t.kind == "op" and t.value == "=")]
    for token, after in itertools.pairwise(toks):
        if token.kind == "word" and token.value == "ALGORITHM" and after.value in _ALGORITHMS:
            return after.value
    return None  # a column named `algorithm` is followed by its type


def execute_alter(cur: Any, statement: Statement) -> str | None:
    """Run ALTER TABLE `statement` as the server would by default; the algorithm it ran with
    (None when that cannot be learnt: DEFAULT named, or the clause cannot be added). A failure
    of the statement itself is raised, as running it plainly would raise it."""
    mariadb = "mariadb" in cur.connection.get_server_info().lower()
    named = named_algorithm(statement) or (_session_algorithm(cur) if mariadb else None)
    if named is not None:
        cur.execute(statement.text)
        return None if named == "DEFAULT" else named
    for algorithm in ("INSTANT", "NOCOPY", "INPLACE") if mariadb else ("INSTANT", "INPLACE"):
        try:
            cur.execute(f"{statement.text}\n, ALGORITHM={algorithm}")  # past a trailing -- comment
            return algorithm
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args else None
            if code == _PARSE_ERROR:
                cur.execute(statement.text)
                return None
            if code not in _NOT_SUPPORTED:
                raise
    cur.execute(statement.text)
    return "COPY"


def _session_algorithm(cur: Any) -> str | None:
    """MariaDB's alter_algorithm when it is not DEFAULT: every ALTER without a clause uses it."""
    cur.execute("SELECT @@SESSION.alter_algorithm")
    chosen = str(cur.fetchone()[0]).upper()
    return None if chosen == "DEFAULT" else chosen
