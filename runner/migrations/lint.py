"""Lint: statements in migrations that lose data, lock tables or leave a migration half-applied.

Statements come from the client-exact splitter and are read with sqlglot's MySQL dialect (no
hand-written grammar); column types before a change come from the migrations before it (and
from the target's information_schema when a database is given, with table sizes). Whether an
ALTER runs in place is the server's call: when a scratch copy of the target's schema is at
hand, each ALTER of a pending migration is tried there, cheapest algorithm first (migrations/alter.py).

A finding is acknowledged by a comment on its statement (above it or on its line):
`-- deploycheck: allow drop-column (unused since 2.3)`; it is then reported as acknowledged,
with the reason, and does not fail `lint`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pymysql
import sqlglot
from sqlglot import exp

from runner.errors import ConfinementRefused
from runner.migrations.alter import altered_table, execute_alter
from runner.migrations.files import Migration, MigrationSet
from runner.migrations.guard import Guard
from runner.migrations.sqlsplit import Quoting, Statement

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # "falling back to a Command" is not news here

SEVERITY = {
    "drop-table": "blocker",
    "drop-database": "blocker",
    "drop-column": "blocker",
    "truncate": "blocker",
    "delete-without-where": "blocker",
    "update-without-where": "blocker",
    "narrowing-type": "blocker",
    "not-null-without-default": "warning",  # a blocker on a table that has rows
    "rename": "warning",
    "after-ddl": "warning",
    "copy-algorithm": "warning",
    "not-idempotent": "info",
}
_ACK = re.compile(r"deploycheck:\s*allow\s+([a-z-]+)(?:\s*\(([^)]*)\))?", re.IGNORECASE)
_DDL = (exp.Create, exp.Drop, exp.Alter, exp.TruncateTable)
_INTEGERS = ["tinyint", "smallint", "mediumint", "int", "integer", "bigint"]
_TEXTS = ["tinytext", "text", "mediumtext", "longtext"]


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    rule: str
    severity: str
    message: str
    acknowledged: str | None = None  # the reason given in the acknowledging comment

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "acknowledged": self.acknowledged is not None,
            "reason": self.acknowledged,
        }

    @property
    def blocks(self) -> bool:
        return self.severity == "blocker" and self.acknowledged is None


@dataclass
class Tables:
    """What is known of the tables: column types, and rows and bytes from the target."""

    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    size: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_target(cls, cur: Any) -> Tables:
        tables = cls()
        cur.execute(
            "SELECT table_name, column_name, column_type FROM information_schema.columns"
            " WHERE table_schema = DATABASE()"
        )
        for table, column, kind in cur.fetchall():
            tables.columns.setdefault(table.lower(), {})[column.lower()] = kind.lower()
        cur.execute(
            "SELECT table_name, table_rows, data_length + index_length FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'"
        )
        for table, rows, size in cur.fetchall():
            tables.rows[table.lower()] = int(rows or 0)
            tables.size[table.lower()] = int(size or 0)
        return tables


# Runs each statement of the linted migrations on a scratch copy, in order; for an ALTER it
# answers with the ALGORITHM the server accepted: INSTANT, NOCOPY (MariaDB), INPLACE or COPY.
AlgorithmProbe = Callable[[Statement], str | None]


class ScratchProbe:
    """The AlgorithmProbe of a scratch copy of the target's schema (see rehearsal.copy_schema)."""

    def __init__(self, conn: Any, guard: Guard) -> None:
        self.conn = conn
        self.guard = guard  # what reaches beyond the copy is not run (the copy then stops following)
        self.broken = False  # a statement failed: the copy no longer follows the migrations

    def __call__(self, statement: Statement) -> str | None:
        if (statement.quoting or Quoting()) != Quoting.from_server_status(self.conn.server_status):
            self.broken = True  # cut and read under another sql_mode than the copy's now: the guard
        if self.broken:  # would judge a text the server reads otherwise (`'a\', @@global.x = 7 -- '`)
            return None
        try:
            allowed = self.guard.check(statement)
        except ConfinementRefused:
            self.broken = True
            return None
        if allowed is None:
            return None
        with self.conn.cursor() as cur:
            try:
                if altered_table(allowed) is not None:
                    return execute_alter(cur, allowed)
                cur.execute(allowed.text)
                while cur.nextset():
                    pass
            except pymysql.err.MySQLError:
                self.broken = True
        return None


def lint(
    migrations: MigrationSet,
    chosen: Iterable[Migration],
    tables: Tables | None = None,
    probe: AlgorithmProbe | None = None,
) -> list[Finding]:
    """Findings for the `chosen` migrations of `migrations`, in order. Migrations before them
    only teach the column types."""
    tables = tables or Tables()
    wanted = {m.filename for m in chosen}
    findings: list[Finding] = []
    for migration in migrations.migrations:
        report = migration.filename in wanted
        lines = _raw_lines(migration)
        statements = list(migrations.statements(migration))
        previous_end = 0
        seen_ddl = said_after_ddl = False  # "after DDL" is said once per migration
        for statement in statements:
            end = statement.line + statement.text.count("\n")
            acks = _acknowledgements(lines[previous_end:end])
            previous_end = end
            parsed = _parse(statement.text)
            algorithm = probe(statement) if probe is not None and report else None
            found = _rules(statement, parsed, tables, seen_ddl and not said_after_ddl, algorithm)
            said_after_ddl = said_after_ddl or seen_ddl
            seen_ddl = seen_ddl or isinstance(parsed, _DDL) or _is_rename(parsed)
            _learn(parsed, tables)
            if report:
                findings += [
                    Finding(migration.filename, statement.line, rule, severity, message, acks.get(rule))
                    for rule, severity, message in found
                ]
    return findings


def _raw_lines(migration: Migration) -> list[str]:
    data = migration.content if migration.content is not None else migration.path.read_bytes()
    return data.decode("utf-8", "replace").splitlines()


def _acknowledgements(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        for rule, reason in _ACK.findall(line):
            found[rule.lower()] = reason.strip() or "acknowledged"
    return found


def _parse(text: str) -> exp.Expression | None:
    try:
        return sqlglot.parse_one(text, read="mysql")
    except sqlglot.errors.SqlglotError:  # a statement sqlglot cannot read: the server will say
        return None


def _name(table: exp.Expression | None) -> str:
    if table is None:
        return ""
    found = table.find(exp.Table) if not isinstance(table, exp.Table) else table
    return (found.name if found is not None else table.sql("mysql")).lower()


def _dropped(drop: exp.Drop) -> str:
    """What a DROP names (sqlglot keeps it in `this`, or in `tables`)."""
    targets = [drop.this] if drop.this is not None else list(drop.args.get("tables") or [])
    return ", ".join(t.name.lower() for t in targets if t is not None) or "?"


def _is_rename(parsed: exp.Expression | None) -> bool:
    return isinstance(parsed, exp.Command) and str(parsed.this).upper() == "RENAME"


def _rules(
    statement: Statement,
    parsed: exp.Expression | None,
    tables: Tables,
    after_ddl: bool,
    algorithm: str | None,
) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []

    def add(rule: str, message: str, severity: str | None = None) -> None:
        found.append((rule, severity or SEVERITY[rule], message))

    if parsed is None:
        return found
    if after_ddl:
        add(
            "after-ddl",
            "runs after DDL in the same migration (and so do the statements after it): MySQL has "
            "committed the DDL, so if one of them fails the migration is half-applied; split it",
        )
    if isinstance(parsed, exp.Drop):
        kind = str(parsed.args.get("kind") or "").upper()
        target = _dropped(parsed)
        if kind == "TABLE":
            add(
                "drop-table",
                f"DROP TABLE {target}: its rows are gone for good (a backup is the only way back)",
            )
        elif kind in ("DATABASE", "SCHEMA"):
            add("drop-database", f"DROP DATABASE {target}")
        if kind in ("TABLE", "VIEW", "INDEX") and not parsed.args.get("exists"):
            add("not-idempotent", f"DROP {kind} without IF EXISTS fails when run again")
    elif isinstance(parsed, exp.TruncateTable):
        add("truncate", f"TRUNCATE {', '.join(_name(t) for t in parsed.expressions)} deletes every row")
    elif isinstance(parsed, exp.Delete) and not parsed.args.get("where"):
        add("delete-without-where", f"DELETE without WHERE empties {_name(parsed.this)}")
    elif isinstance(parsed, exp.Update) and not parsed.args.get("where"):
        add("update-without-where", f"UPDATE without WHERE changes every row of {_name(parsed.this)}")
    elif isinstance(parsed, exp.Create):
        kind = str(parsed.args.get("kind") or "").upper()
        if kind == "TABLE" and not parsed.args.get("exists"):
            add("not-idempotent", "CREATE TABLE without IF NOT EXISTS fails when run again")
    elif _is_rename(parsed):
        add(
            "rename", f"{' '.join(statement.text.split()[:4])}: renames a table the application may still use"
        )
    elif isinstance(parsed, exp.Alter):
        found += _alter(parsed, tables, algorithm)
    return found


def _alter(parsed: exp.Alter, tables: Tables, algorithm: str | None) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    table = _name(parsed.this)
    known = tables.columns.get(table, {})
    rows = tables.rows.get(table)
    for action in parsed.args.get("actions") or []:
        if isinstance(action, exp.Drop) and str(action.args.get("kind") or "COLUMN").upper() == "COLUMN":
            column = _dropped(action)
            found.append(
                ("drop-column", SEVERITY["drop-column"], f"drops column {table}.{column} and its data")
            )
        elif isinstance(action, exp.AlterRename):
            found.append(
                ("rename", SEVERITY["rename"], f"renames table {table}, which the application may still use")
            )
        elif isinstance(action, exp.RenameColumn):
            old = action.this.name if action.this is not None else "?"
            found.append(
                (
                    "rename",
                    SEVERITY["rename"],
                    f"renames column {table}.{old}, which the application may still use",
                )
            )
        elif isinstance(action, exp.ModifyColumn | exp.ColumnDef):
            definition = action if isinstance(action, exp.ColumnDef) else action.find(exp.ColumnDef)
            if definition is None:
                continue
            column = definition.name.lower()
            new_type = _type(definition)
            old_type = known.get(_old_name(action) or column)
            if (
                isinstance(action, exp.ModifyColumn)
                and old_type
                and new_type
                and _narrows(old_type, new_type)
            ):
                found.append(
                    (
                        "narrowing-type",
                        SEVERITY["narrowing-type"],
                        f"changes {table}.{column} from {old_type} to {new_type}: values that do not fit are cut or refused",
                    )
                )
            if isinstance(action, exp.ColumnDef) and _not_null_without_default(definition):
                has_rows = bool(rows)
                severity = "blocker" if has_rows else SEVERITY["not-null-without-default"]
                where = f" ({rows:,} rows)" if rows else ""
                found.append(
                    (
                        "not-null-without-default",
                        severity,
                        f"adds {table}.{column} NOT NULL without a DEFAULT to a table{where} that may hold rows: "
                        "existing rows get an implicit value, or the statement fails",
                    )
                )
    if algorithm == "COPY":
        size = tables.size.get(table)
        shown = f" ({size / 1e6:,.1f} MB, ~{rows or 0:,} rows)" if size else ""
        found.append(
            (
                "copy-algorithm",
                SEVERITY["copy-algorithm"],
                f"the server runs this ALTER on {table}{shown} only with ALGORITHM=COPY: the table is rebuilt and writes wait for it",
            )
        )
    return found


def _old_name(action: exp.Expression) -> str | None:
    """CHANGE old new ...: the old name (MODIFY keeps the name)."""
    text = action.sql("mysql")
    match = re.match(r"CHANGE COLUMN `?(\w+)`?\s", text, re.IGNORECASE)
    return match.group(1).lower() if match else None


def _type(definition: exp.ColumnDef) -> str:
    kind = definition.args.get("kind")
    return kind.sql("mysql").lower() if kind is not None else ""


def _not_null_without_default(definition: exp.ColumnDef) -> bool:
    constraints = [c.args.get("kind") for c in definition.args.get("constraints") or []]
    not_null = any(
        isinstance(k, exp.NotNullColumnConstraint) and not k.args.get("allow_null") for k in constraints
    )
    default = any(isinstance(k, exp.DefaultColumnConstraint) for k in constraints)
    auto = any(isinstance(k, exp.AutoIncrementColumnConstraint) for k in constraints)
    return not_null and not default and not auto


def _learn(parsed: exp.Expression | None, tables: Tables) -> None:
    """Column types as the statement leaves them, for the statements after it."""
    if isinstance(parsed, exp.Create) and str(parsed.args.get("kind") or "").upper() == "TABLE":
        schema = parsed.this
        name = _name(schema)
        columns = tables.columns.setdefault(name, {})
        for definition in schema.find_all(exp.ColumnDef) if schema is not None else []:
            columns[definition.name.lower()] = _type(definition)
    elif isinstance(parsed, exp.Alter):
        columns = tables.columns.setdefault(_name(parsed.this), {})
        for action in parsed.args.get("actions") or []:
            definition = action if isinstance(action, exp.ColumnDef) else action.find(exp.ColumnDef)
            if isinstance(action, exp.Drop):
                for dropped in _dropped(action).split(", "):
                    columns.pop(dropped, None)
            elif definition is not None:
                old = _old_name(action)
                if old:
                    columns.pop(old, None)
                columns[definition.name.lower()] = _type(definition)


def _narrows(old: str, new: str) -> bool:
    """Whether `new` holds less than `old`: int -> tinyint, varchar(255) -> varchar(100),
    text -> varchar(n), decimal(10,2) -> decimal(8,2)."""
    old_base, old_args = _split_type(old)
    new_base, new_args = _split_type(new)
    if old_base in _INTEGERS and new_base in _INTEGERS:
        return _INTEGERS.index(new_base.replace("integer", "int")) < _INTEGERS.index(
            old_base.replace("integer", "int")
        )
    if old_base in _TEXTS and new_base in _TEXTS:
        return _TEXTS.index(new_base) < _TEXTS.index(old_base)
    if old_base in _TEXTS and new_base in ("varchar", "char"):
        return True
    if old_base == new_base and old_args and new_args:
        return any(n < o for n, o in zip(new_args, old_args, strict=False))
    if old_base == "varchar" and new_base == "char" and old_args and new_args:
        return new_args[0] < old_args[0]
    return False


def _split_type(kind: str) -> tuple[str, list[int]]:
    match = re.match(r"\s*([a-z]+)\s*(?:\(([\d,\s]+)\))?", kind.lower())
    if not match:
        return kind, []
    args = [int(a) for a in (match.group(2) or "").replace(" ", "").split(",") if a]
    return match.group(1), args
