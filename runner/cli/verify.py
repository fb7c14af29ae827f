"""`deploycheck verify`: the check suite against a profile's target, archived."""

from __future__ import annotations

import argparse
from typing import TextIO

from runner.suite.run import run_checks


def cmd_verify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return run_checks(
        args.profile,
        strict=args.strict,
        reports_root=args.reports,
        pytest_args=args.extra,
        out=out,
        notify=args.notify,
        quiet=args.quiet,
        metrics=args.metrics,
    )
