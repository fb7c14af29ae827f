"""The migration engine: lock, re-read the ledger under the lock, apply in order, record honestly.

Each migration starts from a fresh session (COM_RESET_CONNECTION), as it would when a deploy
script feeds each file to its own `mysql db < file` process: a SET of sql_mode, time_zone or
foreign_key_checks, a user variable or a temporary table does not leak into the next one.
Each migration runs inside one transaction together with its ledger row. If it
holds only transactional statements, a failure or a crash rolls everything
back, ledger row included. If a statement commits implicitly (DDL does on MySQL
and MariaDB), that commit also makes the ledger row "did not finish" durable
before the DDL runs; a failure then leaves a failed row that blocks every later
`migrate` until `repair`. Whether anything was committed is read from the
ledger after the rollback, not guessed from statement keywords.
"""

from __future__ import annotations

import functools
import getpass
import itertools
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pymysql
from pymysql.constants import COMMAND

from runner import __version__
from runner.db import connect, describe, is_connection_lost, server_error, without_values
from runner.errors import (
    LockTimeout,
    MigrationBlocked,
    MigrationFailed,
    MigrationFileError,
    TargetUnreachable,
    UsageError,
    VerifyBlockFailed,
)
from runner.migrations.all_or_nothing import changed_nothing
from runner.migrations.files import Migration, MigrationSet, discover, version_key
from runner.migrations.ledger import Ledger, execute_batch, make_ledger
from runner.migrations.placeholders import Placeholders
from runner.migrations.read_ahead import read_ahead
from runner.migrations.sqlsplit import Quoting, Statement, may_change_quoting
from runner.migrations.status import MigrationStatus, Row, State, compute_status, empty_status
from runner.profile.model import Profile


class Progress:
    """What the engine reports while it works; the CLI prints it, tests may record it."""

    def info(self, message: str) -> None:
        """A line worth telling the operator (what is about to change, what changed)."""

    def started(self, migration: Migration, index: int, total: int) -> None:
        """`migration` (number `index` of `total`) begins."""

    def statement(self, migration: Migration, statement: Statement, elapsed_s: float) -> None:
        """Called after each statement, for progress on long migrations."""

    def finished(self, migration: Migration, elapsed_s: float, statements: int) -> None:
        """`migration` was applied."""


@dataclass
class MigrateResult:
    applied: list[Migration] = field(default_factory=list)
    remaining: int = 0  # pending migrations left out by --to


# Statements that commit the open transaction before they run (the server's "implicit commit"
# list); CREATE/DROP TEMPORARY TABLE do not. Used only to save a commit, never to judge what
# a failed migration left behind: a wrong guess commits the "did not finish" row early, which
# errs on the side of asking for `repair`.
_COMMITS_IMPLICITLY = re.compile(r"\s*(?:CREATE|ALTER|DROP|RENAME|TRUNCATE)\s+(?!TEMPORARY\b)", re.IGNORECASE)


_NOT_ROLLED_BACK = 1196  # ER_WARNING_NOT_COMPLETE_ROLLBACK: non-transactional tables changed


@dataclass(frozen=True)
class _Applied:
    """A migration whose statements ran; `finish_sql` records it as applied (not yet committed)."""

    migration: Migration
    finish_sql: list[str]
    elapsed_s: float
    statements: int


@dataclass(frozen=True)
class DryRun:
    """What `migrate` would apply. Each migration starts from a fresh session, so its statements
    are split as the server reads quotes by default (`quoting`); a statement after one that
    changes sql_mode may split differently when it really runs (`may_change_quoting` tells)."""

    plan: list[Migration]
    migrations: MigrationSet
    quoting: Quoting

    def statements(self, migration: Migration) -> Iterator[Statement]:
        return self.migrations.statements(migration, lambda: self.quoting)


@dataclass(frozen=True)
class RepairAction:
    row: Row
    kind: str  # "delete" or "checksum"
    description: str


@functools.cache
def applied_by() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()} (deploycheck {__version__})"


class Migrator:
    """Migrations of one profile: status, migrate, repair, baseline."""

    def __init__(self, profile: Profile, progress: Progress | None = None) -> None:
        if profile.database is None or profile.migrations is None:
            missing = "database" if profile.database is None else "migrations"
            raise UsageError(f"{profile.path}: {missing}: section is required for migrations")
        self.profile = profile
        self.db = profile.database
        self.cfg = profile.migrations
        self.timeout_s = profile.timeouts.default_s
        self.progress = progress or Progress()
        self.ledger: Ledger = make_ledger(self.cfg.ledger, self.cfg.table, self.cfg.naming)
        self.lock_name = f"deploycheck:migrate:{self.db.name}"[:64]

    # -- reading -------------------------------------------------------------

    def files(self) -> MigrationSet:
        return discover(self.cfg.dir, self.cfg.naming, self.cfg.placeholders, self.cfg.placeholder_mode)

    def status(self, migrations: MigrationSet | None = None, conn: Any = None) -> MigrationStatus:
        """Read-only: never creates the ledger. `conn` reuses a connection (the checks' read-only one)."""
        migrations = migrations or self.files()
        own = conn is None
        conn = self._connect() if own else conn
        try:
            with conn.cursor() as cur:
                return self._read_status(cur, migrations)
        except pymysql.err.MySQLError as exc:
            raise self._server_failure(exc, "while reading the ledger") from None
        finally:
            if own:
                conn.close()

    def _read_status(
        self, cur: Any, migrations: MigrationSet, own_lock: int | None = None
    ) -> MigrationStatus:
        """`own_lock` is the connection through which this process holds the lock, if it does."""
        if not self.ledger.exists(cur):
            return empty_status(migrations)
        cur.execute("SELECT IS_USED_LOCK(%s)", (self.lock_name,))
        holder = cur.fetchone()[0]
        lock_held = holder is not None and holder != own_lock
        return compute_status(migrations, self.ledger.entries(cur), self.ledger, lock_held=lock_held)

    # -- migrate -------------------------------------------------------------

    def plan(self, status: MigrationStatus, to: str | None) -> list[Migration]:
        """Pending migrations up to `to`, or an error that says what blocks them."""
        if status.blockers:
            raise MigrationBlocked(_blocked_message(status.blockers))
        late = [row for row in status.rows if row.out_of_order]
        if late and not self.cfg.out_of_order:
            names = ", ".join(row.filename for row in late)
            raise MigrationBlocked(
                f"out-of-order migration(s) {names}: {late[0].detail}. Renumber them after the "
                "newest applied version, or set migrations.out_of_order: true to apply them anyway"
            )
        pending = status.pending
        if to is not None:
            limit = version_key(to)
            pending = [m for m in pending if m.key <= limit]
        return pending

    def dry_run(self, to: str | None = None) -> DryRun:
        """The plan and its statements as they would be sent, without writing anything."""
        migrations = self.files()
        if to is not None:
            migrations.find(to)
        conn = self._connect()
        try:
            status = self.status(migrations, conn)
            return DryRun(self.plan(status, to), migrations.shown(), quoting_of(conn)())
        finally:
            conn.close()

    def migrate(
        self, to: str | None = None, before: Callable[[list[Migration]], None] | None = None
    ) -> MigrateResult:
        """Apply pending migrations; `before(plan)` runs under the lock when there is something to apply
        (the CLI takes its backup there, so no other migrate can slip in between)."""
        migrations = self.files()
        if to is not None:
            to = migrations.find(to).version
        conn = self._connect(for_migrations=True)
        try:
            with self._locked() as own_lock, conn.cursor() as cur:
                if not self.ledger.exists(cur):
                    self.progress.info(
                        f"creating the ledger ({', '.join(self.ledger.tables())}) in {describe(self.db)}"
                    )
                self.ledger.ensure(cur)
                status = self._read_status(cur, migrations, own_lock)
                plan = self.plan(status, to)
                if plan and before is not None:
                    before(plan)
                result = MigrateResult(remaining=len(status.pending) - len(plan))
                fresh = quoting_of(conn)()  # how a new session reads quotes: what each migration starts from
                previous: _Applied | None = None
                for index, migration in enumerate(plan, 1):
                    previous = self._apply(cur, migrations, migration, index, len(plan), previous, fresh)
                    result.applied.append(migration)
                if previous is not None:
                    self._finish(cur, previous)
                return result
        except pymysql.err.MySQLError as exc:
            raise self._server_failure(exc, "while reading or creating the ledger") from None
        finally:
            conn.close()

    def _apply(
        self,
        cur: Any,
        migrations: MigrationSet,
        migration: Migration,
        index: int,
        total: int,
        previous: _Applied | None,
        fresh: Quoting,
    ) -> _Applied:
        """Run `migration` in a fresh session and one transaction. Returns what records it as
        applied, which commits with the next migration's start (or alone after the last)."""
        key = self.ledger.key_of(migration)
        conn = cur.connection
        quoting = _fresh_then_live(fresh, quoting_of(conn))
        with _statements(migrations, migration, quoting) as (first, statements):
            start = self.ledger.start_sql(cur, migration, applied_by())
            ddl_first = first is not None and bool(_COMMITS_IMPLICITLY.match(first.text))
            # Commit the previous migration's "applied" row (and, when this one starts with DDL,
            # which would commit its "did not finish" row the moment it runs, that row too: one
            # commit), reset the session, set it up: three requests, one round trip.
            commit = [*(previous.finish_sql if previous else []), *(start if ddl_first else [])]
            try:
                fresh_session(
                    conn,
                    [*commit, "COMMIT"] if commit else [],
                    self.db.name,
                    [*self._session_setup(conn), *([] if ddl_first else start)],
                )
            except pymysql.err.MySQLError as exc:
                raise self._server_failure(
                    exc, f"while starting {migration.filename} in a fresh session"
                ) from None
            if previous is not None:
                self.progress.finished(previous.migration, previous.elapsed_s, previous.statements)
            self.progress.started(migration, index, total)
            started = time.monotonic()
            statement: Statement | None = None
            count = 0
            partway = False  # the failure came after part of `statement` (a DELIMITER batch) ran
            try:
                for statement in itertools.chain([first] if first else [], statements):
                    self._execute(cur, statement)
                    partway = True
                    while cur.nextset():
                        pass
                    partway = False
                    count += 1
                    self.progress.statement(migration, statement, time.monotonic() - started)
                failure = failed_verify_query(cur, migrations.verify_statements(migration, quoting_of(conn)))
                if failure is not None:
                    statement = failure.statement
                    raise failure
            except (pymysql.err.MySQLError, MigrationFileError, VerifyBlockFailed) as exc:
                if isinstance(exc, pymysql.err.MySQLError) and is_connection_lost(exc):
                    raise self._lost(exc, _where(migration, statement)) from None
                self._record_failure(cur, migration, key, statement, exc, started, count, partway)
        return _Applied(
            migration, self.ledger.finish_sql(cur, key, _ms(started)), time.monotonic() - started, count
        )

    def _execute(self, cur: Any, statement: Statement) -> None:
        """Send one statement of a migration (the rehearsal also learns how an ALTER ran)."""
        cur.execute(statement.text)

    def _finish(self, cur: Any, done: _Applied) -> None:
        """Record the last migration as applied (the others ride with the next one's start)."""
        try:
            execute_batch(cur, [*done.finish_sql, "COMMIT"])
        except pymysql.err.MySQLError as exc:
            raise self._server_failure(exc, f"while recording {done.migration.filename} as applied") from None
        self.progress.finished(done.migration, done.elapsed_s, done.statements)

    @staticmethod
    def _session_setup(conn: Any) -> list[str]:
        """After a reset: autocommit off (the statements and the "applied" row commit together);
        MySQL also resets the character set to the server's default, MariaDB keeps the handshake's."""
        setup = ["SET autocommit = 0"]
        if "mariadb" not in conn.get_server_info().lower():
            setup.insert(0, "SET NAMES utf8mb4")
        return setup

    def _record_failure(
        self,
        cur: Any,
        migration: Migration,
        key: str,
        statement: Statement | None,
        exc: Exception,
        started: float,
        ran: int,
        partway: bool,
    ) -> None:
        """Roll back, then say what stayed: nothing, when the server guarantees it (the ledger row
        was not committed and nothing escaped the rollback, or the first statement failed in a way
        that changed nothing); otherwise the migration is recorded as failed until `repair`."""
        verify = isinstance(exc, VerifyBlockFailed)
        # the server quotes the statement (placeholders' values) and rows (`Duplicate entry '...'`):
        # neither reaches the terminal, CI's log or the ledger; file, statement and line say where
        error = without_values(server_error(exc)) if isinstance(exc, pymysql.err.MySQLError) else str(exc)
        error = Placeholders(self.cfg.placeholders).mask(error)
        where = f"{migration.filename}: its verify block" if verify else _where(migration, statement)
        number = statement.number if statement and not verify else None
        line = statement.line if statement else None
        try:
            cur.execute("ROLLBACK")
            cur.execute("SHOW WARNINGS")
            kept = any(row[1] == _NOT_ROLLED_BACK for row in cur.fetchall())
            committed = any(e.key == key for e in self.ledger.entries(cur))
            if not kept and (not committed or (not ran and not partway and _changed_nothing(statement, exc))):
                if committed:  # only the "did not finish" row (committed before the DDL that failed)
                    execute_batch(cur, [*self.ledger.forget_sql(cur, key), "COMMIT"])
                nothing = (
                    "its first statement failed, so none of it ran"
                    if not ran and not partway
                    else "it was rolled back as a whole"
                )
                raise MigrationFailed(
                    f"{where} failed: {error}\nNothing of {migration.filename} was applied: {nothing}. "
                    "Fix the file and run `deploycheck migrate` again.",
                    statement=number,
                    line=line,
                    error=error,
                )
            record = [] if committed else self.ledger.start_sql(cur, migration, applied_by())
            record += self.ledger.fail_sql(cur, key, number, line, error, _ms(started))
            execute_batch(cur, [*record, "COMMIT"])
        except pymysql.err.MySQLError as lost:
            raise self._lost(lost, _where(migration, statement)) from None
        raise MigrationFailed(
            f"{where} failed: {error}\n{migration.filename} {'was' if ran else 'may have been'} partly "
            f"applied: {_what_stayed(statement, ran, partway, kept)}. It is recorded as failed and "
            "`deploycheck migrate` refuses to go on. Bring the schema to a consistent state by hand "
            "(undo the partial change, or finish it), fix the file, then run `deploycheck repair`.",
            statement=number,
            line=line,
            error=error,
        )

    def _server_failure(self, exc: pymysql.err.MySQLError, where: str) -> Exception:
        if is_connection_lost(exc):
            return self._lost(exc, where)
        return MigrationFailed(
            f"{describe(self.db)} refused a query {where}: {without_values(server_error(exc))}"
        )

    def _lost(self, exc: pymysql.err.MySQLError, where: str) -> TargetUnreachable:
        return TargetUnreachable(
            f"lost the connection to {describe(self.db)} {where}: {without_values(server_error(exc))}\n"
            "A migration that was running is recorded as not finished (or was rolled back). "
            "When the server is back, run `deploycheck status` to see what happened."
        )

    # -- repair and baseline -------------------------------------------------

    def repair_plan(self, forget_missing: bool = False) -> list[RepairAction]:
        status = self.status()
        actions = []
        for row in status.rows:
            if row.state == State.FAILED:
                actions.append(
                    RepairAction(
                        row,
                        "delete",
                        f"delete the failed record of "
                        f"{row.filename} ({row.detail}); the next migrate runs it again",
                    )
                )
            elif row.state == State.CHECKSUM_MISMATCH:
                actions.append(
                    RepairAction(row, "checksum", f"accept the changed {row.filename}: {row.detail}")
                )
            elif row.state == State.APPLIED and row.entry and not row.entry.checksum:
                actions.append(
                    RepairAction(
                        row,
                        "checksum",
                        f"record the checksum of {row.filename} (applied before deploycheck kept checksums)",
                    )
                )
            elif row.state == State.MISSING_FILE and forget_missing:
                actions.append(RepairAction(row, "delete", f"forget {row.filename}: {row.detail}"))
        return actions

    def repair(self, actions: list[RepairAction]) -> None:
        conn = self._connect()
        try:
            with self._locked(), conn.cursor() as cur:
                for action in actions:
                    key = action.row.entry.key if action.row.entry else action.row.filename
                    if action.kind == "delete":
                        execute_batch(cur, self.ledger.forget_sql(cur, key))
                    else:
                        assert action.row.migration is not None
                        execute_batch(
                            cur, self.ledger.set_checksum_sql(cur, key, action.row.migration.checksum)
                        )
                    self.progress.info(f"repaired: {action.description}")
        finally:
            conn.close()

    def baseline(self, version: str) -> list[Migration]:
        """Record every migration up to `version` as applied without running it."""
        migrations = self.files()
        limit = migrations.find(version).key
        conn = self._connect()
        try:
            with self._locked(), conn.cursor() as cur:
                self.ledger.ensure(cur)
                recorded = {e.key for e in self.ledger.entries(cur)}
                chosen = [
                    m
                    for m in migrations.migrations
                    if m.key <= limit and self.ledger.key_of(m) not in recorded
                ]
                for migration in chosen:
                    execute_batch(cur, self.ledger.baseline_sql(cur, migration, applied_by() + " baseline"))
                    self.progress.info(f"baseline: recorded {migration.filename} as applied (not run)")
                return chosen
        finally:
            conn.close()

    # -- plumbing ------------------------------------------------------------

    def _connect(self, *, for_migrations: bool = False) -> Any:
        """Connect; reads time out after the profile's timeout, except where a migration's DDL
        may legitimately run for hours (a dead server still fails at once: the socket closes).
        Migrations run with autocommit off: what follows a DDL statement's implicit commit
        commits together with the "applied" row, and the server does one commit per migration
        instead of one per statement."""
        return connect(
            self.db,
            self.timeout_s,
            read_timeout_s=None if for_migrations else self.timeout_s,
            multi_statements=True,
            autocommit=not for_migrations,
        )

    @contextmanager
    def _locked(self) -> Iterator[int]:
        """GET_LOCK on a dedicated connection: released by the server if this process dies."""
        conn = connect(self.db, self.timeout_s, read_timeout_s=self.cfg.lock_timeout_s + self.timeout_s)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT GET_LOCK(%s, %s)", (self.lock_name, self.cfg.lock_timeout_s))
                if cur.fetchone()[0] != 1:
                    cur.execute("SELECT IS_USED_LOCK(%s)", (self.lock_name,))
                    holder = cur.fetchone()[0]
                    raise LockTimeout(
                        f"another deploycheck (server connection {holder}) has held the migration "
                        f"lock of {describe(self.db)} for more than {self.cfg.lock_timeout_s:g} s; "
                        "wait for it to finish, or raise migrations.lock_timeout_s"
                    )
            yield conn.thread_id()
        except pymysql.err.MySQLError as exc:
            raise self._lost(exc, "while holding the migration lock") from None
        finally:
            conn.close()


# pymysql has no call for it; the command (0x1f) is answered by an OK packet like any other.
_COM_RESET_CONNECTION = 0x1F


def fresh_session(conn: Any, before: list[str], database: str, setup: list[str]) -> None:
    """`before` (statements of the old session), COM_RESET_CONNECTION, COM_INIT_DB `database`,
    then `setup` (statements of the new one), written back to back and their answers read in
    order: one round trip.

    The reset starts the session over (sql_mode, time_zone, user variables, temporary tables,
    prepared statements, named locks) without a new connection; the status flags of its OK
    packet tell `quoting_of` the server's default sql_mode. The reset also sets
    character_set_database to the server's default while the database stays selected, so a
    routine's or column's default character set would be the server's, not the database's:
    selecting the database again (as `mysql db` does when it connects) sets it back. pymysql
    sends one request at a time, so the pipelining uses its packet layer: each request's answer
    starts a new packet sequence. If a request fails, the error is raised and the connection
    must not be reused (migrate closes it)."""
    requests = [*([(COMMAND.COM_QUERY, ";\n".join(before))] if before else []), (_COM_RESET_CONNECTION, "")]
    requests += [(COMMAND.COM_INIT_DB, database), (COMMAND.COM_QUERY, ";\n".join(setup))]
    for command, payload in requests:
        conn._execute_command(command, payload)
    for command, _ in requests:
        conn._next_seq_id = 1
        if command in (_COM_RESET_CONNECTION, COMMAND.COM_INIT_DB):
            conn._read_ok_packet()
            continue
        conn._read_query_result()
        while conn._result.has_next:
            conn.next_result()


def quoting_of(conn: Any) -> Callable[[], Quoting]:
    """How the server on `conn` reads quotes now (its sql_mode, from the last reply's status
    flags), asked anew before each statement is split, as the mysql client does."""
    return lambda: Quoting.from_server_status(conn.server_status)


def _fresh_then_live(fresh: Quoting, live: Callable[[], Quoting]) -> Callable[[], Quoting]:
    """The splitter's view of quoting for a migration that is split before its session is reset:
    the first statement is read as a fresh session reads it, every later one as the server
    reports after the statement before it ran."""
    asked = False

    def quoting() -> Quoting:
        nonlocal asked
        if not asked:
            asked = True
            return fresh
        return live()

    return quoting


def failed_verify_query(cur: Any, checks: Iterable[Statement]) -> VerifyBlockFailed | None:
    """Run a verify block's queries; the first whose first column is not true, as an error."""
    for check in checks:
        cur.execute(check.text)
        row = cur.fetchone()
        while cur.nextset():
            pass
        if not row or not row[0]:
            return VerifyBlockFailed(check, None if not row else row[0])
    return None


@contextmanager
def _statements(
    migrations: MigrationSet, migration: Migration, quoting: Callable[[], Quoting]
) -> Iterator[tuple[Statement | None, Iterator[Statement]]]:
    """The first statement (it decides how the ledger row commits) and the rest. A file too
    large to keep in memory is split on a second thread, ahead of the server, except past a
    statement that may change sql_mode: what follows it is split once the server ran it. A
    file error in the first statement surfaces where the statements are run, so that it is
    recorded as the migration's failure."""
    statements = migrations.statements(migration, quoting)
    if migration.content is None:
        # past the first statement, the splitter follows the server, whose session is reset only
        # after the first statement was read: wait there, and after any that may change sql_mode
        statements = read_ahead(statements, pause_after=lambda s: s.number == 1 or may_change_quoting(s))
    try:
        first = next(statements, None)
    except MigrationFileError as exc:
        yield None, _raise(exc)
        return
    try:
        yield first, statements
    finally:
        statements.close()  # stops the read-ahead thread when a statement failed


def _raise(exc: Exception) -> Iterator[Statement]:
    raise exc
    yield  # a generator: raises when iterated, where the statements would have been


def _changed_nothing(statement: Statement | None, exc: Exception) -> bool:
    """Whether the failed first statement is certain to have changed nothing: it was never sent
    (a file error), or the server guarantees it (see `all_or_nothing`)."""
    if isinstance(exc, MigrationFileError):
        return True
    if statement is None or not isinstance(exc, pymysql.err.MySQLError):
        return False
    return changed_nothing(statement, exc.args[0] if exc.args else None)


def _what_stayed(statement: Statement | None, ran: int, partway: bool, kept: bool) -> str:
    if kept:
        return (
            "it changed tables that a rollback cannot undo (a non-transactional engine such as "
            "MyISAM), so what ran stays"
        )
    if ran:
        return (
            f"{ran} statement(s) ran before the failure and it holds statements that MySQL commits "
            "implicitly (DDL), so what ran stays"
        )
    number = statement.number if statement else 1
    if partway:
        return (
            f"part of statement {number} ran before the failure (a DELIMITER batch runs its statements "
            "one by one, a CALL its procedure's)"
        )
    return (
        f"statement {number} is not one that the server runs all or nothing (such as a DROP or RENAME "
        "of several tables, or a statement that commits implicitly), so it may have changed part of "
        "what it names before it failed"
    )


def _where(migration: Migration, statement: Statement | None) -> str:
    if statement is None:
        return f"{migration.filename}"
    return f"{migration.filename} statement {statement.number} (line {statement.line})"


def _blocked_message(rows: list[Row]) -> str:
    lines = [f"  {row.filename}: {row.state}: {row.detail}" for row in rows]
    states = {row.state for row in rows}
    advice = []
    if State.RUNNING in states:
        advice.append("wait for the migration that is running to finish")
    if states & {State.FAILED, State.CHECKSUM_MISMATCH}:
        advice.append("check the schema by hand, then run `deploycheck repair`")
    if State.MISSING_FILE in states:
        advice.append(
            "restore the missing files, check migrations.dir, or run `deploycheck repair --forget-missing`"
        )
    return "refusing to migrate:\n" + "\n".join(lines) + "\n" + "; ".join(advice)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
