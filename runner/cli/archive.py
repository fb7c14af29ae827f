"""`deploycheck archive prune`: remove old runs from a profile's archive."""

from __future__ import annotations

import argparse
from typing import TextIO

from runner.errors import UsageError
from runner.profile.loader import load_profile
from runner.report.archive import prune


def cmd_archive(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if (args.keep is None) == (args.keep_days is None):
        raise UsageError("archive prune: give exactly one of --keep N or --keep-days N")
    profile = load_profile(args.profile)
    base = args.reports / profile.name
    if not (base / "history.jsonl").is_file():
        raise UsageError(f"no archive for profile {profile.name} in {args.reports} (nothing to prune)")
    pruned = prune(base, keep=args.keep, keep_days=args.keep_days)
    if pruned.skipped:
        print(
            f"archive prune: skipped {len(pruned.skipped)} line(s) of {base / 'history.jsonl'} that name no "
            f"run folder of this archive ({', '.join(pruned.skipped[:5])}): nothing of theirs was "
            "deleted; look at who wrote them",
            file=err,
        )
    if not pruned.removed:
        print(f"archive prune: nothing to remove; {pruned.kept} run(s) kept in {base}", file=out)
        return 0
    span = f"{pruned.removed[0]} to {pruned.removed[-1]}" if len(pruned.removed) > 1 else pruned.removed[0]
    print(
        f"archive prune: removed {len(pruned.removed)} run(s) ({span}); {pruned.kept} kept in {base}",
        file=out,
    )
    return 0
