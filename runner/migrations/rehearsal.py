"""Rehearsal: the pending migrations run first on a scratch copy of production's schema.

The copy is production's structure as the server reports it (SHOW CREATE for tables, views,
routines, triggers and events, each through the confinement guard: DEFINER clauses dropped,
since those users need not exist on the scratch server, and names qualified with the target's
database name moved to the scratch database), the ledger tables with their rows (so the engine sees the same status),
and, with `rehearse.sample_rows: N`, up to N rows of every other table. The pending migrations
then run there with the same engine, and each is reported applied (with its time) or failed
(statement, line, server error). The target is only read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pymysql

from runner.db import Scratch, connect, describe, server_error, without_values
from runner.errors import ConfinementRefused, DeploycheckError, MigrationError, MigrationFailed
from runner.migrations.alter import altered_table, execute_alter
from runner.migrations.engine import Migrator, Progress
from runner.migrations.files import Migration
from runner.migrations.guard import ConfinedMigrator, Guard
from runner.migrations.sqlsplit import Statement
from runner.profile.model import Profile


@dataclass(frozen=True)
class Altered:
    table: str  # without the schema
    algorithm: str | None  # INSTANT, NOCOPY, INPLACE, COPY; None when the server could not be asked

    def said(self, rows: dict[str, int] | None = None) -> str:
        """`ALTER TABLE `t` over 1,200 rows (COPY)`; with `rows` (rows per table as restored),
        the table's rows, when it was restored."""
        over = ""
        if rows is not None:
            counted = rows.get(self.table)
            over = " (not in the restored copy)" if counted is None else f" over {counted:,} rows"
        return f"ALTER TABLE `{self.table}`{over} ({self.algorithm or 'algorithm not known'})"


@dataclass
class Rehearsed:
    filename: str
    ok: bool
    seconds: float
    error: str = ""  # where and why, values elided: the first line of the engine's message
    statement: int | None = None  # where it failed, when known
    line: int | None = None
    reason: str = ""  # the server's error alone, values elided
    altered: list[Altered] = field(default_factory=list)  # its ALTER TABLE statements that ran


# What an ALTER's time on the copy means for production's writes, by the algorithm the server used.
_WHILE_IT_RUNS = {
    "COPY": "COPY locks the table for writes about that long",
    "INPLACE": "INPLACE rebuilds it online: writes go on, with short metadata locks at the start and end",
    "NOCOPY": "NOCOPY changes it online without a rebuild: writes mostly go on, with short metadata "
    "locks at the start and end",
    "INSTANT": "INSTANT changes only metadata",
}


def timing_note(measured_on: str, rehearsed: list[Rehearsed]) -> str:
    """What the rehearsal's times mean, honest about the ALTERs' algorithms: a COPY's time is
    how long production's writes wait, an online one's is not."""
    note = (
        f"measured on {measured_on}: each migration's time estimates how long it runs on production; "
        "that server may be slower or faster than production's (hardware, load, configuration), so read "
        "the times as an order of magnitude"
    )
    used = {a.algorithm for m in rehearsed for a in m.altered}
    said = [means for algorithm, means in _WHILE_IT_RUNS.items() if algorithm in used]
    if None in used:
        said.append("an ALTER whose algorithm is not known may lock its table for writes as long as it runs")
    return note + (
        "; what an ALTER's time means for writes depends on its algorithm: " + "; ".join(said) if said else ""
    )


@dataclass
class Rehearsal:
    scratch: str
    migrations: list[Rehearsed] = field(default_factory=list)
    copied: dict[str, int] = field(default_factory=dict)  # object kind -> how many were copied
    not_run: list[str] = field(default_factory=list)  # pending migrations after a failure
    notes: list[str] = field(default_factory=list)  # what the confinement guard rewrote or skipped

    @property
    def ok(self) -> bool:
        return all(m.ok for m in self.migrations)


class _Recorder(Progress):
    def __init__(self) -> None:
        self.done: list[Rehearsed] = []
        self.started_at = 0.0
        self.altered: list[Altered] = []

    def started(self, migration: Migration, index: int, total: int) -> None:
        self.started_at = time.monotonic()
        self.altered = []

    def finished(self, migration: Migration, elapsed_s: float, statements: int) -> None:
        self.done.append(Rehearsed(migration.filename, True, elapsed_s, altered=self.altered))


class _RehearsingMigrator(ConfinedMigrator):
    """The confined engine, telling `recorder` each ALTER TABLE's table and algorithm."""

    def __init__(self, profile: Profile, guard: Guard, recorder: _Recorder) -> None:
        super().__init__(profile, guard, recorder)
        self.recorder = recorder

    def _execute(self, cur: Any, statement: Statement) -> None:
        table = altered_table(statement)
        if table is None:
            super()._execute(cur, statement)
            return
        algorithm = execute_alter(cur, statement)
        self.recorder.altered.append(Altered(table, algorithm))


def rehearse(profile: Profile, scratch: Scratch) -> Rehearsal:
    """Copy production's schema to a scratch database and run the pending migrations there."""
    assert profile.database is not None and profile.migrations is not None
    migrator = Migrator(profile)
    timeout_s = profile.timeouts.default_s
    rehearsal = Rehearsal(scratch.label)
    with connect(profile.database, timeout_s, read_timeout_s=timeout_s, read_only=True) as target:
        plan = migrator.plan(migrator.status(conn=target), None)
        if not plan:
            return rehearsal
        database = scratch.create("rehearse", timeout_s, like=target)
        guard = Guard(database, profile.database.name)
        try:
            with scratch.connect(database, timeout_s) as copy:
                try:
                    rehearsal.copied = copy_schema(
                        target, copy, set(migrator.ledger.tables()), profile.rehearse.sample_rows, guard
                    )
                except pymysql.err.MySQLError as exc:
                    raise DeploycheckError(
                        f"cannot copy the schema of {describe(profile.database)} to {scratch.label}: {server_error(exc)}"
                    ) from None
            rehearsal.migrations, rehearsal.not_run = apply_pending(profile, scratch, database, guard, plan)
            rehearsal.notes = guard.notes
        finally:
            scratch.drop(database, timeout_s)
    return rehearsal


def apply_pending(
    profile: Profile, scratch: Scratch, database: str, guard: Guard, plan: list[Migration]
) -> tuple[list[Rehearsed], list[str]]:
    """`deploycheck migrate` on scratch database `database`, judged by its own ledger (`plan` is
    what that ledger leaves pending), every statement through `guard`: each migration applied
    (with its time) or the one that failed, and the names of those not run after it."""
    scratch_profile = profile.model_copy(
        update={"database": scratch.login.model_copy(update={"name": database}), "backups": None}
    )
    recorder = _Recorder()
    try:
        _RehearsingMigrator(scratch_profile, guard, recorder).migrate()
    except MigrationError as exc:
        failure = exc if isinstance(exc, MigrationFailed) else MigrationFailed(str(exc))
        failed = plan[len(recorder.done)]
        recorder.done.append(
            Rehearsed(
                failed.filename,
                False,
                time.monotonic() - recorder.started_at,
                without_values(str(exc).split("\n")[0]),
                statement=failure.statement,
                line=failure.line,
                reason=without_values(failure.error or str(exc).split("\n")[0]),
                altered=recorder.altered,
            )
        )
    return recorder.done, [m.filename for m in plan[len(recorder.done) :]]


def copy_schema(target: Any, copy: Any, ledger: set[str], sample_rows: int, guard: Guard) -> dict[str, int]:
    """Production's structure on `copy` (see the module docstring); how many of each kind."""
    copied: dict[str, int] = {}
    with target.cursor() as read, copy.cursor() as write:
        write.execute("SET SESSION foreign_key_checks = 0")
        read.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = DATABASE()"
            " ORDER BY table_name"
        )
        objects = read.fetchall()
        tables = [name for name, kind in objects if kind == "BASE TABLE"]
        views = [name for name, kind in objects if kind == "VIEW"]
        for table in tables:
            read.execute(f"SHOW CREATE TABLE {_quoted(table)}")
            write.execute(_confined(guard, read.fetchone()[1], f"table `{table}`"))
            limit = None if table in ledger else sample_rows
            if limit != 0:
                _copy_rows(read, write, table, limit)
        copied["tables"] = len([t for t in tables if t not in ledger])
        _copy_views(read, write, views, guard)
        copied["views"] = len(views)
        for kind, show, sql in (
            (
                "procedures",
                "PROCEDURE",
                "SELECT routine_name FROM information_schema.routines WHERE routine_schema = DATABASE() AND routine_type = 'PROCEDURE'",
            ),
            (
                "functions",
                "FUNCTION",
                "SELECT routine_name FROM information_schema.routines WHERE routine_schema = DATABASE() AND routine_type = 'FUNCTION'",
            ),
            (
                "triggers",
                "TRIGGER",
                "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()",
            ),
            (
                "events",
                "EVENT",
                "SELECT event_name FROM information_schema.events WHERE event_schema = DATABASE()",
            ),
        ):
            read.execute(sql)
            names = [row[0] for row in read.fetchall()]
            for name in names:
                read.execute(f"SHOW CREATE {show} {_quoted(name)}")
                row = read.fetchone()
                definition = row[2] if show in ("PROCEDURE", "FUNCTION", "TRIGGER") else row[3]
                if definition is None:
                    raise DeploycheckError(
                        f"cannot copy {show.lower()} `{name}`: the migrate user cannot see its definition"
                    )
                write.execute(_confined(guard, definition, f"{show.lower()} `{name}`"))
            copied[kind] = len(names)
        copy.commit()
    return copied


def _copy_rows(read: Any, write: Any, table: str, limit: int | None) -> None:
    read.execute(f"SELECT * FROM {_quoted(table)}" + (f" LIMIT {int(limit)}" if limit else ""))
    rows = read.fetchall()
    if rows:
        marks = ", ".join(["%s"] * len(rows[0]))
        write.executemany(f"INSERT INTO {_quoted(table)} VALUES ({marks})", rows)


def _copy_views(read: Any, write: Any, views: list[str], guard: Guard) -> None:
    """Views in an order that works: one that reads another is created after it."""
    left = list(views)
    while left:
        failed = []
        for view in left:
            read.execute(f"SHOW CREATE VIEW {_quoted(view)}")
            definition = _confined(guard, read.fetchone()[1], f"view `{view}`")
            try:
                write.execute(definition)
            except pymysql.err.MySQLError:
                failed.append(view)
        if len(failed) == len(left):
            raise DeploycheckError(f"cannot copy the views {', '.join(failed)} to the scratch server")
        left = failed


def _confined(guard: Guard, definition: str, what: str) -> str:
    """`definition` as the guard lets it run on the scratch database (see the module docstring)."""
    try:
        allowed = guard.check(Statement(0, 1, definition))
    except ConfinementRefused as exc:
        raise DeploycheckError(
            f"cannot copy {what} to the scratch server: {exc.kind} in its definition; the scratch "
            "user may reach nothing outside the scratch database"
        ) from None
    return definition if allowed is None else allowed.text


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
