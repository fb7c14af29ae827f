"""`deploycheck demo`: the whole product on a built-in target of real local servers."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr

from runner import bundled
from runner.cli.migrations import ConsoleProgress
from runner.errors import MigrationFailed, UsageError
from runner.migrations.engine import Migrator
from runner.profile.loader import load_profile
from runner.sandbox.target import FAULTS, DemoTarget
from runner.suite.run import run_checks


def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.list_faults:
        width = max(map(len, FAULTS))
        for name, description in FAULTS.items():
            print(f"  {name:<{width}}  {description}", file=out)
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
        profile_path = bundled("profiles") / "demo.yml"
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
        code = run_checks(
            str(profile_path), strict=False, reports_root=args.reports, pytest_args=args.extra, out=out
        )
        if args.keep:
            for name, value in target.environment.items():
                print(f"export {name}={value}", file=out)
            print(
                "the demo target keeps running; `deploycheck verify --profile demo` checks it again. "
                "Ctrl-C (or SIGTERM) stops it and removes everything it made.",
                file=out,
                flush=True,
            )
            _wait_for_interrupt()
        return code
    finally:
        target.stop()  # also on Ctrl-C and SIGTERM (the CLI turns it into an interrupt)
        shutil.rmtree(root, ignore_errors=True)  # it holds the demo's secrets too


def _wait_for_interrupt() -> None:
    while True:
        time.sleep(3600)
