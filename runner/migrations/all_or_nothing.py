"""Which failed statements the server guarantees changed nothing: only after one of those may
the engine say that nothing of a migration ran.

A statement the server could not parse ran not at all. Otherwise only a single statement that
MySQL 8.0 and MariaDB 10.6+ run all or nothing (atomic DDL: one CREATE, ALTER, DROP, TRUNCATE
or RENAME of one object) leaves nothing behind when it fails. A DROP or RENAME of several
tables, DROP DATABASE, an account statement naming several accounts, or a DELIMITER batch of
several statements can fail half-way: MariaDB runs `DROP TABLE t1, nope` by dropping t1 and
then failing on nope. Statements are read with sqlglot's MySQL dialect; whatever it cannot
read, or reads as something else, is not guaranteed.
"""

from __future__ import annotations

import logging
import re

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from runner.migrations.sqlsplit import Statement

logging.getLogger("sqlglot").setLevel(logging.ERROR)

_NOT_PARSED = {1064, 1149}  # ER_PARSE_ERROR, ER_SYNTAX_ERROR: the server ran nothing of it
_ONE_OBJECT = {"TABLE", "VIEW", "INDEX", "FUNCTION", "PROCEDURE", "TRIGGER", "EVENT", "SEQUENCE"}
_READ_UP_TO = 1 << 20  # characters: a longer first statement (a huge INSERT) is not guaranteed
_TRIGGER = re.compile(r"(?:DEFINER\s*=\s*\S+\s+)?TRIGGER\b", re.IGNORECASE)


def changed_nothing(statement: Statement, error_code: int | None) -> bool:
    """Whether `statement`, which failed with server error `error_code`, is certain to have
    changed nothing (its implicit commit aside)."""
    if error_code in _NOT_PARSED:
        return True
    if len(statement.text) > _READ_UP_TO:
        return False
    try:
        parsed = sqlglot.parse(statement.text, read="mysql")
    except sqlglot.errors.SqlglotError:
        return False
    return len(parsed) == 1 and parsed[0] is not None and _atomic(parsed[0])


def _atomic(parsed: exp.Expression) -> bool:
    kind = str(parsed.args.get("kind") or "").upper()
    if isinstance(parsed, exp.Drop):
        named = list(parsed.args.get("tables") or []) or [parsed.this]
        return kind in _ONE_OBJECT and len(named) == 1
    if isinstance(parsed, exp.Create):
        return kind in _ONE_OBJECT
    if isinstance(parsed, exp.Alter):
        return kind == "TABLE"
    if isinstance(parsed, exp.TruncateTable):
        return len(parsed.expressions) == 1
    if isinstance(parsed, exp.Command):  # what sqlglot reads only as a keyword and the rest
        command, rest = str(parsed.this).upper(), parsed.expression
        rest = (rest.name if isinstance(rest, exp.Expression) else str(rest or "")).strip()
        if command == "RENAME":  # RENAME TABLE a TO b: one pair, no comma
            tokens = sqlglot.tokenize(rest, read="mysql")
            return not any(token.token_type == TokenType.COMMA for token in tokens)
        return command == "CREATE" and bool(_TRIGGER.match(rest))
    return False
