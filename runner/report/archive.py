"""The report archive: reports/<profile>/<UTC timestamp>/, history.jsonl and index.html."""

from __future__ import annotations

import errno
import fcntl
import itertools
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
        _refresh_pages(base)
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
    """Every archived run, oldest first."""
    path = profile_dir / "history.jsonl"
    return _parse(path.read_bytes().splitlines()) if path.exists() else []


def _parse(lines: list[bytes]) -> list[dict[str, Any]]:
    runs = []
    for raw in lines:
        try:
            run = json.loads(raw)
        except ValueError:
            continue  # a line cut by a crash mid-write; the runs around it still count
        if isinstance(run, dict):  # JSON that is no object is no run either
            runs.append(run)
    return runs


PAGE = 100  # runs per page of the index
COUNTED = ("passed", "failed", "warned", "skipped", "waived", "errors")


def _refresh_pages(base: Path) -> None:
    """index.html shows the newest PAGE runs and links the pages of older ones. A page is written
    once, when it fills up: a run rewrites index.html and at most one page, however long the
    history (an hourly cron for a year is 9,000 runs)."""
    total, newest = newest_runs(base, PAGE)
    full = total // PAGE
    if total and total % PAGE == 0:
        _write_page(base, full, newest, full)
    write_atomically(base / "index.html", render_index(base.name, newest, full, total))


def newest_runs(base: Path, count: int) -> tuple[int, list[dict[str, Any]]]:
    """(how many runs the history holds, the newest `count` of them, oldest first), read from
    the end of history.jsonl: as fast with 10,000 runs as with ten."""
    path = base / "history.jsonl"
    data = path.read_bytes() if path.exists() else b""
    total = data.count(b"\n")
    tail = data.rsplit(b"\n", count + 1)[-count - 1 :] if total else []
    return total, _parse(tail)[-count:]


def _write_page(base: Path, number: int, runs: list[dict[str, Any]], pages: int) -> None:
    (base / "pages").mkdir(exist_ok=True)
    html = render_index(base.name, runs, pages, None, page=number)
    write_atomically(base / "pages" / f"page-{number:05d}.html", html)


def rebuild_pages(base: Path) -> None:
    """Every page anew (after prune rewrote the history)."""
    runs = read_history(base)
    pages = base / "pages"
    if pages.is_symlink():  # planted: removed, never followed (the pages would land where it points)
        pages.unlink()
    shutil.rmtree(pages, ignore_errors=True)
    full = len(runs) // PAGE
    for number in range(1, full + 1):
        _write_page(base, number, runs[(number - 1) * PAGE : number * PAGE], full)
    write_atomically(base / "index.html", render_index(base.name, runs[-PAGE:], full, len(runs)))


def render_index(
    profile: str, runs: list[dict[str, Any]], pages: int, total: int | None, page: int | None = None
) -> str:
    """One page of the archive's index, newest run first; failures before warnings in each row.
    `pages` complete pages of older runs are linked; `page` is this page's number (None: the index)."""
    from runner.report.html import render

    return render(
        "index.html.j2",
        profile=profile,
        runs=[row for row in map(_row, runs) if row is not None],
        counted=COUNTED,
        pages=pages,
        page=page,
        total=total,
        per_page=PAGE,
        root="../" if page else "",
    )


@dataclass(frozen=True)
class Pruned:
    removed: list[str]
    kept: int
    skipped: list[str]  # history lines that name no run folder of this archive (left as they are)


RUN_NAME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z(?:-\d+)?")  # what `publish` names a run


def run_folders(base: Path) -> set[str]:
    """The run folders of an archive, found by name (never a path read from a file)."""
    return {
        entry.name
        for entry in os.scandir(base)
        if RUN_NAME.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
    }


def prune(
    base: Path, keep: int | None = None, keep_days: float | None = None, now: datetime | None = None
) -> Pruned:
    """Remove old runs: all but the newest `keep`, or those older than `keep_days`; never the
    newest passing and the newest failing run (what a reader compares against). Only run folders
    found in `base` by name are removed; a history line naming anything else is skipped (anyone
    who can write history.jsonl must not choose what prune deletes)."""
    now = now or datetime.now(UTC)
    with _locked(base):
        lines = read_history(base)
        runs = [run for run in lines if _is_run(run)]
        skipped = [_shown(line) for line in lines if not _is_run(line)]
        stay: set[int] = set()
        if keep is not None:
            stay.update(range(max(0, len(runs) - keep), len(runs)))
        if keep_days is not None:
            limit = now - timedelta(days=keep_days)
            stay.update(i for i, run in enumerate(runs) if _started(run) >= limit)
        for outcome in (("passed",), ("failed", "error")):
            last = max((i for i, run in enumerate(runs) if run.get("outcome") in outcome), default=None)
            if last is not None:
                stay.add(last)
        removed = [run["run"] for i, run in enumerate(runs) if i not in stay]
        folders = run_folders(base)
        for name in removed:
            if name in folders:
                shutil.rmtree(base / name, ignore_errors=True)
        gone = {id(run) for i, run in enumerate(runs) if i not in stay}
        kept = [line for line in lines if id(line) not in gone]  # skipped lines stay where they were
        write_atomically(base / "history.jsonl", "".join(json.dumps(line) + "\n" for line in kept))
        rebuild_pages(base)
    return Pruned(removed, len(kept) - len(skipped), skipped)


def _row(run: Any) -> dict[str, Any] | None:
    """A history line as the index shows it, None for one that names no run as publish names it
    (a link of someone else's choosing: history.jsonl may be writable by others). Runs recorded
    before `attention` existed have none; failures come before warnings."""
    if not _is_run(run):
        return None
    attention = run.get("attention") if isinstance(run.get("attention"), list) else []
    checks = [c for c in attention if isinstance(c, dict) and isinstance(c.get("id"), str)]
    return {
        **run,
        "summary": run["summary"] if isinstance(run.get("summary"), dict) else {},
        "attention": sorted(checks, key=lambda c: c.get("outcome") == "warned"),
    }


def _shown(line: Any) -> str:
    """What a skipped history line names, for the message (short; it may be anything)."""
    return repr(line.get("run") if isinstance(line, dict) else line)[:80]


def _is_run(line: Any) -> bool:
    """A history line prune may act on: a run named as `publish` names it, with a start time."""
    if not (isinstance(line, dict) and isinstance(line.get("run"), str) and RUN_NAME.fullmatch(line["run"])):
        return False
    try:
        _started(line)
    except (KeyError, TypeError, AttributeError, ValueError):
        return False
    return True


def _started(run: dict[str, Any]) -> datetime:
    """When a run started; a hand-written time without a zone is read as UTC (publish writes Z)."""
    started = datetime.fromisoformat(run["started_at"].replace("Z", "+00:00"))
    return started if started.tzinfo else started.replace(tzinfo=UTC)
