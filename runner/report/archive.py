"""The report archive: reports/<profile>/<UTC timestamp>/, history.jsonl and index.html.

An archive outlives crashes and full disks, so it is read as damaged input: a history line that
does not read is skipped and counted (`History.unreadable`), never fatal, and the next append
first ends a line that a crash cut. Run folders take the process's umask (as files do), so a web
server running as another user can serve the archive when the umask lets it.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, field_validator

from runner.atomic import open_appending, write_atomically
from runner.errors import UsageError
from runner.profile.loader import PROFILE_NAME

RUN_NAME = re.compile(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ(?:-\d+)?")  # as `publish` names them


def staging_dir(root: Path, profile: str) -> Path:
    """A hidden folder the run writes its reports into; `publish` gives it its name, so a run
    folder always holds a complete report or does not exist."""
    base = root / profile
    try:
        base.mkdir(parents=True, exist_ok=True)
        while True:  # not tempfile.mkdtemp: its folders are 0700 whatever the umask says
            staged = base / f".run-{secrets.token_hex(8)}"
            try:
                staged.mkdir(mode=0o777)
                return staged
            except FileExistsError:
                continue
    except OSError as exc:  # found before the run: its report would have nowhere to go
        raise UsageError(
            f"cannot write the reports folder {base}: {exc.strerror}; give --reports a folder "
            "this user may write (in a container: a volume owned by its user)"
        ) from None


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
    with open_appending(base / ".lock") as handle:
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
    with open_appending(run_dir.parent / "history.jsonl", "a+b") as history:
        if history.tell():
            history.seek(-1, os.SEEK_END)
            if history.read(1) != b"\n":
                history.write(b"\n")  # a crash cut the last line: end it, or this line joins it
        history.write(json.dumps(line).encode() + b"\n")


def ended_why(report: dict[str, Any]) -> str:
    """Why a run ended in error, in words ("" for a run that was judged)."""
    if report.get("unreachable"):
        named = dict.fromkeys([*report["unreachable"], *report.get("also_unreachable", [])])
        return "target unreachable: " + ", ".join(named)
    if report.get("interrupted"):
        return "interrupted"
    return ""


def _a_time(value: str) -> str:
    datetime.fromisoformat(value.replace("Z", "+00:00"))  # ValueError: not a time
    return value


Stamp = Annotated[str, AfterValidator(_a_time)]  # an ISO time as report.json and history write it


class _Attention(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    outcome: str


class HistoryLine(BaseModel):
    """What a reader needs of a line of history.jsonl; a line without it is unreadable."""

    model_config = ConfigDict(extra="allow")

    run: str
    started_at: Stamp
    outcome: str
    summary: dict[str, int] = {}
    attention: list[_Attention] = []

    @field_validator("run")
    @classmethod
    def _named_as_published(cls, value: str) -> str:
        if not RUN_NAME.fullmatch(value):
            raise ValueError("not a run folder's name")
        return value


@dataclass(frozen=True)
class History:
    """Runs read from history.jsonl, oldest first, and the lines that could not be read."""

    runs: list[dict[str, Any]]
    total: int  # lines in the file, readable or not
    unreadable: list[int]  # their line numbers, from 1

    def note(self) -> str:
        """What a reader says about the lines it skipped ("" when there were none)."""
        if not self.unreadable:
            return ""
        shown = ", ".join(map(str, self.unreadable[:10])) + (", ..." if len(self.unreadable) > 10 else "")
        return (
            f"history.jsonl: {len(self.unreadable)} line(s) could not be read (cut by a crash or "
            f"damaged) and are left out: line {shown}"
        )


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


def archived_profiles(root: Path) -> list[str]:
    """The profiles an archive root holds, by name: folders (not links to folders elsewhere)
    named as a profile may be, with a history.jsonl that is a file of their own. What `serve`
    finds when it is given no --profile; nothing else under the root is ever read as a target."""
    found = []
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        history = entry / "history.jsonl"
        if (
            PROFILE_NAME.fullmatch(entry.name)
            and not entry.is_symlink()
            and entry.is_dir()
            and not history.is_symlink()
            and history.is_file()
        ):
            found.append(entry.name)
    return found


def newest_runs(base: Path, count: int | None = None) -> History:
    """The newest `count` lines of history.jsonl (all with None), read from the end of the file:
    as fast with 10,000 runs as with ten."""
    path = base / "history.jsonl"
    data = path.read_bytes() if path.exists() else b""
    body = data[:-1] if data.endswith(b"\n") else data
    total = body.count(b"\n") + 1 if body else 0
    lines = (body.rsplit(b"\n", count)[-count:] if count else body.split(b"\n")) if body else []
    first = total - len(lines) + 1
    runs, unreadable = [], []
    for number, raw in enumerate(lines, first):
        try:
            runs.append(HistoryLine.model_validate_json(raw).model_dump())
        except ValidationError:
            unreadable.append(number)
    return History(runs, total, unreadable)


PAGE = 100  # runs per page of the index
COUNTED = ("passed", "failed", "warned", "skipped", "waived", "errors")


def _refresh_pages(base: Path) -> None:
    """index.html shows the newest PAGE runs and links the pages of older ones. A page is written
    once, when it fills up: a run rewrites index.html and at most one page, however long the
    history (an hourly cron for a year is 9,000 runs)."""
    newest = newest_runs(base, PAGE)
    full = newest.total // PAGE
    if newest.total and newest.total % PAGE == 0:
        _write_page(base, full, newest.runs, full)
    write_atomically(
        base / "index.html", render_index(base.name, newest.runs, full, newest.total, note=newest.note())
    )


def _write_page(base: Path, number: int, runs: list[dict[str, Any]], pages: int) -> None:
    (base / "pages").mkdir(exist_ok=True)
    html = render_index(base.name, runs, pages, None, page=number)
    write_atomically(base / "pages" / f"page-{number:05d}.html", html)


def rebuild_pages(base: Path) -> None:
    """Every page anew (after prune rewrote the history)."""
    history = newest_runs(base)
    runs = history.runs
    pages = base / "pages"
    if pages.is_symlink():  # planted: removed, never followed (the pages would land where it points)
        pages.unlink()
    shutil.rmtree(pages, ignore_errors=True)
    full = len(runs) // PAGE
    for number in range(1, full + 1):
        _write_page(base, number, runs[(number - 1) * PAGE : number * PAGE], full)
    write_atomically(
        base / "index.html", render_index(base.name, runs[-PAGE:], full, len(runs), note=history.note())
    )


def render_index(
    profile: str,
    runs: list[dict[str, Any]],
    pages: int,
    total: int | None,
    page: int | None = None,
    note: str = "",
) -> str:
    """One page of the archive's index, newest run first; failures before warnings in each row.
    `pages` complete pages of older runs are linked; `page` is this page's number (None: the index);
    `note` says which history lines were left out."""
    from runner.report.html import render

    for run in runs:
        run["attention"].sort(key=lambda c: c["outcome"] == "warned")
    return render(
        "index.html.j2",
        profile=profile,
        runs=runs,
        counted=COUNTED,
        pages=pages,
        page=page,
        total=total,
        per_page=PAGE,
        root="../" if page else "",
        note=note,
    )


@dataclass(frozen=True)
class Pruned:
    removed: list[str]
    kept: int
    skipped: list[str]  # history lines that name no run folder of this archive (left as they are)


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
