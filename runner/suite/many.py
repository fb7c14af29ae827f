"""`deploycheck verify` of several targets at once.

Each target runs in a child `deploycheck verify --profile X` of its own: pytest keeps global state
(plugins, config, capture), so two runs cannot share one interpreter. At most `jobs` children run
at a time; each one's output is kept until it ends, then shown whole, so targets never interleave.
The exit code is the worst of theirs (`overall`).

SIGINT, SIGTERM, SIGHUP and SIGQUIT are held while the children run and taken only where the loop
waits for them: a child is never half-started or half-reaped when one arrives. Then every child
still running gets one SIGTERM, archives its interrupted run and removes its staging folder, as
a single `verify` does, and the parent waits for all of them before it says so (exit 130). A
parent that dies without that (SIGKILL, a crash) leaves no child probing the target unsupervised:
on Linux each child asked the kernel for a SIGTERM when its parent dies (`die_with`).
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

import runner
from runner.errors import UsageError
from runner.profile.loader import load_profile
from runner.profile.model import Profile
from runner.report.metrics import write_textfile
from runner.suite.run import verdict

STOP = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
WORDS = {0: "PASSED", 1: "FAILED", 2: "NO VERDICT", 3: "UNREACHABLE", 130: "INTERRUPTED"}
KINDS = {0: "passed", 2: "no verdict", 3: "unreachable", 130: "interrupted"}  # else: failed
# The child's own line naming its archived run (runner/suite/run.py prints it, also with --quiet).
REPORT_LINE = re.compile(r"^report: (.+)/report\.html \(beside it", re.MULTILINE)
# `python -m runner` would import a `runner` folder in the working directory first (an app's own
# package of that name): -P leaves the working directory out, the path appended finds this one.
# Its first act is `die_with` the parent whose pid follows (not in preexec_fn: unsafe with threads).
CHILD = (
    "import sys; sys.path.append(sys.argv.pop(1)); from runner.suite.many import die_with;"
    " die_with(int(sys.argv.pop(1))); from runner.cli import main; sys.exit(main())"
)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class Target:
    """One profile's child run: its output, kept unseen until it ends, and what it archived."""

    profile: Profile
    proc: subprocess.Popen[bytes] | None = None
    stdout: IO[bytes] = field(default_factory=tempfile.TemporaryFile)  # unlinked: nothing in /tmp
    stderr: IO[bytes] = field(default_factory=tempfile.TemporaryFile)
    report: dict[str, Any] | None = None
    report_path: Path | None = None

    @property
    def code(self) -> int | None:
        """The child's exit code; one killed by a signal counts as a failure."""
        if self.proc is None or self.proc.returncode is None:
            return None
        return self.proc.returncode if self.proc.returncode >= 0 else 1

    def line(self) -> str:
        """The target's summary line: its verdict and where its report is."""
        if self.code is None:
            return f"  {self.profile.name}: NOT RUN (stopped before it started)"
        said = (
            verdict(self.report)
            if self.report is not None and self.report["exit_code"] == self.code
            else f"{WORDS.get(self.code, 'FAILED')} (exit {self.code})"
        )
        where = f"report: {self.report_path}" if self.report_path else "no run was archived"
        return f"  {self.profile.name}: {said}; {where}"


def targets(specs: list[str]) -> list[Target]:
    """Every profile loaded before anything runs: one invalid profile stops them all (exit 2),
    and so does a target given twice or two profiles whose runs would share an archive folder."""
    profiles = [load_profile(spec) for spec in specs]
    seen: dict[str, Profile] = {}
    for profile in profiles:
        other = seen.setdefault(profile.name, profile)
        if other is profile:
            continue
        if other.path == profile.path:
            raise UsageError(f"{profile.path} is given twice with --profile: each target runs once")
        raise UsageError(
            f"{other.path} and {profile.path} are both named {profile.name!r}: their runs would share "
            f"the archive folder {profile.name}/; rename one of the files"
        )
    return [Target(p) for p in profiles]


def overall(codes: list[int]) -> int:
    """The worst exit code: 130 when a run was interrupted, 2 when one judged nothing (no gate
    passes on nothing), 3 only when no target could be reached, 0 only when every target passed,
    else 1."""
    if 130 in codes:
        return 130
    if 2 in codes:
        return 2
    if all(code == 3 for code in codes):
        return 3
    return 0 if all(code == 0 for code in codes) else 1


def run_many(
    todo: list[Target],
    *,
    jobs: int,
    child_args: list[str],
    reports_root: Path,
    out: TextIO,
    err: TextIO,
    quiet: bool = False,
    metrics: Path | None = None,
) -> int:
    """Run every target, `jobs` at a time, and return the worst exit code (`overall`)."""

    def say(text: str) -> None:
        if not quiet:
            print(f"deploycheck verify: {text}", file=out, flush=True)

    def show(target: Target) -> None:
        running.remove(target)
        done.append(target)
        _show(target, reports_root, out, err, quiet)

    waiting, running, done = list(todo), list[Target](), list[Target]()
    jobs = min(jobs, len(todo))
    say(f"{len(todo)} targets, {jobs} at a time")
    stopped = False
    with _signals_held() as held:
        try:
            while waiting or running:
                if waiting and len(running) < jobs:
                    while waiting and len(running) < jobs:
                        running.append(_start(waiting.pop(0), child_args, reports_root, held))
                    say(f"running {_names(running)}")
                if signal.sigtimedwait(STOP, 0.05) is not None:
                    stopped = True
                    break
                for target in [t for t in running if t.proc and t.proc.poll() is not None]:
                    show(target)
                    said = f"{WORDS.get(target.code or 0, 'FAILED')} (exit {target.code})"
                    say(f"{target.profile.name} finished ({len(done)} of {len(todo)}): {said}")
        finally:  # interrupted, or deploycheck itself failed: no child outlives it
            if running:
                say(f"{'interrupted: ' if stopped else ''}stopping {_names(running)}")
                _stop(running, say)
                for target in list(running):
                    show(target)
            for target in todo:
                target.stdout.close()
                target.stderr.close()
    print(file=out)
    for target in todo:
        print(target.line(), file=out)
    code = 130 if stopped else overall([t.code if t.code is not None else 130 for t in todo])
    print(f"deploycheck verify: {_verdict(todo, code)}", file=out)
    if metrics is not None:  # one textfile for every target (a family appears once); never started: 130
        write_textfile(metrics, [(t.profile.name, t.report, 130 if t.code is None else t.code) for t in todo])
    return code


def _names(targets: list[Target]) -> str:
    return ", ".join(t.profile.name for t in targets)


def _stop(running: list[Target], say: Callable[[str], None]) -> None:
    """One SIGTERM to each child, then wait until each has archived and cleaned up; a further
    stop signal cannot cut that short."""
    for target in running:
        assert target.proc is not None
        target.proc.send_signal(signal.SIGTERM)
    for target in running:
        assert target.proc is not None
        while target.proc.poll() is None:
            if signal.sigtimedwait(STOP, 0.1) is not None:
                say(f"still stopping {target.profile.name}: waiting for it to clean up")


def die_with(parent: int) -> None:
    """In a target's child, before anything else: on Linux, SIGTERM from the kernel when the
    parent dies (it then archives its interrupted run and cleans up, as on the parent's own
    SIGTERM). A parent already gone before that was asked (the child was handed to another) is
    an interrupt at once."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        sys.exit(130)


def _start(target: Target, child_args: list[str], reports_root: Path, held: set[int]) -> Target:
    root = str(Path(runner.__file__).resolve().parent.parent)
    command = [
        sys.executable,
        "-P",
        "-c",
        CHILD,
        root,
        str(os.getpid()),
        "verify",
        "--profile",
        str(target.profile.path),
    ]
    target.proc = subprocess.Popen(
        [*command, "--reports", str(reports_root), *child_args],
        stdout=target.stdout,
        stderr=target.stderr,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C at a terminal reaches the parent alone, which stops each once
        preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_SETMASK, held),
    )
    return target


def _show(target: Target, reports_root: Path, out: TextIO, err: TextIO, quiet: bool) -> None:
    """The target's whole output (its stderr to ours), and the run it archived."""
    assert target.proc is not None
    target.proc.wait()
    text, errors = (_read(f) for f in (target.stdout, target.stderr))
    if not quiet:
        print(f"\n=== {target.profile.name} ({target.profile.path}) ===", file=out)
        out.write(text)
    if errors:
        err.write(errors)
    out.flush()
    err.flush()
    found = REPORT_LINE.findall(text)
    if not found:
        return
    run_dir = Path(found[-1])
    try:  # its own archive folder only, whatever a check's message printed
        if run_dir.parent.resolve() != (reports_root / target.profile.name).resolve():
            return
        target.report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    target.report_path = run_dir / "report.html"


def _read(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", errors="replace")


def _verdict(todo: list[Target], code: int) -> str:
    """The overall verdict: the exit code, then how many passed and which did not, by kind."""
    kinds: dict[str, list[str]] = {}
    for target in todo:
        kind = "not run" if target.code is None else KINDS.get(target.code, "failed")
        kinds.setdefault(kind, []).append(target.profile.name)
    word = {0: "PASSED", 1: "FAILED", 130: "INTERRUPTED"}.get(code, "ERROR")
    passed = len(kinds.pop("passed", []))
    if not kinds:
        return f"{word} (exit {code}): all {len(todo)} targets passed"
    rest = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in kinds.items())
    return f"{word} (exit {code}): {passed} of {len(todo)} targets passed; {rest}"


@contextmanager
def _signals_held() -> Iterator[set[int]]:
    """SIGINT, SIGTERM, SIGHUP and SIGQUIT blocked, to be taken with sigtimedwait; yields the mask as it was, for
    the children. Signals still pending at the end were for this run: they are taken, not raised."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP)
    try:
        yield held
    finally:
        while signal.sigtimedwait(STOP, 0) is not None:
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
