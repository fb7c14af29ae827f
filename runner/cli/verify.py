"""`deploycheck verify`: the check suite against a profile's target, archived; several profiles
run at once, each in a child process of its own (runner/suite/many.py)."""

from __future__ import annotations

import argparse
from typing import TextIO

from runner.suite.run import run_checks


def cmd_verify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    profiles = args.profile or [None]
    if len(profiles) > 1:
        from runner.suite.many import run_many, targets

        child_args = [
            *(["--strict"] if args.strict else []),
            *(["--quiet"] if args.quiet else []),
            *(["--notify"] if args.notify else []),
            *args.extra,
        ]
        return run_many(
            targets(profiles),
            jobs=args.jobs,
            child_args=child_args,
            reports_root=args.reports,
            out=out,
            err=err,
            quiet=args.quiet,
            metrics=args.metrics,
        )
    return run_checks(
        profiles[0],
        strict=args.strict,
        reports_root=args.reports,
        pytest_args=args.extra,
        out=out,
        notify=args.notify,
        quiet=args.quiet,
        metrics=args.metrics,
    )
