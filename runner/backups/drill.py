"""The restore drill: a backup restored into a scratch database, as the mysql client would
run it, then proven to be the database the application needs.

The dump is streamed once from its source (a folder, or `cat` over SSH): inflated on one
thread, split into statements on another (the migrations' client-exact splitter, which takes
a run of row lines whole where the client would read them as plain text, so the server
receives what `gunzip -c dump | mariadb db` would send) and read there by the
confinement guard (migrations/guard.py: nothing reaches beyond the scratch database, names
qualified with the target's database name land in it) while the scratch server runs the
statement before,
while the same bytes feed the dump scan for the exact row counts to compare with. Nothing is
copied to disk or held whole in memory. The scratch database is dropped afterwards, also on
failure and Ctrl-C, unless the caller keeps it for a person to look at.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import pymysql

from runner.backups import gzip_stream
from runner.backups.dump_scan import SANDBOX_LINE, Scanner
from runner.backups.integrity import BackupCheck
from runner.backups.source import LocalSource, SshSource
from runner.db import Scratch, server_error, without_values
from runner.errors import ConfinementRefused, GzipProblem, MigrationError, MigrationFileError
from runner.migrations.engine import Migrator, quoting_of
from runner.migrations.guard import Guard, guarded, kind_of
from runner.migrations.read_ahead import read_ahead
from runner.migrations.rehearsal import Rehearsed, apply_pending, timing_note
from runner.migrations.sqlsplit import Splitter, Statement, may_change_quoting
from runner.migrations.status import State
from runner.profile.model import Profile


@dataclass(frozen=True)
class Finding:
    kind: str  # restore | confinement | integrity | rows | required-table | check-table | query | budget | ledger | flavor
    message: str
    blocking: bool = True  # false: said for the reader (what a restore would mean), not a failure


@dataclass
class DrillResult:
    backup: str
    scratch: str  # where it was restored, in words
    database: str  # the scratch database (gone unless kept)
    restore_s: float = 0.0
    tables: dict[str, int] = field(default_factory=dict)  # restored rows per table
    findings: list[Finding] = field(default_factory=list)
    kept: bool = False
    rehearsal: list[Rehearsed] | None = None  # the pending migrations run on the copy (--rehearse)
    not_rehearsed: list[str] = field(default_factory=list)  # pending migrations after a failure
    rehearsal_refused: str = ""  # why migrate would apply nothing to the copy (its ledger blocks it)
    timing: str = ""  # what the rehearsal's times mean, naming the server they were measured on

    @property
    def ok(self) -> bool:
        """The restore is proven (the rehearsal is judged apart: `rehearsal_ok`)."""
        return not any(f.blocking for f in self.findings)

    @property
    def rehearsal_ok(self) -> bool:
        return not self.rehearsal_refused and all(m.ok for m in self.rehearsal or [])

    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    def notes(self) -> list[Finding]:
        return [f for f in self.findings if not f.blocking]

    def to_dict(self) -> dict[str, Any]:
        rehearsed = {}
        if self.rehearsal is not None:
            rehearsed = {
                "rehearsal": [
                    {
                        "migration": m.filename,
                        "ok": m.ok,
                        "duration_s": round(m.seconds, 3),
                        "statement": m.statement,
                        "line": m.line,
                        "error": m.reason or None,
                        "altered": {a.table: self.tables.get(a.table) for a in m.altered},
                        "alters": [
                            {"table": a.table, "rows": self.tables.get(a.table), "algorithm": a.algorithm}
                            for a in m.altered
                        ],
                    }
                    for m in self.rehearsal
                ],
                "rehearsal_not_run": self.not_rehearsed,
                "rehearsal_refused": self.rehearsal_refused or None,
                "rehearsal_timing": self.timing,
            }
        return {
            "ok": self.ok and self.rehearsal_ok,
            "backup": self.backup,
            "scratch": self.scratch,
            "database": self.database if self.kept else None,
            "restore_s": round(self.restore_s, 3),
            "tables": self.tables,
            "findings": [
                {"kind": f.kind, "message": f.message, "blocking": f.blocking} for f in self.findings
            ],
            **rehearsed,
        }


def drill(
    profile: Profile,
    source: LocalSource | SshSource,
    name: str,
    scratch: Scratch,
    *,
    keep: bool = False,
    rehearse: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> DrillResult:
    """Restore backup `name` of `source` into a new scratch database and judge what came back;
    with `rehearse`, then apply there what `deploycheck migrate` would apply to it."""
    assert profile.backups is not None
    assert not rehearse or (profile.migrations is not None and profile.database is not None)
    timeout_s = profile.timeouts.default_s
    database = scratch.create("drill", timeout_s)
    result = DrillResult(name, scratch.label, database)
    interrupted = False
    try:
        conn = scratch.connect(database, timeout_s, multi_statements=True)
        try:
            say(f"restoring {name} into {database} on {scratch.label} ...")
            check = BackupCheck(name)
            with source.open(name) as handle:
                own = profile.database.name if profile.database else None  # what the dump calls itself
                restored = _restore(handle, check, conn, name, result, Guard(database, own))
            if restored:
                _judge(profile, conn, check, result)
            _flavor_note(conn, check, result)
            if rehearse and restored and result.ok:
                say(f"rehearsing the pending migrations on the restored copy {database} ...")
                _rehearse(profile, scratch, database, conn, result)
            elif rehearse:
                result.rehearsal = []
                result.rehearsal_refused = "not rehearsed: the restore was not proven (above)"
        finally:
            conn.close()
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if keep:
            result.kept = True
        else:
            scratch.drop(database, timeout_s, interrupted=interrupted)
    return result


def _restore(
    handle: IO[bytes], check: BackupCheck, conn: Any, name: str, result: DrillResult, guard: Guard
) -> bool:
    """Run the dump's statements; False (with the finding) when the restore stopped."""
    scanner = Scanner(check.dump)
    # split and guarded on the read-ahead thread while the server runs the statement before
    statements = read_ahead(
        guarded(Splitter(name, quoting_of(conn)).split_pieces(_pieces(handle, check, scanner)), guard, name),
        pause_after=may_change_quoting,
    )
    started = time.monotonic()
    statement: Statement | None = None
    try:
        with conn.cursor() as cur:
            for statement in statements:
                # the bytes of the dump as they were: binary columns are not UTF-8 (see split_pieces)
                cur.execute(statement.text.encode("utf-8", "surrogateescape"))
                while cur.nextset():
                    pass
    except ConfinementRefused as exc:
        hint = (
            ": a dump of one database is expected (made without --databases or --all-databases)"
            if exc.kind.startswith("a database-level")
            else ""
        )
        result.findings.append(Finding("confinement", f"{exc}{hint}"))
        return False
    except GzipProblem as exc:
        result.findings.append(
            Finding("integrity", f"{name}: {exc.reason} ({exc.detail}): the restore stopped")
        )
        return False
    except MigrationFileError as exc:
        result.findings.append(
            Finding("restore", f"the dump cannot be run as the client would run it: {exc}")
        )
        return False
    except pymysql.err.MySQLError as exc:
        where = (
            f"statement {statement.number} (dump line {statement.line}, {kind_of(statement)})"
            if statement
            else "the first statement"
        )
        result.findings.append(
            Finding("restore", f"the restore failed at {where}: {without_values(server_error(exc))}")
        )
        return False
    finally:
        result.restore_s = time.monotonic() - started
        statements.close()  # the read-ahead thread has stopped: the guard's notes are all there
        result.findings += [Finding("confinement", note, blocking=False) for note in guard.notes]
    scanner.finish()
    if scanner.stopped:
        result.findings.append(
            Finding("integrity", f"{name}: the inflated data is itself gzip (compressed twice)")
        )
        return False
    return True


def _pieces(handle: IO[bytes], check: BackupCheck, scanner: Scanner) -> Iterator[bytes]:
    """The dump's bytes as they inflate, while the same bytes feed the scan. The MariaDB sandbox
    line is a client command: blanked (its line end kept), as the mariadb client skips it."""
    head: bytes | None = b""  # the first line, until its end has come
    for piece in gzip_stream.pieces(handle, check.stream):
        scanner.feed(piece)
        if head is not None:
            head += piece
            end = head.find(b"\n")
            if end == -1:
                continue
            piece = head[end:] if head.startswith(SANDBOX_LINE) else head
            head = None
        yield piece
    if head:  # a dump of one line, without its end
        yield b"" if head.startswith(SANDBOX_LINE) else head


def _judge(profile: Profile, conn: Any, check: BackupCheck, result: DrillResult) -> None:
    cfg = profile.backups
    assert cfg is not None
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = DATABASE()"
            " ORDER BY table_name"
        )
        objects = {name: kind for name, kind in cur.fetchall()}
        tables = [name for name, kind in objects.items() if kind == "BASE TABLE"]
        for table in tables:
            cur.execute(f"SELECT COUNT(*) FROM `{table.replace('`', '``')}`")
            result.tables[table] = cur.fetchone()[0]
        for table, facts in sorted(check.dump.real_tables.items()):
            if table not in result.tables:
                result.findings.append(
                    Finding("rows", f"table `{table}` is in the dump but was not restored")
                )
            elif result.tables[table] != facts.rows:
                result.findings.append(
                    Finding(
                        "rows",
                        f"table `{table}`: {result.tables[table]:,} rows restored, the dump holds "
                        f"{facts.rows:,} (backups preview)",
                    )
                )
        for table in cfg.required_tables:
            if table not in objects:
                result.findings.append(
                    Finding("required-table", f"required table `{table}` is not in the restored copy")
                )
        for table in objects:
            # QUICK: every index's records are counted against the table's (a row an index lost)
            # and a view's tables and columns resolved; what it leaves out, the page-by-page
            # B-tree validation, checks how the scratch server wrote its own pages, not the
            # backup, and took five times as long (2.5 s against 0.5 s per 250 MB table)
            cur.execute(f"CHECK TABLE `{table.replace('`', '``')}` QUICK")
            for _, _, kind, text in cur.fetchall():
                if kind.lower() == "error" or (kind.lower() == "status" and text.lower() not in _CHECK_OK):
                    result.findings.append(Finding("check-table", f"CHECK TABLE `{table}`: {kind}: {text}"))
        for query in cfg.drill.queries if cfg.drill else []:
            try:
                cur.execute(query)
                row = cur.fetchone()
                while cur.nextset():
                    pass
            except pymysql.err.MySQLError as exc:
                result.findings.append(
                    Finding("query", f"drill query failed: {without_values(server_error(exc))}: {query}")
                )
                continue
            if not row or not row[0]:
                value = None if not row else row[0]
                result.findings.append(
                    Finding("query", f"drill query returned {value!r}, expected a true first column: {query}")
                )
    if cfg.drill and cfg.drill.budget_min and result.restore_s > cfg.drill.budget_min * 60:
        result.findings.append(
            Finding(
                "budget",
                f"the restore took {_took(result.restore_s)}, more than backups.drill.budget_min "
                f"{cfg.drill.budget_min:g} min (the recovery time objective)",
            )
        )
    note = _ledger_note(profile, conn)
    if note:
        result.findings.append(Finding("ledger", note, blocking=False))


_CHECK_OK = ("ok", "table is already up to date")


def _rehearse(profile: Profile, scratch: Scratch, database: str, conn: Any, result: DrillResult) -> None:
    """What `deploycheck migrate` would apply to the restored copy, judged by the copy's own
    ledger, applied there by the engine under the confinement guard."""
    migrator = Migrator(profile)
    try:
        plan = migrator.plan(migrator.status(conn=conn), None)
    except MigrationError as exc:
        result.rehearsal = []
        result.rehearsal_refused = (
            f"`deploycheck migrate` would apply nothing to this copy: {without_values(str(exc))}"
        )
        return
    assert profile.database is not None
    guard = Guard(database, profile.database.name)
    result.rehearsal, result.not_rehearsed = apply_pending(profile, scratch, database, guard, plan)
    result.findings += [Finding("confinement", note, blocking=False) for note in guard.notes]
    result.timing = timing_note(f"{scratch.label} ({conn.get_server_info()})", result.rehearsal)


def _ledger_note(profile: Profile, conn: Any) -> str:
    """What restoring this backup would mean for the schema: the migration it is at, and what
    `deploycheck migrate` would then apply."""
    if profile.migrations is None or profile.database is None:
        return ""
    migrator = Migrator(profile)
    try:
        status = migrator.status(conn=conn)
    except MigrationFileError as exc:
        return f"the restored ledger was not compared with the migrations: {exc}"
    if not status.ledger_exists:
        total = len(status.rows)
        return (
            f"the backup holds no migration ledger ({', '.join(migrator.ledger.tables())}): after a restore "
            f"all {total} migration(s) on disk would look pending"
        )
    applied = status.with_state(State.APPLIED)
    pending = status.with_state(State.PENDING)
    at = (
        f"the backup is at migration {applied[-1].filename}"
        if applied
        else "the backup has no applied migration"
    )
    if not pending:
        text = f"{at}, the newest on disk: a restore needs no migration"
    else:
        names = ", ".join(row.filename for row in pending[:10]) + (" ..." if len(pending) > 10 else "")
        text = f"{at}; restoring it would leave {len(pending)} migration(s) pending ({names}): run `deploycheck migrate` after a restore"
    odd = [row for row in status.rows if row.state not in (State.APPLIED, State.PENDING)]
    if odd:
        text += "; the restored ledger also has " + ", ".join(f"{row.filename} {row.state}" for row in odd)
    return text


def _flavor_note(conn: Any, check: BackupCheck, result: DrillResult) -> None:
    dump = check.dump.header
    server = "MariaDB" if "mariadb" in conn.get_server_info().lower() else "MySQL"
    if check.dump.sandbox_line and server == "MySQL":
        # the drill skips the line as the mariadb client does; the mysql client stops at it
        result.findings.append(
            Finding(
                "restore",
                "the dump starts with MariaDB's sandbox line, which the mysql client refuses: a restore "
                "on this MySQL server with `mysql db < dump` stops at line 1 (strip the first line)",
            )
        )
    if dump and dump != server:
        result.findings.append(
            Finding(
                "flavor",
                f"the dump was made by {dump} {check.dump.server_version or ''} tools and the scratch server is "
                f"{server} {conn.get_server_info()}: a failure may come from that difference; give `scratch:` "
                "a server of the production flavor and version",
                blocking=False,
            )
        )


def _took(seconds: float) -> str:
    """`0.4 s`, `12.0 s`, `3.5 min`: a sub-minute restore said in minutes reads as 0.0."""
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"
