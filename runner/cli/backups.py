"""`deploycheck backups list|verify|preview|fetch|now|drill`."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from runner import PROFILE_ENV
from runner.backups.integrity import BackupCheck, check_backup
from runner.errors import UsageError

if TYPE_CHECKING:
    from runner.backups.drill import DrillResult
    from runner.backups.listing import BackupListing
    from runner.backups.source import LocalSource, SshSource
    from runner.profile.model import Profile


def cmd_backups(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.extra:
        if args.file is not None or len(args.extra) > 1 or args.extra[0].startswith("-"):
            raise UsageError(f"unrecognized arguments: {' '.join(args.extra)}")
        args.file = args.extra[0]
    given = Path(args.file) if args.file else None
    as_path = args.action in ("verify", "preview") and given is not None and given.is_file()
    if as_path and not (args.profile or os.environ.get(PROFILE_ENV)):
        return _show_backup(check_backup(given), args, out)  # no profile: no model, no pydantic
    from runner.backups.dump import take_backup
    from runner.backups.integrity import check_in_source
    from runner.backups.listing import list_backups
    from runner.backups.source import LocalSource, fetch
    from runner.db import describe
    from runner.profile.loader import load_profile

    profile = load_profile(args.profile)
    if profile.backups is None:
        raise UsageError(f"{profile.path}: backups: section is required for `deploycheck backups`")
    if args.action == "now":
        print(f"backups now: dumping {describe(profile.database)} into {profile.backups.source}", file=err)
        taken = take_backup(profile, on_wait=lambda message: print(f"backups now: {message}", file=err))
        return _print_path(taken, args.json, out)
    if as_path:  # a file fetched or renamed: checked as that file, with the profile's rules
        return _show_backup(check_backup(given, profile.backups.required_tables), args, out)
    if args.action == "drill" and given is not None and given.is_file():
        return _drill(profile, LocalSource(given.resolve().parent), given.name, args, out, err)
    listing = list_backups(profile.backups)
    if args.action == "list":
        return _print_listing(listing, args.json, out)
    if args.latest or not args.file:
        if not listing.files:
            raise UsageError(f"no backups in {listing.directory}")
        name = listing.files[-1].name
    else:
        name = args.file
        if name not in {f.name for f in listing.files} | set(listing.leftovers):
            raise UsageError(f"{name}: no such file, and no such backup in {listing.directory}")
    if args.action == "fetch":
        return _print_path(fetch(listing.source, name, args.to or Path.cwd()), args.json, out)
    if args.action == "drill":
        return _drill(profile, listing.source, name, args, out, err)
    checked = check_in_source(listing.source, name, profile.backups.required_tables)
    return _show_backup(checked, args, out)


def _drill(
    profile: Profile,
    source: LocalSource | SshSource,
    name: str,
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
) -> int:
    from runner.backups.drill import drill
    from runner.sandbox.scratch import open_scratch

    if args.rehearse and (profile.migrations is None or profile.database is None):
        raise UsageError(f"{profile.path}: --rehearse needs the database: and migrations: sections")

    def say(text: str) -> None:
        print(f"backups drill: {text}", file=err, flush=True)

    with open_scratch(profile, say) as scratch:
        result = drill(profile, source, name, scratch, keep=args.keep, rehearse=args.rehearse, say=say)
        if args.json:
            json.dump(result.to_dict(), out, indent=2)
            print(file=out)
        else:
            _print_drill(result, out)
        if result.kept:
            said = err if args.json else out  # --json keeps stdout for the JSON
            rehearsed = " (the rehearsed migrations applied)" if result.rehearsal else ""
            print(
                f"the restored copy is kept{rehearsed}: {scratch.describe(result.database)}",
                file=said,
                flush=True,
            )
            if profile.scratch == "local":
                print(
                    "the throwaway server runs until Ctrl-C, then it and the copy are removed",
                    file=said,
                    flush=True,
                )
                _wait_for_interrupt()
    return 0 if result.ok and result.rehearsal_ok else 1


def _print_drill(result: DrillResult, out: TextIO) -> None:
    from runner.cli.migrations import print_rehearsed

    print(f"{result.backup}: restored on {result.scratch} in {result.restore_s:.1f} s", file=out)
    for table, rows in sorted(result.tables.items()):
        print(f"  table {table:<32} {rows:>12,} rows", file=out)
    for finding in result.findings:
        label = "FAILED" if finding.blocking else "note"
        print(f"  {label} ({finding.kind}): {finding.message}", file=out)
    print("drill: OK" if result.ok else f"drill: FAILED ({len(result.problems())} problem(s))", file=out)
    if result.rehearsal is None:
        return
    print("rehearsal of the pending migrations on the restored copy:", file=out)
    print_rehearsed(result.rehearsal, result.not_rehearsed, out, result.tables)
    if result.rehearsal_refused:
        print(f"  FAILED  {result.rehearsal_refused}", file=out)
    elif not result.rehearsal:
        print("  nothing pending: the copy's ledger is at the newest migration on disk", file=out)
    if result.timing:
        print(f"  times {result.timing}", file=out)
    print("rehearsal: OK" if result.rehearsal_ok else "rehearsal: FAILED", file=out)


def _wait_for_interrupt() -> None:
    while True:
        time.sleep(3600)


def _print_path(path: Path | str, as_json: bool, out: TextIO) -> int:
    """The file `now` wrote or `fetch` copied; with --json as {"path": ...}."""
    print(json.dumps({"path": str(path)}) if as_json else path, file=out)
    return 0


def _print_listing(listing: BackupListing, as_json: bool, out: TextIO) -> int:
    from runner.backups.listing import fmt

    if as_json:
        json.dump(
            {
                "directory": str(listing.directory),
                "files": [f.to_dict() for f in listing.files],
                "latest": listing.latest,
                "leftovers": listing.leftovers,
                "writing": listing.writing,
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
    for name in listing.writing:
        print(f"  {name}: being written by a backup run (changed within minutes), not judged yet", file=out)
    print(f"{len(listing.files)} backup(s) in {listing.directory}", file=out)
    return 0


def _show_backup(checked: BackupCheck, args: argparse.Namespace, out: TextIO) -> int:
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
