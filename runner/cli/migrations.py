"""The migration commands: migrate, status, repair, baseline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from runner.db import describe
from runner.errors import MigrationBlocked, UsageError
from runner.migrations.engine import DryRun, Migrator, Progress
from runner.migrations.files import Migration, MigrationSet, discover, with_next
from runner.migrations.sqlsplit import Statement, may_change_quoting
from runner.migrations.status import MigrationStatus, State
from runner.profile.loader import load_profile
from runner.profile.model import Profile

if TYPE_CHECKING:
    from runner.migrations.lint import Finding
    from runner.migrations.rehearsal import Rehearsed


class ConsoleProgress(Progress):
    """Progress on stderr: which migration, how long; a heartbeat every 5 s on long ones."""

    def __init__(self, stream: TextIO, quiet: bool = False, heartbeat_s: float = 5.0) -> None:
        self.stream = stream
        self.quiet = quiet
        self.heartbeat_s = heartbeat_s
        self._next_beat = heartbeat_s

    def _say(self, text: str, end: str = "\n") -> None:
        if not self.quiet:
            print(text, end=end, file=self.stream, flush=True)

    def info(self, message: str) -> None:
        self._say(message)

    def started(self, migration: Migration, index: int, total: int) -> None:
        self._next_beat = self.heartbeat_s
        self._say(f"[{index}/{total}] applying {migration.filename} ...")

    def statement(self, migration: Migration, statement: Statement, elapsed_s: float) -> None:
        if elapsed_s >= self._next_beat:
            self._next_beat = elapsed_s + self.heartbeat_s
            self._say(
                f"      {migration.filename}: statement {statement.number} (line {statement.line}),"
                f" {elapsed_s:.0f} s"
            )

    def finished(self, migration: Migration, elapsed_s: float, statements: int) -> None:
        self._say(f"      done in {elapsed_s:.2f} s ({statements} statement{'' if statements == 1 else 's'})")


def cmd_migrate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    profile = load_profile(args.profile)
    progress = ConsoleProgress(err, quiet=args.quiet)
    migrator = Migrator(profile, progress)
    if args.dry_run:
        return _print_dry_run(migrator.dry_run(args.to), out)
    if args.rehearse or (profile.migrations is not None and profile.migrations.rehearse):
        passed = _rehearse(profile, progress, out)
        if args.rehearse:
            return 0 if passed else 1
        if not passed:
            raise MigrationBlocked(
                "the rehearsal on the scratch server failed (above): nothing was applied to "
                f"{_target(migrator)}; fix the migration, or the drift it met, and run migrate again"
            )
    progress.info(f"migrate: applying pending migrations to {_target(migrator)}")

    def backup_first(plan: list[Migration]) -> None:
        if args.no_backup:
            return
        if profile.backups is None:
            progress.info("no backups section in the profile: migrating without taking a backup first")
            return
        from runner.backups.dump import take_backup  # only migrate with backups needs the dump machinery

        progress.info(f"taking a backup into {profile.backups.source} first (--no-backup skips it) ...")
        progress.info(f"backup written: {take_backup(profile, on_wait=progress.info)}")

    result = migrator.migrate(args.to, before=backup_first)
    if not result.applied:
        progress.info("nothing to apply: the database is up to date")
    else:
        progress.info(f"applied {len(result.applied)} migration(s)")
    if result.remaining:
        progress.info(f"{result.remaining} migration(s) still pending (after --to {args.to})")
    return 0


def _rehearse(profile: Profile, progress: ConsoleProgress, out: TextIO) -> bool:
    """Run the pending migrations on a scratch copy of the target's schema; print the outcome."""
    from runner.migrations.rehearsal import rehearse
    from runner.sandbox.scratch import open_scratch

    progress.info("rehearse: copying the target's schema to the scratch server (the target is only read) ...")
    with open_scratch(profile, progress.info) as scratch:
        rehearsal = rehearse(profile, scratch)
    if not rehearsal.migrations:
        print("rehearse: nothing pending", file=out)
        return True
    copied = ", ".join(f"{n} {kind}" for kind, n in rehearsal.copied.items() if n)
    print(f"rehearse: on {rehearsal.scratch}, a copy of {copied} and the ledger:", file=out)
    print_rehearsed(rehearsal.migrations, rehearsal.not_run, out)
    for note in rehearsal.notes:
        print(f"  note: {note}", file=out)
    print("rehearse: passed" if rehearsal.ok else "rehearse: FAILED", file=out, flush=True)
    return rehearsal.ok


def print_rehearsed(
    rehearsed: list[Rehearsed], not_run: list[str], out: TextIO, rows: dict[str, int] | None = None
) -> None:
    """Each migration applied (its time, each ALTER TABLE's algorithm) or failed, then those not
    run after a failure; with `rows` (rows per table on the copy), the rows each ALTER changed."""
    for done in rehearsed:
        altered = "".join(f", {a.said(rows)}" for a in done.altered)
        if done.ok:
            print(f"  applied {done.filename} in {done.seconds:.2f} s{altered}", file=out)
        else:
            print(f"  FAILED  {done.filename}: {done.error} (after {done.seconds:.2f} s)", file=out)
    for name in not_run:
        print(f"  not run {name}", file=out)


def _print_dry_run(dry: DryRun, out: TextIO) -> int:
    from runner.migrations.lint import lint

    print(f"dry run: {len(dry.plan)} pending migration(s); nothing will be written", file=out)
    findings = lint(dry.migrations, dry.plan)
    for migration in dry.plan:
        print(f"\n-- {migration.filename} (a fresh session)", file=out)
        for statement in dry.statements(migration):
            print(f"-- statement {statement.number}, line {statement.line}", file=out)
            print(f"{statement.text};", file=out)
            if statement.problem:
                print(f"-- WARNING: {statement.problem}", file=out)
            if may_change_quoting(statement):
                print(
                    "-- (may change sql_mode: a dry run splits what follows as the server reads "
                    "quotes by default; migrate follows the change)",
                    file=out,
                )
        for finding in (f for f in findings if f.file == migration.filename):
            state = f"acknowledged: {finding.acknowledged}" if finding.acknowledged else finding.severity
            print(f"-- LINT line {finding.line}: {finding.rule} ({state}): {finding.message}", file=out)
    return 0


def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    profile = load_profile(args.profile)
    migrator = Migrator(profile)
    status = migrator.status()
    code = 0 if status.is_clean else 1
    if args.json:
        json.dump(
            {
                "profile": profile.name,
                "ledger": {
                    "kind": migrator.ledger.kind,
                    "tables": list(migrator.ledger.tables()),
                    "exists": status.ledger_exists,
                },
                "summary": status.counts(),
                "migrations": [row.to_dict() for row in status.rows],
                "exit_code": code,
            },
            out,
            indent=2,
        )
        print(file=out)
        return code
    print(f"profile {profile.name}: {_target(migrator)}", file=out)
    if not status.ledger_exists:
        print(f"no ledger table yet ({', '.join(migrator.ledger.tables())}): nothing applied", file=out)
    for row in status.rows:
        at = row.applied_at.strftime("%Y-%m-%d %H:%M UTC") if row.applied_at else ""
        print(f"  {row.state:<17} {row.filename:<48} {at}", file=out)
        if row.detail:
            print(f"  {'':<17} {row.detail}", file=out)
    print(_summary(status), file=out)
    return code


def cmd_repair(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    profile = load_profile(args.profile)
    migrator = Migrator(profile, ConsoleProgress(err))
    actions = migrator.repair_plan(forget_missing=args.forget_missing)
    if not actions:
        print("nothing to repair", file=out)
        return 0
    print(f"repair will change the ledger of {_target(migrator)}:", file=out)
    for action in actions:
        print(f"  - {action.description}", file=out)
    if not args.yes and not _confirm("apply these changes? [y/N] ", out):
        print("nothing changed (run with --yes to skip this question)", file=out)
        return 1
    migrator.repair(actions)
    return 0


def cmd_baseline(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    profile = load_profile(args.profile)
    migrator = Migrator(profile, ConsoleProgress(err))
    print(
        f"baseline: recording migrations up to {args.baseline_version} as applied in "
        f"{_target(migrator)} without running them",
        file=out,
    )
    chosen = migrator.baseline(args.baseline_version)
    print(f"recorded {len(chosen)} migration(s)", file=out)
    return 0


def _target(migrator: Migrator) -> str:
    return describe(migrator.db)


def _summary(status: MigrationStatus) -> str:
    counts = status.counts()
    parts = [f"{counts[str(s)]} {s}" for s in State if counts[str(s)]]
    return f"{len(status.rows)} migration(s): " + (", ".join(parts) or "none")


def _confirm(question: str, out: TextIO) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        print(f"{question}(no terminal to ask on)", file=out)
        return False
    return input(question).strip().lower() in ("y", "yes")


def cmd_drift(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from runner.db import connect
    from runner.migrations.drift import drift
    from runner.sandbox.scratch import open_scratch

    profile = load_profile(args.profile)
    migrator = Migrator(profile)  # checks that the profile has database and migrations
    timeout_s = profile.timeouts.default_s

    def say(text: str) -> None:
        print(f"drift: {text}", file=err, flush=True)

    say(f"building the applied migrations on the scratch server to compare with {_target(migrator)}")
    with (
        connect(migrator.db, timeout_s, read_timeout_s=timeout_s, read_only=True) as target,
        open_scratch(profile, say) as scratch,
    ):
        report = drift(profile, target, scratch, allow_flavor_mismatch=args.allow_flavor_mismatch)
    code = 0 if report.clean else 1
    if args.json:
        json.dump({**report.to_dict(), "exit_code": code}, out, indent=2)
        print(file=out)
        return code
    for note in report.notes:
        print(f"note: {note}", file=out)
    if report.not_compared:
        print(f"not compared: {report.not_compared}", file=out)
        return code
    for difference in report.differences:
        print(f"  {difference.message}", file=out)
    for kind, why in report.hidden.items():
        print(f"  not compared: {kind} ({why})", file=out)
    print(
        f"{len(report.differences)} difference(s) between {_target(migrator)} and its applied migrations"
        if report.differences
        else f"no drift: {_target(migrator)} is what its applied migrations build",
        file=out,
    )
    return code


def cmd_lint(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from runner.migrations.lint import lint

    profile = load_profile(args.profile)
    if profile.migrations is None:
        raise UsageError(f"{profile.path}: migrations: section is required for `deploycheck lint`")
    cfg = profile.migrations
    migrations = discover(cfg.dir, cfg.naming, cfg.placeholders, cfg.placeholder_mode)
    if args.files:
        migrations, chosen = _files_to_lint(migrations, args.files)
        findings = lint(migrations, chosen)
    elif profile.database is None:
        findings = lint(migrations, migrations.migrations)  # no database: every file, no sizes
    else:
        findings = _lint_pending(profile, migrations, err)
    blocking = [f for f in findings if f.blocks]
    if args.json:
        json.dump(
            {"findings": [f.to_dict() for f in findings], "exit_code": int(bool(blocking))}, out, indent=2
        )
        print(file=out)
    else:
        for finding in findings:
            state = f"acknowledged ({finding.acknowledged})" if finding.acknowledged else finding.severity
            print(f"{finding.file}:{finding.line}: {finding.rule} [{state}] {finding.message}", file=out)
        print(f"{len(findings)} finding(s), {len(blocking)} blocking", file=out)
    return 1 if blocking else 0


def _files_to_lint(migrations: MigrationSet, files: list[str]) -> tuple[MigrationSet, list[Migration]]:
    """Each FILE: a migration of migrations.dir (by path, or by name), or any other .sql file,
    judged as the next version after every migration of the folder (and the FILEs before it)."""
    by_path = {m.path.resolve(): m for m in migrations.migrations}
    by_name = {m.filename: m for m in migrations.migrations}
    chosen = []
    for given in files:
        path = Path(given)
        if path.is_file():
            found = by_path.get(path.resolve())
            if found is None:
                migrations, found = with_next(migrations, path, given)
        elif path.name == given and given in by_name:
            found = by_name[given]
        else:
            raise UsageError(
                f"{given}: no such file, and no migration of that name in {migrations.directory}"
            )
        chosen.append(found)
    return migrations, chosen


def _lint_pending(profile: Profile, migrations: MigrationSet, err: TextIO) -> list[Finding]:
    """The pending migrations, with the target's column types and table sizes, and each ALTER
    tried on a scratch copy of the target's schema for the ALGORITHM the server accepts."""
    from runner.db import connect
    from runner.migrations.guard import Guard
    from runner.migrations.lint import ScratchProbe, Tables, lint
    from runner.migrations.rehearsal import copy_schema
    from runner.sandbox.scratch import open_scratch

    assert profile.database is not None
    migrator = Migrator(profile)
    timeout_s = profile.timeouts.default_s
    with connect(profile.database, timeout_s, read_timeout_s=timeout_s, read_only=True) as target:
        pending = migrator.status(migrations, target).pending
        if not pending:
            print("lint: nothing pending (name files to lint applied ones)", file=err)
            return []
        with target.cursor() as cur:
            tables = Tables.from_target(cur)
        with open_scratch(profile) as scratch:
            database = scratch.create("lint", timeout_s, like=target)
            try:
                with scratch.connect(database, timeout_s) as copy:
                    guard = Guard(database, profile.database.name)
                    copy_schema(target, copy, set(migrator.ledger.tables()), 0, guard)
                    return lint(migrations, pending, tables, ScratchProbe(copy, guard))
            finally:
                scratch.drop(database, timeout_s)
