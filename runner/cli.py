"""`deploycheck`: the command line. Parses arguments, calls runner/, maps errors to exit codes."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr

from runner import __version__
from runner.backup_now import take_backup
from runner.backup_verify import check_backup
from runner.backups import BackupListing, fmt, list_backups
from runner.db import describe
from runner.errors import DeploycheckError, MigrationFailed, UsageError
from runner.migrate import Migrator, Progress
from runner.migration_files import Migration
from runner.migration_status import MigrationStatus, State
from runner.profile_loader import PROFILE_ENV, load_profile
from runner.sandbox import FAULTS, ROOT, DemoTarget
from runner.sqlsplit import Statement
from runner.verify import verify

DEMO_PROFILE = ROOT / "profiles" / "demo.yml"

EXIT_CODES = """exit codes:
  0  all good
  1  findings (pending, failed or changed migrations, a failed check, ...)
  2  bad invocation or invalid profile
  3  the target could not be reached
"""


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
        self._say(f"      done in {elapsed_s:.2f} s ({statements} statements)")


def _profile_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        "-p",
        metavar="P",
        help=f"profile name (profiles/P.yml) or path; default ${PROFILE_ENV}",
    )


def _reports_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reports",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="archive root (default: ./reports)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deploycheck",
        description="Verify a MySQL-backed deployment, apply its migrations safely, archive the report.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"deploycheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "migrate",
        help="apply pending migrations (locked, tracked, checksummed)",
        description="Apply pending migrations in order under a database lock. Writes to the target database.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _profile_arg(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list pending migrations and print the exact statements; write nothing",
    )
    p.add_argument("--to", metavar="VERSION", help="stop after this version")
    p.add_argument(
        "--no-backup",
        action="store_true",
        help="do not take a backup first (one is taken when the profile has backups)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser(
        "status",
        help="applied / pending / failed / changed / missing migrations",
        description="Compare migration files with the ledger. Read-only.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _profile_arg(p)
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "repair",
        help="delete failed ledger rows, accept changed checksums",
        description="Make the ledger agree with the files after a failure was "
        "handled by hand. Writes to the ledger; asks first.",
    )
    _profile_arg(p)
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--forget-missing", action="store_true", help="also delete ledger rows whose migration file is gone"
    )
    p.set_defaults(func=cmd_repair)

    p = sub.add_parser(
        "baseline",
        help="record migrations up to VERSION as applied without running them",
        description="Adopt an existing database: record every migration up to VERSION "
        "as applied, without running it. Writes to the ledger.",
    )
    _profile_arg(p)
    p.add_argument("--version", required=True, metavar="V", dest="baseline_version")
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser(
        "verify",
        help="run the checks against a target and archive the reports",
        description="Run the production checks (checks/) against the profile's target, read-only, and "
        "write report.html, report.json and junit.xml into reports/<profile>/<UTC time>/. Options "
        "this command does not know are passed to pytest (e.g. -k database -x).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _profile_arg(p)
    p.add_argument("--strict", action="store_true", help="failed warnings fail the run too")
    _reports_arg(p)
    p.set_defaults(func=cmd_verify, passes_through=True)

    p = sub.add_parser(
        "backups",
        help="list, verify and preview backups; take one now",
        description="Backups in the profile's backups.source. list: every file with its kind, database "
        "and time; verify FILE|--latest: gzip CRC and length, dump header and footer, views, required "
        "tables; preview FILE: what a restore would create, with exact row counts (no database needed); "
        "now: dump the database into the folder (writes there).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=["list", "verify", "preview", "now"])
    p.add_argument("file", nargs="?", metavar="FILE", help="a backup's name in the folder, or a path")
    _profile_arg(p)
    p.add_argument("--latest", action="store_true", help="verify or preview the newest backup")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(func=cmd_backups)

    p = sub.add_parser(
        "demo",
        help="the whole thing on a built-in target of real local servers",
        description="Start a throwaway MariaDB and a health endpoint shaped like a small production "
        "deployment, apply the sample migrations, then verify it and archive the report in "
        "reports/demo/. With --break FAULT the target is broken in one way first.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--break", dest="fault", metavar="FAULT", help="break the target in this way (see --list-faults)"
    )
    p.add_argument("--list-faults", action="store_true", help="list the faults --break knows")
    p.add_argument("--keep", action="store_true", help="keep the target running afterwards, until Ctrl-C")
    _reports_arg(p)
    p.set_defaults(func=cmd_demo, passes_through=True)
    return parser


def cmd_migrate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    profile = load_profile(args.profile)
    progress = ConsoleProgress(err, quiet=args.quiet)
    migrator = Migrator(profile, progress)
    if args.dry_run:
        plan, migrations = migrator.dry_run(args.to)
        print(f"dry run: {len(plan)} pending migration(s); nothing will be written", file=out)
        for migration in plan:
            print(f"\n-- {migration.filename}", file=out)
            for statement in migrations.statements(migration):
                print(f"-- statement {statement.number}, line {statement.line}", file=out)
                print(f"{statement.text};", file=out)
        return 0
    progress.info(f"migrate: applying pending migrations to {_target(migrator)}")
    if not args.no_backup and migrator.dry_run(args.to)[0]:
        if profile.backups is None:
            progress.info("no backups section in the profile: migrating without taking a backup first")
        else:
            progress.info(f"taking a backup into {profile.backups.source} first (--no-backup skips it) ...")
            progress.info(f"backup written: {take_backup(profile)}")
    result = migrator.migrate(args.to)
    if not result.applied:
        progress.info("nothing to apply: the database is up to date")
    else:
        progress.info(f"applied {len(result.applied)} migration(s)")
    if result.remaining:
        progress.info(f"{result.remaining} migration(s) still pending (after --to {args.to})")
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


def cmd_verify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return verify(
        args.profile, strict=args.strict, reports_root=args.reports, pytest_args=args.extra, out=out
    )


def cmd_backups(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.action in ("verify", "preview") and args.file and Path(args.file).is_file() and not args.profile:
        return _show_backup(Path(args.file), [], args, out)
    profile = load_profile(args.profile)
    if profile.backups is None:
        raise UsageError(f"{profile.path}: backups: section is required for `deploycheck backups`")
    if args.action == "now":
        print(f"backups now: dumping {describe(profile.database)} into {profile.backups.source}", file=err)
        print(take_backup(profile), file=out)
        return 0
    listing = list_backups(profile.backups)
    if args.action == "list":
        return _print_listing(listing, args.json, out)
    if args.latest or not args.file:
        if not listing.files:
            raise UsageError(f"no backups in {listing.directory}")
        path = listing.files[-1].path
    else:
        path = Path(args.file) if Path(args.file).is_file() else listing.directory / args.file
        if not path.is_file():
            raise UsageError(f"{args.file}: no such backup in {listing.directory}")
    return _show_backup(path, profile.backups.required_tables, args, out)


def _print_listing(listing: BackupListing, as_json: bool, out: TextIO) -> int:
    if as_json:
        json.dump(
            {
                "directory": str(listing.directory),
                "files": [f.to_dict() for f in listing.files],
                "latest": listing.latest,
                "leftovers": listing.leftovers,
            },
            out,
            indent=2,
        )
        print(file=out)
        return 0
    for f in listing.files:
        when = fmt(f.taken_at) + (" (mtime)" if f.time_from == "mtime" else "")
        print(f"  {f.name:<40} {f.database or '-':<14} {f.kind:<11} {when:<28} {f.size:>12,} B", file=out)
    for db, target in listing.latest.items():
        print(f"  latest.{db}.sql.gz -> {target or 'BROKEN LINK'}", file=out)
    for name in listing.leftovers:
        print(f"  {name}: uncompressed leftover (a dump whose gzip did not finish)", file=out)
    print(f"{len(listing.files)} backup(s) in {listing.directory}", file=out)
    return 0


def _show_backup(path: Path, required: list[str], args: argparse.Namespace, out: TextIO) -> int:
    checked = check_backup(path, required)
    code = 0 if checked.is_intact else 1
    if args.json:
        json.dump(checked.to_dict(), out, indent=2)
        print(file=out)
        return code
    print(checked.describe(), file=out)
    for warning in checked.warnings:
        print(f"  warning: {warning}", file=out)
    if args.action == "preview":
        d = checked.dump
        print(f"  {d.header or 'unknown'} dump of server {d.server_version or 'unknown'}", file=out)
        for name, t in sorted(d.real_tables.items()):
            action = "drop+create" if t.dropped and t.created else ("create" if t.created else "data only")
            print(f"  table {name:<32} {action:<12} {t.rows:>12,} rows {t.insert_bytes:>14,} B", file=out)
        for view in sorted(d.views):
            print(f"  view  {view}", file=out)
        for kind, names in sorted(d.routines.items()):
            print(f"  {kind}: {', '.join(sorted(names))}", file=out)
    return code


def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.list_faults:
        for name, description in FAULTS.items():
            print(f"  {name:<20} {description}", file=out)
        return 0
    if args.fault is not None and args.fault not in FAULTS:
        raise UsageError(
            f"--break: unknown fault {args.fault!r}; `deploycheck demo --list-faults` lists them"
        )

    def say(text: str) -> None:
        print(f"demo: {text}", file=err, flush=True)

    root = Path(tempfile.mkdtemp(prefix="deploycheck-demo-"))
    target = DemoTarget(root, args.fault, say)
    try:
        if args.fault:
            say(f"breaking the target on purpose: {FAULTS[args.fault]}")
        target.start()
        os.environ.update(target.environment)
        profile_path = DEMO_PROFILE
        profile = load_profile(str(profile_path))
        assert profile.database is not None
        admin = profile.model_copy(
            update={
                "database": profile.database.model_copy(update={"user": "root", "password": SecretStr("")})
            }
        )
        say("applying the sample migrations as the admin user ...")
        try:
            Migrator(admin, ConsoleProgress(err)).migrate()
        except MigrationFailed as exc:
            say(f"migrate failed: {str(exc).splitlines()[0]}")
        say("writing a week of nightly backups, fradelg/mysql-cron-backup style ...")
        target.make_backups(admin.database, datetime.now(UTC))
        target.break_after_migrations()
        say("verifying the target as a read-only user ...")
        code = verify(
            str(profile_path), strict=False, reports_root=args.reports, pytest_args=args.extra, out=out
        )
        if args.keep:
            for name, value in target.environment.items():
                print(f"export {name}={value}", file=out)
            print(
                "the demo target keeps running; `deploycheck verify --profile demo` checks it again. "
                "Ctrl-C stops it.",
                file=out,
            )
            _wait_for_interrupt()
        return code
    finally:
        target.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "passes_through", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    args.extra = extra
    try:
        return args.func(args, sys.stdout, sys.stderr)
    except DeploycheckError as exc:
        print(f"deploycheck {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"deploycheck {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
