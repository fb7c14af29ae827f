"""The report archive: reports/<profile>/<UTC timestamp>/, history.jsonl and index.html."""

from __future__ import annotations

import errno
import fcntl
import itertools
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.atomic import write_atomically


def staging_dir(root: Path, profile: str) -> Path:
    """A hidden folder the run writes its reports into; `publish` gives it its name, so a run
    folder always holds a complete report or does not exist."""
    base = root / profile
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".run-", dir=base))


def discard(staged: Path) -> None:
    shutil.rmtree(staged, ignore_errors=True)


def publish(staged: Path, report: dict[str, Any]) -> Path:
    """Name the run's folder by its UTC start time (the time report.json and the index show),
    then add it to history.jsonl and index.html; concurrent runs each get a folder and a line."""
    started = datetime.fromisoformat(report["started_at"].replace("Z", "+00:00"))
    stamp = started.astimezone(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    base = staged.parent
    for n in itertools.count(1):
        final = base / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            staged.rename(final)  # atomic; fails when another run took the name
            break
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    with _locked(base):
        _append_history(final, report)
        write_atomically(base / "index.html", render_index(base.name, read_history(base)))
    return final


@contextmanager
def _locked(base: Path) -> Iterator[None]:
    with (base / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _append_history(run_dir: Path, report: dict[str, Any]) -> None:
    line = {
        "run": run_dir.name,
        "started_at": report["started_at"],
        "finished_at": report["finished_at"],
        "outcome": report["outcome"],
        "exit_code": report["exit_code"],
        "reason": ended_why(report),
        "summary": report["summary"],
        "attention": [
            {"id": c["id"], "outcome": c["outcome"]}
            for c in report["checks"]
            if c["outcome"] in ("failed", "error", "warned")
        ],
    }
    with (run_dir.parent / "history.jsonl").open("a", encoding="utf-8") as history:
        history.write(json.dumps(line) + "\n")


def ended_why(report: dict[str, Any]) -> str:
    """Why a run ended in error, in words ("" for a run that was judged)."""
    if report.get("unreachable"):
        return "target unreachable: " + ", ".join(report["unreachable"])
    if report.get("interrupted"):
        return "interrupted"
    return ""


def read_history(profile_dir: Path) -> list[dict[str, Any]]:
    path = profile_dir / "history.jsonl"
    if not path.exists():
        return []
    runs = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            runs.append(json.loads(raw))
        except json.JSONDecodeError:
            continue  # a line cut by a crash mid-write; the runs around it still count
    return runs


COUNTED = ("passed", "failed", "warned", "skipped", "waived", "errors")


def render_index(profile: str, runs: list[dict[str, Any]]) -> str:
    """The archive's index page, newest run first; failures before warnings in each row."""
    from runner.report.html import render

    for run in runs:  # runs recorded before these keys existed have none
        run.setdefault("attention", [])
        run["attention"].sort(key=lambda c: c["outcome"] == "warned")
    return render("index.html.j2", profile=profile, runs=runs, counted=COUNTED)
